from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.calendar import appointment_ics
from clinic.forms import CancelForm, RatingForm, RescheduleForm
from clinic.models import Appointment
from clinic.permissions import get_appointment_for_user, user_may_book_for
from clinic.selectors import appointment_rating, appointments_for_patient_pages
from clinic.services.appointments import (
    SchedulingError,
    appointment_cancel,
    appointment_reschedule,
    appointment_reschedule_refusal,
)
from clinic.services.ratings import RatingError, rating_create
from clinic.views.slot_picker import local_day_value, slot_attempt, slot_picker
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


def _rating_context(request: HttpRequest, appointment) -> dict:
    """The rating of a completed visit, or the form to give one for who may (two queries at
    most; none for a visit that is not completed)."""
    if appointment.status != Appointment.Status.COMPLETED:
        return {"rating": None, "may_rate": False, "rating_form": None}
    rating = appointment_rating(appointment)
    may_rate = rating is None and user_may_book_for(request.user, appointment.patient)
    return {
        "rating": rating,
        "may_rate": may_rate,
        "rating_form": RatingForm() if may_rate else None,
    }


def _detail_context(request: HttpRequest, appointment, **extra) -> dict:
    return {
        "appointment": appointment,
        # Offered to the patient side; the doctor moves visits by other means.
        "may_reschedule": request.user.role == Role.PATIENT
        and appointment_reschedule_refusal(appointment=appointment, by=request.user) is None,
        **_rating_context(request, appointment),
        **extra,
    }


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
        _detail_context(request, appointment, form=CancelForm()),
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
        _detail_context(request, appointment, form=form),
        status=400,
    )


@require_http_methods(["GET", "POST"])
@login_required
def appointment_reschedule_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """GET: the doctor's days with free slots and the chosen day's slots, the appointment's own
    time counting as free. POST: move it there; the service decides whether the slot is still
    free (409 when it was just taken) and whether the appointment may still move (400)."""
    appointment = get_appointment_for_user(request, public_id)
    status = 200
    day_value = request.GET.get("day") or local_day_value(appointment.start_at)
    if request.method == "POST":
        form = RescheduleForm(request.POST)
        day_value = request.POST.get("day") or day_value
        status = 400
        if form.is_valid():
            day_value = local_day_value(form.cleaned_data["start_at"])
            successor, status = slot_attempt(
                form,
                lambda: appointment_reschedule(
                    appointment=appointment,
                    by=request.user,
                    new_start_at=form.cleaned_data["start_at"],
                    request=request,
                ),
            )
            if successor is not None:
                messages.success(request, _("The appointment is moved to the new time."))
                response = redirect("appointment_detail", public_id=successor.public_id)
                response["HX-Trigger"] = "appointmentRescheduled"
                return response
            appointment.refresh_from_db()
    else:
        form = RescheduleForm()
    # A refusal that is about the appointment, not the slot, replaces the picker.
    refusal = appointment_reschedule_refusal(appointment=appointment, by=request.user)
    picker = (
        {}
        if refusal
        else slot_picker(form, appointment.doctor, day_value=day_value, moving=appointment)
    )
    return render_page(
        request,
        "clinic/reschedule.html",
        {"appointment": appointment, "form": form, "refusal": refusal, **picker},
        partials={"slots": "slots"},
        status=status,
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


@require_POST
@login_required
def appointment_rate_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Rate a completed visit. A plain POST goes back to the appointment; an HTMX one gets the
    rating region. Someone who takes part but may not rate (the doctor) gets 403 from the
    service; a visit not completed, rated already or bad stars answer 400 with the message."""
    appointment = get_appointment_for_user(request, public_id)
    form = RatingForm(request.POST)
    if form.is_valid():
        try:
            rating_create(
                appointment=appointment,
                by=request.user,
                stars=form.cleaned_data["stars"],
                review=form.cleaned_data["review"],
                request=request,
            )
        except RatingError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Thank you for rating the visit."))
            if not request.htmx:
                return redirect("appointment_detail", public_id=appointment.public_id)
            response = render_page(
                request,
                "clinic/appointment_detail.html",
                _detail_context(request, appointment, form=CancelForm()),
                partials={"rating": "rating"},
            )
            response["HX-Trigger"] = "appointmentRated"
            return response
    return render_page(
        request,
        "clinic/appointment_detail.html",
        _detail_context(request, appointment, form=CancelForm(), rating_form=form),
        partials={"rating": "rating"},
        status=400,
    )
