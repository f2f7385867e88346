"""Emergency ("break-the-glass") access and the patient's access log.

Doctors find a patient they do not treat and open emergency access after reauthenticating;
admins review each use; patients (and whoever reads their records for them) see who viewed
their records.
"""

from uuid import UUID

from allauth.account.decorators import reauthentication_required
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.models import BreakGlassAccess, Doctor, Patient
from clinic.permissions import (
    Capability,
    break_glass_active,
    doctor_treats,
    get_patient_for_emergency,
    get_patient_for_user,
    get_verified_doctor_for_user,
    patients_user_may_read_records_of,
)
from clinic.selectors import access_log_events, break_glass_uses, patients_matching
from clinic.services.break_glass import (
    REASON_MAX_LENGTH,
    REASON_MIN_LENGTH,
    BreakGlassError,
    break_glass_open,
    break_glass_review,
)
from core.htmx import render_page
from core.models import AuditEvent, Role
from core.permissions import role_required
from core.services import audit_record

PAGE_SIZE = 25
MAX_SEARCH_RESULTS = 10


# --- Forms ---------------------------------------------------------------------------------------


class PatientFindForm(forms.Form):
    national_id = forms.CharField(label=gettext_lazy("National id"), max_length=64, required=False)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=150, required=False)
    date_of_birth = forms.DateField(
        label=gettext_lazy("Date of birth"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("national_id", "").strip():
            return data
        if not (data.get("name", "").strip() and data.get("date_of_birth")):
            raise forms.ValidationError(
                _("Enter the national id, or the name together with the date of birth.")
            )
        return data


class BreakGlassForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason for emergency access"),
        min_length=REASON_MIN_LENGTH,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy(
            "Say why you need these records now, for example the emergency you are treating."
        ),
    )


class BreakGlassReviewForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Review note"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


# --- Helpers -----------------------------------------------------------------------------------


def _who(event: AuditEvent, viewer) -> str:
    actor = event.actor
    if actor is None:
        return _("Hospital staff")
    if actor.pk == viewer.pk:
        return _("You")
    if actor.role == Role.DOCTOR:
        return _("Dr %(name)s") % {"name": actor.get_full_name() or actor.email}
    if actor.role == Role.PATIENT:
        return actor.get_full_name() or actor.email
    return _("Hospital staff")


# --- Doctors: find a patient, open emergency access ----------------------------------------------


@require_GET
@role_required(Role.DOCTOR)
def patient_find(request: HttpRequest) -> HttpResponse:
    """Find a patient the doctor may not know (an unconscious arrival): by national id, or by
    name and date of birth. Results show only the name and the year of birth; each search is
    audited."""
    doctor = get_verified_doctor_for_user(request)
    form = PatientFindForm(request.GET or None)
    results = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            data = form.cleaned_data
            found = list(
                patients_matching(
                    national_id=data["national_id"].strip(),
                    name=data["name"].strip(),
                    date_of_birth=data["date_of_birth"],
                )[: MAX_SEARCH_RESULTS + 1]
            )
            results = [
                {
                    "public_id": patient.public_id,
                    "name": f"{patient.first_name} {patient.last_name}".strip(),
                    "birth_year": patient.date_of_birth.year if patient.date_of_birth else None,
                }
                for patient in found[:MAX_SEARCH_RESULTS]
            ]
            audit_record(
                action=AuditEvent.Action.VIEW,
                actor=request.user,
                request=request,
                target=doctor,
                details={
                    "search": "patient_find",
                    "national_id": data["national_id"].strip(),
                    "name": data["name"].strip(),
                    "date_of_birth": data["date_of_birth"].isoformat()
                    if data["date_of_birth"]
                    else "",
                    "results": [str(result["public_id"]) for result in results],
                    "more": len(found) > MAX_SEARCH_RESULTS,
                },
            )
            too_many = len(found) > MAX_SEARCH_RESULTS
        else:
            status = 400
            too_many = False
    else:
        too_many = False
    return render_page(
        request,
        "clinic/break_glass_find.html",
        {"form": form, "results": results, "too_many": too_many},
        partials={"find-results": "results"},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.DOCTOR)
def emergency_access(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """GET: the warning and the reason form. POST: open emergency access, once the doctor has
    reauthenticated (allauth's own flow: password or authenticator, then back here), and go
    to the patient's records."""
    doctor = get_verified_doctor_for_user(request)
    patient = get_patient_for_emergency(public_id)
    now = timezone.now()
    treating = doctor_treats(doctor, patient, now)
    if request.method == "POST":
        if treating:
            return redirect(f"/patients/{patient.public_id}/records/")
        return _emergency_access_open(request, doctor=doctor, patient=patient)
    return render_page(
        request,
        "clinic/break_glass_open.html",
        {
            "patient": patient,
            "treating": treating,
            "active": None if treating else break_glass_active(doctor, patient, now),
            "form": BreakGlassForm(),
            "hours": settings.BREAK_GLASS_HOURS,
        },
    )


@reauthentication_required
def _emergency_access_open(request: HttpRequest, *, doctor: Doctor, patient: Patient):
    form = BreakGlassForm(request.POST)
    if form.is_valid():
        try:
            access = break_glass_open(
                doctor=doctor,
                patient=patient,
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except BreakGlassError as error:
            form.add_error(error.field, error.message)
        else:
            messages.warning(
                request,
                _(
                    "Emergency access to %(patient)s is open until %(time)s. "
                    "Every page you open is logged and will be reviewed."
                )
                % {
                    "patient": patient,
                    "time": timezone.localtime(access.expires_at).strftime("%H:%M"),
                },
            )
            # The records pages are built alongside this one; their path is stable.
            return redirect(f"/patients/{patient.public_id}/records/")
    return render_page(
        request,
        "clinic/break_glass_open.html",
        {
            "patient": patient,
            "treating": False,
            "active": None,
            "form": form,
            "hours": settings.BREAK_GLASS_HOURS,
        },
        status=400,
    )


# --- Admins: review each use ---------------------------------------------------------------------


def _review_list_page(request: HttpRequest, *, errored=None, status: int = 200) -> HttpResponse:
    page = Paginator(break_glass_uses(), PAGE_SIZE).get_page(request.GET.get("page"))
    for use in page.object_list:
        if errored is not None and use.pk == errored[0].pk:
            use.review_form = errored[1]
        else:
            use.review_form = BreakGlassReviewForm(auto_id=f"id_%s_{use.public_id}")
    return render_page(
        request,
        "clinic/break_glass_list.html",
        {"page": page, "now": timezone.now()},
        partials={"emergency-uses": "uses"},
        status=status,
    )


@require_GET
@role_required(Role.ADMIN)
def break_glass_review_list(request: HttpRequest) -> HttpResponse:
    """Every emergency access, unreviewed first, each with its review form."""
    return _review_list_page(request)


@require_POST
@role_required(Role.ADMIN)
def break_glass_review_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Review one use. HTMX gets the row back; a plain POST goes back to the list."""
    try:
        access = break_glass_uses().get(public_id=public_id)
    except BreakGlassAccess.DoesNotExist:
        raise Http404 from None
    form = BreakGlassReviewForm(request.POST, auto_id=f"id_%s_{access.public_id}")
    status = 400
    if form.is_valid():
        try:
            break_glass_review(
                access=access, by=request.user, note=form.cleaned_data["note"], request=request
            )
        except BreakGlassError as error:
            form.add_error(error.field, error.message)
            status = 409 if error.field is None else 400
        else:
            if not request.htmx:
                messages.success(request, _("Review saved."))
                return redirect("break_glass_review_list")
            response = render_page(
                request,
                "clinic/break_glass_list.html#use",
                {"use": access, "now": timezone.now()},
            )
            response["HX-Trigger"] = "breakGlassReviewed"
            return response
    if request.htmx:
        access.review_form = form
        return render_page(
            request,
            "clinic/break_glass_list.html#use",
            {"use": access, "now": timezone.now()},
            status=status,
        )
    return _review_list_page(request, errored=(access, form), status=status)


# --- Patients: who viewed my records -------------------------------------------------------------


@require_GET
@role_required(Role.PATIENT)
def access_log(request: HttpRequest) -> HttpResponse:
    """Who viewed or changed the records of the signed-in patient, or of a patient whose
    records they read for them (`?patient=<public id>`). A fixed number of queries."""
    choices = list(patients_user_may_read_records_of(request.user))
    selected = request.GET.get("patient", "")
    patient = None
    if selected:
        try:
            public_id = UUID(selected)
        except ValueError:
            raise Http404 from None
        patient, _access = get_patient_for_user(request, public_id, Capability.VIEW_RECORDS)
    elif choices:
        patient = next((c for c in choices if c.user_id == request.user.pk), choices[0])
    events = access_log_events(patient) if patient else AuditEvent.objects.none()
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    for event in page.object_list:
        event.who = _who(event, request.user)
        event.is_emergency = event.action == AuditEvent.Action.BREAK_GLASS
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "clinic/access_log.html",
        {
            "patient": patient,
            "choices": choices,
            "page": page,
            "query": query.urlencode(),
        },
        partials={"access-log": "log"},
    )
