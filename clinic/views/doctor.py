"""The doctor's side of scheduling: the day and the week, and the actions on a visit."""

from datetime import date, timedelta
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from clinic.permissions import get_appointment_for_user, get_doctor_for_user
from clinic.selectors import doctor_agenda, doctor_week
from clinic.services.appointments import (
    SchedulingError,
    appointment_complete,
    appointment_confirm,
    appointment_mark_no_show,
)
from core.htmx import render_page
from core.models import Role
from core.permissions import role_required

# The agenda looks this far back and ahead; anything else in ?day= means today.
AGENDA_REACH = timedelta(days=5 * 366)


def _day_from_query(value: str | None) -> date:
    today = timezone.localdate()
    try:
        day = date.fromisoformat(value) if value else today
    except ValueError:
        return today
    return day if abs(day - today) <= AGENDA_REACH else today


def _agenda_page(request: HttpRequest, day: date, *, status: int = 200) -> HttpResponse:
    doctor = get_doctor_for_user(request)
    monday = day - timedelta(days=day.weekday())
    context = {
        "day": day,
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "agenda": list(doctor_agenda(doctor, day)),
        "week": doctor_week(doctor, monday),
        "now": timezone.now(),
    }
    return render_page(
        request,
        "clinic/agenda.html",
        context,
        partials={"agenda-day": "agenda_day", "agenda-week": "agenda_week"},
        status=status,
    )


@require_GET
@role_required(Role.DOCTOR)
def agenda(request: HttpRequest) -> HttpResponse:
    """One day of the doctor's appointments (today unless ?day=), and the week around it."""
    return _agenda_page(request, _day_from_query(request.GET.get("day")))


ACTIONS = {
    "confirm": (appointment_confirm, _("Appointment confirmed.")),
    "complete": (appointment_complete, _("Visit marked as completed.")),
    "no-show": (appointment_mark_no_show, _("Marked as no-show.")),
}


@require_POST
@role_required(Role.DOCTOR)
def appointment_action(request: HttpRequest, public_id: UUID, action: str) -> HttpResponse:
    """Confirm, complete or mark a no-show. Another doctor's visit is 404; an action the
    visit's state forbids re-renders the agenda with the reason and status 400."""
    appointment = get_appointment_for_user(request, public_id)
    day = timezone.localtime(appointment.start_at).date()
    service, done = ACTIONS[action]
    try:
        service(appointment=appointment, by=request.user)
    except SchedulingError as error:
        messages.error(request, error.message)
        return _agenda_page(request, day, status=400)
    messages.success(request, done)
    response = redirect(f"{reverse('doctor_agenda')}?day={day.isoformat()}")
    response["HX-Trigger"] = "appointmentChanged"
    return response
