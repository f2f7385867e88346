"""Patient profiles and family access: one's own profile, a dependent's profile, the family
page (dependents, proxies, claims, revocation) and the emailed invitation link.

Every page reaches a patient through `get_patient_for_user` or the signed-in user's own
record; the services decide who may invite, revoke or claim.
"""

from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.models import Patient, PatientDelegate, PatientInvitation, PatientScope
from clinic.permissions import Capability, PatientAccess, get_patient_for_user, patient_access
from clinic.services.patients import (
    PROFILE_FIELDS,
    FamilyError,
    claim_accept,
    claim_invite,
    delegate_may_revoke,
    delegate_revoke,
    dependent_add,
    invitation_for_token,
    invitation_withdraw,
    may_manage_family_access,
    patient_profile_update,
    proxy_invitation_accept,
    proxy_invite,
)
from core.htmx import render_page
from core.models import AuditEvent, Role
from core.permissions import role_required
from core.services import audit_record

PROFILE_TEMPLATE = "clinic/patient_profile.html"
FAMILY_TEMPLATE = "clinic/family.html"
INVITATION_TEMPLATE = "clinic/invitation.html"
CHANGED_EVENT = "familyChanged"


class _DateInput(forms.DateInput):
    input_type = "date"


def _not_in_future(value):
    if value and value > timezone.localdate():
        raise forms.ValidationError(_("The date of birth cannot be in the future."))


class ProfileForm(forms.Form):
    """The profile fields of Patient; a delegate sees a recorded date of birth read-only."""

    def __init__(self, *args, birth_date_locked: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(
            forms.fields_for_model(
                Patient,
                fields=PROFILE_FIELDS,
                widgets={
                    "date_of_birth": _DateInput,
                    **{
                        name: forms.Textarea(attrs={"rows": 2})
                        for name in ("allergies", "chronic_conditions", "current_medications")
                    },
                },
            )
        )
        self.fields["date_of_birth"].validators.append(_not_in_future)
        self.fields["emergency_contact_phone"].widget.input_type = "tel"
        if birth_date_locked:
            self.fields["date_of_birth"].disabled = True
            self.fields["date_of_birth"].help_text = _("Only the patient can change it.")


class DependentForm(forms.Form):
    first_name = forms.CharField(label=gettext_lazy("First name"), max_length=150)
    last_name = forms.CharField(label=gettext_lazy("Last name"), max_length=150, required=False)
    date_of_birth = forms.DateField(
        label=gettext_lazy("Date of birth"), widget=_DateInput, validators=[_not_in_future]
    )
    sex = forms.ChoiceField(
        label=gettext_lazy("Sex"), choices=Patient.Sex.choices, initial=Patient.Sex.UNKNOWN
    )
    relationship = forms.ChoiceField(
        label=gettext_lazy("They are my"), choices=PatientDelegate.Relationship.choices
    )


class _ManagedPatientForm(forms.Form):
    """A form about one of the patients the user decides access for (by public id)."""

    patient = forms.TypedChoiceField(label=gettext_lazy("For"), coerce=UUID)

    def __init__(self, *args, patients=(), user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].choices = [
            (str(p.public_id), _("Myself") if p.user_id == user.pk else str(p)) for p in patients
        ]


class ProxyInviteForm(_ManagedPatientForm):
    email = forms.EmailField(label=gettext_lazy("Their email address"))
    relationship = forms.ChoiceField(
        label=gettext_lazy("They are the patient's"),
        choices=PatientDelegate.Relationship.choices,
        initial=PatientDelegate.Relationship.OTHER,
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("They may"),
        choices=PatientScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[PatientScope.VIEW, PatientScope.BOOK],
    )


class ClaimInviteForm(_ManagedPatientForm):
    email = forms.EmailField(label=gettext_lazy("Their own email address"))


class ClaimAcceptForm(forms.Form):
    date_of_birth = forms.DateField(label=gettext_lazy("Your date of birth"), widget=_DateInput)


def _own_patient(request: HttpRequest) -> Patient:
    patient = Patient.objects.filter(user=request.user).first()
    if patient is None:
        raise Http404
    return patient


def _add_error(form: forms.Form, error: FamilyError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


# --- Profiles -----------------------------------------------------------------------------------


def _profile_page(
    request: HttpRequest,
    patient: Patient,
    access: PatientAccess,
    *,
    form: ProfileForm | None = None,
    status: int = 200,
) -> HttpResponse:
    may_change = access.may(Capability.CHANGE_PROFILE)
    if form is None and may_change:
        form = ProfileForm(
            initial={name: getattr(patient, name) for name in PROFILE_FIELDS},
            birth_date_locked=_birth_date_locked(patient, access),
        )
    context = {"patient": patient, "access": access, "form": form, "may_change": may_change}
    return render_page(
        request,
        PROFILE_TEMPLATE,
        context,
        partials={"profile-form": "profile_form"},
        status=status,
    )


def _birth_date_locked(patient: Patient, access: PatientAccess) -> bool:
    return not access.is_self and patient.date_of_birth is not None


def _profile_view(request: HttpRequest, patient: Patient, access: PatientAccess) -> HttpResponse:
    """GET shows (audited as a read), POST saves through the service."""
    if request.method == "GET":
        audit_record(
            action=AuditEvent.Action.VIEW,
            actor=request.user,
            request=request,
            target=patient,
            patient=patient,
            acting_for_patient=access.acting_for_patient,
        )
        return _profile_page(request, patient, access)
    form = ProfileForm(request.POST, birth_date_locked=_birth_date_locked(patient, access))
    form.fields["date_of_birth"].initial = patient.date_of_birth
    if form.is_valid():
        try:
            changed = patient_profile_update(
                patient=patient, by=request.user, data=form.cleaned_data, request=request
            )
        except FamilyError as error:
            _add_error(form, error)
        else:
            messages.success(
                request, _("Profile saved.") if changed else _("Nothing to save: no changes.")
            )
            if request.htmx and not request.htmx.boosted:
                patient.refresh_from_db()
                response = _profile_page(request, patient, access)
            else:
                response = redirect(request.path)
            response["HX-Trigger"] = "profileChanged"
            return response
    return _profile_page(request, patient, access, form=form, status=400)


@require_http_methods(["GET", "POST"])
@role_required(Role.PATIENT)
def patient_profile(request: HttpRequest) -> HttpResponse:
    """The signed-in patient's own profile."""
    patient = _own_patient(request)
    return _profile_view(request, patient, patient_access(request.user, patient))


@require_http_methods(["GET", "POST"])
@login_required
def patient_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Someone's profile for whoever may see it (a parent, a proxy, a treating doctor);
    saving needs CHANGE_PROFILE (403 otherwise)."""
    capability = Capability.CHANGE_PROFILE if request.method == "POST" else Capability.VIEW_PROFILE
    patient, access = get_patient_for_user(request, public_id, capability)
    return _profile_view(request, patient, access)


# --- Family -------------------------------------------------------------------------------------


def _managed_patients(user) -> list[Patient]:
    """The patients whose family access the user decides: themself, and the dependents
    without a login of their own they are guardian of."""
    own = list(Patient.objects.filter(user=user))
    guarded = Patient.objects.filter(
        user__isnull=True,
        delegates__user=user,
        delegates__kind=PatientDelegate.Kind.GUARDIAN,
        delegates__revoked_at__isnull=True,
    ).order_by("first_name")
    return own + list(guarded)


def _family_page(
    request: HttpRequest,
    *,
    dependent_form: DependentForm | None = None,
    proxy_form: ProxyInviteForm | None = None,
    claim_form: ClaimInviteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    managed = _managed_patients(user)
    claimable = [patient for patient in managed if patient.user_id is None]
    my_delegations = (
        PatientDelegate.objects.filter(user=user, revoked_at__isnull=True)
        .select_related("patient")
        .order_by("patient__first_name")
    )
    acting_for_managed = list(
        PatientDelegate.objects.filter(patient__in=managed, revoked_at__isnull=True)
        .exclude(user=user)
        .select_related("patient", "user")
        .order_by("patient__first_name", "granted_at")
    )
    for delegate in acting_for_managed:
        delegate.scope_labels = [
            PatientScope(scope).label for scope in delegate.scopes if scope in PatientScope.values
        ]
    pending = PatientInvitation.objects.filter(
        patient__in=managed,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("patient")
    context = {
        "my_delegations": my_delegations,
        "acting_for_managed": acting_for_managed,
        "pending_invitations": pending,
        "dependent_form": dependent_form or DependentForm(),
        "proxy_form": proxy_form or ProxyInviteForm(patients=managed, user=user),
        "claim_form": claim_form or ClaimInviteForm(patients=claimable, user=user),
        "has_claimable": bool(claimable),
    }
    return render_page(
        request, FAMILY_TEMPLATE, context, partials={"family": "family"}, status=status
    )


def _family_changed(request: HttpRequest, message: str) -> HttpResponse:
    messages.success(request, message)
    if request.htmx and not request.htmx.boosted:
        response = _family_page(request)
    else:
        response = redirect("family")
    response["HX-Trigger"] = CHANGED_EVENT
    return response


@require_GET
@role_required(Role.PATIENT)
def family(request: HttpRequest) -> HttpResponse:
    """My dependents, who acts for me and for them, and the forms to change that."""
    return _family_page(request)


@require_POST
@role_required(Role.PATIENT)
def family_dependent_add(request: HttpRequest) -> HttpResponse:
    form = DependentForm(request.POST)
    if form.is_valid():
        try:
            dependent = dependent_add(by=request.user, request=request, **form.cleaned_data)
        except FamilyError as error:
            _add_error(form, error)
        else:
            return _family_changed(
                request, _("%(name)s was added. You can now act for them.") % {"name": dependent}
            )
    return _family_page(request, dependent_form=form, status=400)


def _managed_patient(request: HttpRequest, form: _ManagedPatientForm) -> Patient:
    patient, _access = get_patient_for_user(
        request, form.cleaned_data["patient"], Capability.VIEW_PROFILE
    )
    return patient


@require_POST
@role_required(Role.PATIENT)
def family_proxy_invite(request: HttpRequest) -> HttpResponse:
    managed = _managed_patients(request.user)
    form = ProxyInviteForm(request.POST, patients=managed, user=request.user)
    if form.is_valid():
        patient = _managed_patient(request, form)
        try:
            invitation = proxy_invite(
                patient=patient,
                by=request.user,
                email=form.cleaned_data["email"],
                relationship=form.cleaned_data["relationship"],
                scopes=form.cleaned_data["scopes"],
                request=request,
            )
        except FamilyError as error:
            _add_error(form, error)
        else:
            return _family_changed(
                request,
                _("Invitation sent to %(email)s. It is valid for 7 days.")
                % {"email": invitation.email},
            )
    return _family_page(request, proxy_form=form, status=400)


@require_POST
@role_required(Role.PATIENT)
def family_claim_invite(request: HttpRequest) -> HttpResponse:
    claimable = [p for p in _managed_patients(request.user) if p.user_id is None]
    form = ClaimInviteForm(request.POST, patients=claimable, user=request.user)
    if form.is_valid():
        patient = _managed_patient(request, form)
        try:
            invitation = claim_invite(
                patient=patient, by=request.user, email=form.cleaned_data["email"], request=request
            )
        except FamilyError as error:
            _add_error(form, error)
        else:
            return _family_changed(
                request,
                _("Invitation sent to %(email)s to take over their own account.")
                % {"email": invitation.email},
            )
    return _family_page(request, claim_form=form, status=400)


@require_POST
@role_required(Role.PATIENT)
def family_delegate_revoke(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """End a delegation: 404 for anyone who may not revoke it (they do not learn of it)."""
    delegate = (
        PatientDelegate.objects.select_related("patient__user", "user")
        .filter(public_id=public_id, revoked_at__isnull=True)
        .first()
    )
    if delegate is None or not delegate_may_revoke(request.user, delegate):
        raise Http404
    delegate_revoke(delegate=delegate, by=request.user, request=request)
    if delegate.user_id == request.user.pk:
        message = _("You no longer act for %(patient)s.") % {"patient": delegate.patient}
    else:
        message = _("%(name)s can no longer act for %(patient)s.") % {
            "name": delegate.user.get_full_name() or delegate.user.email,
            "patient": delegate.patient,
        }
    return _family_changed(request, message)


@require_POST
@role_required(Role.PATIENT)
def family_invitation_withdraw(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Withdraw a pending invitation: 404 for anyone who may not (they do not learn of it)."""
    invitation = (
        PatientInvitation.objects.select_related("patient__user")
        .filter(public_id=public_id, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None or not may_manage_family_access(request.user, invitation.patient):
        raise Http404
    invitation_withdraw(invitation=invitation, by=request.user, request=request)
    return _family_changed(
        request,
        _("The invitation to %(email)s is withdrawn; its link no longer works.")
        % {"email": invitation.email},
    )


# --- Invitations --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@role_required(Role.PATIENT)
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: a proxy accepts with one button; a dependent claims their record by
    confirming their date of birth."""
    context: dict = {"token": token, "error": ""}
    try:
        invite = invitation_for_token(token)
    except FamilyError as error:
        context["error"] = error.message
        return render_page(request, INVITATION_TEMPLATE, context, status=400)
    context["invitation"] = invite
    context["scopes"] = [PatientScope(scope).label for scope in invite.scopes]
    is_claim = invite.kind == PatientInvitation.Kind.CLAIM
    form = ClaimAcceptForm(request.POST or None) if is_claim else None
    context["form"] = form
    if request.method == "GET":
        return render_page(request, INVITATION_TEMPLATE, context)
    try:
        if is_claim:
            if not form.is_valid():
                return render_page(request, INVITATION_TEMPLATE, context, status=400)
            claim_accept(
                token=token,
                by=request.user,
                date_of_birth=form.cleaned_data["date_of_birth"],
                request=request,
            )
            messages.success(request, _("Welcome: this is now your own account."))
            return redirect("patient_profile")
        delegate = proxy_invitation_accept(token=token, by=request.user, request=request)
    except FamilyError as error:
        if form is not None and error.field in form.fields:
            form.add_error(error.field, error.message)
        else:
            context["error"] = error.message
        return render_page(request, INVITATION_TEMPLATE, context, status=400)
    messages.success(request, _("You can now act for %(patient)s.") % {"patient": delegate.patient})
    return redirect("family")
