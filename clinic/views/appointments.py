from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from clinic.calendar import appointment_ics
from clinic.forms import CancelForm
from clinic.permissions import get_appointment_for_user
from clinic.selectors import appointments_for_patient_pages
from clinic.services.appointments import SchedulingError, appointment_cancel
from core.htmx import render_page
from core.models import AuditEvent, Role
from core.permissions import role_required
from core.services import audit_record


@require_GET
@role_required(Role.PATIENT)
def appointment_list(request: HttpRequest) -> HttpResponse:
    """The user's and their dependents' appointments: upcoming first, then the past."""
    upcoming, past = appointments_for_patient_pages(request.user, now=timezone.now())
    return render_page(
        request,
        "clinic/appointment_list.html",
        {"upcoming": upcoming, "past": past},
        partials={"upcoming-appointments": "upcoming_appointments"},
    )


@require_GET
@login_required
def appointment_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    appointment = get_appointment_for_user(request, public_id)
    audit_record(
        action=AuditEvent.Action.VIEW, actor=request.user, request=request, target=appointment
    )
    return render_page(
        request,
        "clinic/appointment_detail.html",
        {"appointment": appointment, "form": CancelForm()},
    )


@require_http_methods(["POST"])
@login_required
def appointment_cancel_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    appointment = get_appointment_for_user(request, public_id)
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            appointment_cancel(
                appointment=appointment,
                by=request.user,
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except SchedulingError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The appointment is cancelled."))
            response = redirect("appointment_detail", public_id=appointment.public_id)
            response["HX-Trigger"] = "appointmentCancelled"
            return response
    appointment.refresh_from_db()
    return render_page(
        request,
        "clinic/appointment_detail.html",
        {"appointment": appointment, "form": form},
        status=400,
    )


@require_GET
@login_required
def appointment_calendar_file(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The appointment as an .ics file (METHOD:CANCEL once it is cancelled)."""
    appointment = get_appointment_for_user(request, public_id)
    method = "REQUEST" if appointment.is_active else "CANCEL"
    audit_record(
        action=AuditEvent.Action.EXPORT,
        actor=request.user,
        request=request,
        target=appointment,
        details={"format": "ics"},
    )
    response = HttpResponse(
        appointment_ics(appointment, method=method), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="appointment.ics"'
    response["Cache-Control"] = "no-store"
    return response
