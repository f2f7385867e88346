"""SOS: the patient's emergency button, a request's live status page, and the staff board.

Patients raise a request for themselves or someone they hold the SOS scope on; doctors on duty
and admins handle it on the board (acknowledge, dispatch, resolve, false alarm, cancel). Every
view of a request's emergency summary is audited with the patient.
"""

from decimal import Decimal
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.models import SOSRequest
from clinic.permissions import (
    Capability,
    SOSAccess,
    get_patient_for_user,
    get_sos_for_user,
    get_verified_doctor_for_user,
    patients_user_may_request_sos_for,
)
from clinic.selectors import (
    sos_board_closed,
    sos_board_open,
    sos_requests_of,
    sos_with_history,
)
from clinic.services.sos import (
    DESCRIPTION_MAX_LENGTH,
    PLACE_MAX_LENGTH,
    REASON_MAX_LENGTH,
    SOSError,
    doctor_set_on_duty,
    sos_acknowledge,
    sos_cancel,
    sos_dispatch,
    sos_mark_false_alarm,
    sos_raise,
    sos_resolve,
)
from core.htmx import render_page
from core.models import AuditEvent, Role
from core.permissions import role_required
from core.services import audit_record

# --- Forms ---------------------------------------------------------------------------------------


class SOSRaiseForm(forms.Form):
    patient = forms.UUIDField(
        label=gettext_lazy("Who needs help?"),
        error_messages={"required": gettext_lazy("Choose who needs help.")},
    )
    description = forms.CharField(
        label=gettext_lazy("What is happening?"),
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    place = forms.CharField(
        label=gettext_lazy("Where are you?"),
        required=False,
        max_length=PLACE_MAX_LENGTH,
        help_text=gettext_lazy("Building, floor, room, or street address."),
    )
    # Filled in by the browser when the person shares their location; optional.
    latitude = forms.CharField(required=False, widget=forms.HiddenInput)
    longitude = forms.CharField(required=False, widget=forms.HiddenInput)
    accuracy = forms.CharField(required=False, widget=forms.HiddenInput)

    def location(self) -> tuple[Decimal | None, Decimal | None, int | None]:
        """The shared coordinates, or nothing: a garbled location never stops an SOS."""
        try:
            latitude = round(float(self.cleaned_data.get("latitude") or ""), 6)
            longitude = round(float(self.cleaned_data.get("longitude") or ""), 6)
        except ValueError:
            return None, None, None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            return None, None, None
        try:
            accuracy = round(float(self.cleaned_data.get("accuracy") or ""))
            accuracy = max(0, min(accuracy, 10**6))
        except (ValueError, OverflowError):
            accuracy = None
        return Decimal(f"{latitude:.6f}"), Decimal(f"{longitude:.6f}"), accuracy


class SOSReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=REASON_MAX_LENGTH)


# --- The patient's side --------------------------------------------------------------------------


def _sos_page(request: HttpRequest, form: SOSRaiseForm, *, status: int = 200) -> HttpResponse:
    patients = list(
        patients_user_may_request_sos_for(request.user)
        .select_related("user")
        .order_by("first_name", "last_name", "pk")
    )
    own = next((patient for patient in patients if patient.user_id == request.user.pk), None)
    selected = str(form["patient"].value() or (own.public_id if own else ""))
    return render_page(
        request,
        "clinic/sos.html",
        {
            "form": form,
            "patients": patients,
            "selected": selected,
            "recent": sos_requests_of(patients_user_may_request_sos_for(request.user)),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.PATIENT)
def sos_page(request: HttpRequest) -> HttpResponse:
    """The SOS button: for oneself or someone the user may raise SOS for. A request already
    open for that patient is shown instead of a second one."""
    if request.method != "POST":
        return _sos_page(request, SOSRaiseForm())
    form = SOSRaiseForm(request.POST)
    if not form.is_valid():
        return _sos_page(request, form, status=400)
    patient, _access = get_patient_for_user(
        request, form.cleaned_data["patient"], Capability.REQUEST_SOS
    )
    latitude, longitude, accuracy = form.location()
    try:
        sos, created = sos_raise(
            by=request.user,
            patient=patient,
            description=form.cleaned_data["description"],
            place=form.cleaned_data["place"],
            latitude=latitude,
            longitude=longitude,
            accuracy_m=accuracy,
            request=request,
        )
    except SOSError as error:
        form.add_error(error.field, error.message)
        return _sos_page(request, form, status=400)
    if created:
        messages.success(request, _("Your SOS is sent. The staff on duty have been alerted."))
    else:
        messages.warning(
            request,
            _("An SOS for %(patient)s is already open. Here is where it stands.")
            % {"patient": patient},
        )
    return redirect("sos_detail", public_id=sos.public_id)


def _audit_view(request: HttpRequest, sos: SOSRequest, access: SOSAccess, **details) -> None:
    audit_record(
        action=AuditEvent.Action.VIEW,
        actor=request.user,
        request=request,
        target=sos,
        patient=sos.patient,
        acting_for_patient=access.acting_for_patient,
        details={"sos": str(sos.public_id), **details},
    )


def _detail_context(request: HttpRequest, sos: SOSRequest, access: SOSAccess, **extra) -> dict:
    return {
        "sos": sos,
        "access": access,
        "now": timezone.now(),
        "reason_max": REASON_MAX_LENGTH,
        **extra,
    }


@require_GET
@login_required
def sos_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """A request's status and history, updated live; the patient's side may cancel it while it
    is open, staff see the emergency summary and act on it."""
    sos, access = get_sos_for_user(request, public_id)
    sos = sos_with_history(sos.pk)
    _audit_view(request, sos, access, page="status")
    return render_page(
        request,
        "clinic/sos_detail.html",
        _detail_context(request, sos, access),
        partials={"sos-status": "status"},
    )


# --- Staff ---------------------------------------------------------------------------------------


def _board_context(request: HttpRequest) -> dict:
    doctor = None
    if request.user.role == Role.DOCTOR:
        doctor = get_verified_doctor_for_user(request)
    open_requests = sos_board_open(request.user)
    return {
        "doctor": doctor,
        "off_duty": doctor is not None and doctor.on_duty_since is None,
        "open_requests": open_requests,
        "closed_requests": sos_board_closed(request.user),
        "now": timezone.now(),
        "reason_max": REASON_MAX_LENGTH,
    }


@require_GET
@role_required(Role.DOCTOR, Role.ADMIN)
def sos_board(request: HttpRequest) -> HttpResponse:
    """Open requests newest first with their emergency summaries and actions, then the ones
    closed last; new alerts and changes arrive live. Each summary shown is audited."""
    context = _board_context(request)
    for sos in context["open_requests"]:
        audit_record(
            action=AuditEvent.Action.VIEW,
            actor=request.user,
            request=request,
            target=sos,
            patient=sos.patient,
            details={"sos": str(sos.public_id), "page": "board"},
        )
    return render_page(
        request, "clinic/sos_board.html", context, partials={"sos-board-lists": "lists"}
    )


@require_POST
@role_required(Role.DOCTOR)
def sos_duty(request: HttpRequest) -> HttpResponse:
    """A verified doctor goes on or off duty; back to the board, or to her home."""
    doctor = get_verified_doctor_for_user(request)
    on_duty = request.POST.get("on_duty") == "1"
    doctor_set_on_duty(doctor=doctor, on_duty=on_duty, request=request)
    if on_duty:
        messages.success(request, _("You are on duty: SOS alerts reach you now."))
    else:
        messages.success(request, _("You are off duty: SOS alerts no longer reach you."))
    return redirect("doctor_home" if request.POST.get("next") == "home" else "sos_board")


STAFF_ACTIONS = {
    "acknowledge": _("Acknowledged. The patient's page shows that you are on it."),
    "dispatch": _("Marked as help dispatched."),
    "resolve": _("Resolved."),
    "false-alarm": _("Closed as a false alarm."),
    "cancel": _("Cancelled."),
}


def _apply(action: str, sos: SOSRequest, request: HttpRequest, reason: str) -> SOSRequest:
    by = request.user
    if action == "acknowledge":
        return sos_acknowledge(sos=sos, by=by, request=request)
    if action == "dispatch":
        return sos_dispatch(sos=sos, by=by, request=request)
    if action == "resolve":
        return sos_resolve(sos=sos, by=by, note=reason, request=request)
    if action == "false-alarm":
        return sos_mark_false_alarm(sos=sos, by=by, reason=reason, request=request)
    return sos_cancel(sos=sos, by=by, reason=reason, request=request)


@require_POST
@login_required
def sos_action(request: HttpRequest, public_id: UUID, action: str) -> HttpResponse:
    """Acknowledge, dispatch, resolve, mark a false alarm (staff) or cancel (staff with a
    reason, the patient's side with an optional one). HTMX gets the request's card back; a
    plain POST goes back to the page it came from. A change the request's state refuses
    answers 409 with the reason; a missing reason 400."""
    sos, access = get_sos_for_user(request, public_id, handle=action != "cancel")
    form = SOSReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    error = None
    try:
        sos = _apply(action, sos, request, reason)
    except SOSError as refused:
        error = refused
    from_board = access.staff and request.POST.get("from") == "board"
    status = 200 if error is None else (400 if error.field else 409)
    if not request.htmx:
        if error is None:
            messages.success(request, STAFF_ACTIONS[action])
            if from_board:
                return redirect("sos_board")
            return redirect("sos_detail", public_id=sos.public_id)
        messages.error(request, error.message)
        if from_board:
            return render_page(
                request, "clinic/sos_board.html", _board_context(request), status=status
            )
        return render_page(
            request,
            "clinic/sos_detail.html",
            _detail_context(request, sos_with_history(sos.pk), access),
            status=status,
        )
    sos = sos_with_history(sos.pk)
    context = _detail_context(
        request, sos, access, error=error.message if error else "", failed_action=action
    )
    # The card swapped back keeps saying which page it sits on, for a later plain POST.
    context["from_page"] = "board" if from_board else "detail"
    if access.staff:
        return render_page(request, "clinic/sos_board.html#card", context, status=status)
    # The cancel region, and the status region out of band (the socket may be slower).
    context["oob_status"] = True
    return render_page(request, "clinic/sos_detail.html#patient_side", context, status=status)
