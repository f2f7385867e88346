"""Patients: the records behind logins and dependents."""

import hashlib
import secrets
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from clinic.models import Patient, PatientDelegate, PatientInvitation, PatientScope
from clinic.permissions import Capability, patient_access
from core.models import AuditEvent, NotificationKind, Role
from core.services import audit_record, notification_create


@transaction.atomic
def patient_create_for_account(*, user, request=None) -> Patient:
    """The account holder's own patient record; creating it twice returns the first."""
    patient, created = Patient.objects.get_or_create(
        user=user, defaults={"first_name": user.first_name, "last_name": user.last_name}
    )
    if created:
        audit_record(action=AuditEvent.Action.CREATE, actor=user, request=request, target=patient)
    return patient


# --- Profiles, dependents, proxies and claims ------------------------------------------------

# The profile a patient (or whoever may change it for them) edits. The date of birth is the
# claim secret and drives the 18th-birthday rule, so only the patient themself changes it.
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "blood_type",
    "allergies",
    "chronic_conditions",
    "current_medications",
    "emergency_contact_name",
    "emergency_contact_phone",
    "insurance_id",
    "national_id",
)
ADULT_AGE = 18
INVITATION_DAYS = 7
CLAIM_MAX_ATTEMPTS = 3
# A guardian may send the claim link this many days before the dependent turns 18.
CLAIM_EARLY_DAYS = 30
ALL_SCOPES = tuple(PatientScope.values)


class FamilyError(Exception):
    """A family-access rule said no; `message` is fit to show next to `field` (or the form)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def _today(now: datetime | None = None) -> date:
    return timezone.localdate(now or timezone.now())


def adulthood_date(born: date) -> date:
    """The 18th birthday; someone born on 29 February comes of age on 1 March in a common
    year (the day after 28 February, as Patient.age_on counts it)."""
    try:
        return born.replace(year=born.year + ADULT_AGE)
    except ValueError:
        return date(born.year + ADULT_AGE, 3, 1)


def _is_minor(patient: Patient, today: date) -> bool:
    age = patient.age_on(today)
    return age is not None and age < ADULT_AGE


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _active_delegation(patient: Patient, user) -> PatientDelegate | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return PatientDelegate.objects.filter(
        patient=patient, user=user, revoked_at__isnull=True
    ).first()


def may_manage_family_access(user, patient: Patient) -> bool:
    """Who decides who acts for a patient: the patient themself, or their guardian while the
    patient has no login of their own (a child, a dependent who has not claimed the record)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if patient.user_id is not None:
        return patient.user_id == user.pk
    delegation = _active_delegation(patient, user)
    return delegation is not None and delegation.kind == PatientDelegate.Kind.GUARDIAN


def _grant(*, user, patient: Patient, scopes) -> None:
    for scope in scopes:
        assign_perm(scope, user, patient)


def _ungrant(*, user, patient: Patient) -> None:
    # One active delegation per patient and user, so every scope on this patient goes.
    for scope in ALL_SCOPES:
        remove_perm(scope, user, patient)


def _absolute(url: str) -> str:
    return settings.SITE_URL.rstrip("/") + url


def _send_email(*, to: str, subject: str, template: str, context: dict) -> None:
    # Subjects never name a patient or anything clinical: they show on lock screens.
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}",
        message=render_to_string(template, context),
        from_email=None,
        recipient_list=[to],
    )


@transaction.atomic
def patient_profile_update(*, patient: Patient, by, data: dict, request=None) -> list[str]:
    """Change a patient's profile for someone holding CHANGE_PROFILE on them. Returns the
    names of the fields that changed; the audit entry lists the names, never the values."""
    access = patient_access(by, patient)
    if not access.may(Capability.CHANGE_PROFILE):
        raise PermissionDenied
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    changed = []
    for name in PROFILE_FIELDS:
        if name not in data:
            continue
        if (
            name == "date_of_birth"
            and not access.is_self
            and patient.date_of_birth is not None
            and data[name] != patient.date_of_birth
        ):
            raise FamilyError(
                _(
                    "Only the patient can change a recorded date of birth; the hospital desk "
                    "corrects mistakes."
                ),
                field="date_of_birth",
            )
        value = data[name]
        if name == "national_id":
            value = (value or "").strip()
        if getattr(patient, name) != value:
            setattr(patient, name, value)
            changed.append(name)
    if patient.national_id and (
        Patient.objects.filter(national_id=patient.national_id).exclude(pk=patient.pk).exists()
    ):
        raise FamilyError(
            _(
                "Another patient record already has this national id. Please check it, or ask "
                "the hospital desk."
            ),
            field="national_id",
        )
    if not changed:
        return []
    try:
        with transaction.atomic():
            patient.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:  # the same id saved at the same moment by someone else
        raise FamilyError(
            _("Another patient record already has this national id."), field="national_id"
        ) from None
    if "date_of_birth" in changed:
        _guardian_end_dates_refresh(patient)
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=patient,
        patient=patient,
        acting_for_patient=access.acting_for_patient,
        details={"fields": changed},
    )
    return changed


def _guardian_end_dates_refresh(patient: Patient) -> None:
    today = _today()
    ends_on = None
    if patient.date_of_birth and _is_minor(patient, today):
        ends_on = adulthood_date(patient.date_of_birth)
    PatientDelegate.objects.filter(
        patient=patient, kind=PatientDelegate.Kind.GUARDIAN, revoked_at__isnull=True
    ).update(ends_on=ends_on)


@transaction.atomic
def dependent_add(
    *,
    by,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    relationship: str,
    sex: str = Patient.Sex.UNKNOWN,
    request=None,
    now: datetime | None = None,
) -> Patient:
    """An account holder adds someone without a login (a child, an elderly parent) and acts
    for them: all five scopes as guardian permissions, and a guardian delegation that ends on
    the 18th birthday when the dependent is a minor."""
    if by.role != Role.PATIENT or not Patient.objects.filter(user=by).exists():
        raise PermissionDenied
    today = _today(now)
    if date_of_birth > today:
        raise FamilyError(_("The date of birth cannot be in the future."), field="date_of_birth")
    if relationship not in PatientDelegate.Relationship.values:
        raise FamilyError(_("Choose a relationship."), field="relationship")
    if not (first_name or "").strip():
        raise FamilyError(_("Enter a first name."), field="first_name")
    dependent = Patient.objects.create(
        first_name=first_name.strip(),
        last_name=(last_name or "").strip(),
        date_of_birth=date_of_birth,
        sex=sex,
    )
    minor = _is_minor(dependent, today)
    delegate = PatientDelegate.objects.create(
        patient=dependent,
        user=by,
        kind=PatientDelegate.Kind.GUARDIAN,
        relationship=relationship,
        scopes=list(ALL_SCOPES),
        granted_by=by,
        ends_on=adulthood_date(date_of_birth) if minor else None,
    )
    _grant(user=by, patient=dependent, scopes=ALL_SCOPES)
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=by,
        request=request,
        target=dependent,
        patient=dependent,
        acting_for_patient=True,
    )
    audit_record(
        action=AuditEvent.Action.ACCESS_GRANTED,
        actor=by,
        request=request,
        target=delegate,
        patient=dependent,
        acting_for_patient=True,
        details={
            "kind": delegate.kind,
            "scopes": delegate.scopes,
            "ends_on": str(delegate.ends_on or ""),
        },
    )
    return dependent


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def _invitation_send(
    *,
    patient: Patient,
    kind: str,
    email: str,
    by,
    expires_at: datetime,
    subject: str,
    template: str,
    relationship: str = "",
    scopes=(),
    request=None,
) -> PatientInvitation:
    """Store an invitation under the hash of a new random token, audit it, and email the
    link (carrying the token itself) once the transaction commits."""
    token, digest = _new_token()
    invitation = PatientInvitation.objects.create(
        patient=patient,
        kind=kind,
        email=email,
        relationship=relationship,
        scopes=list(scopes),
        token_hash=digest,
        invited_by=by,
        expires_at=expires_at,
    )
    details = {"kind": kind, "scopes": list(scopes)} if scopes else {"kind": kind}
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=by,
        request=request,
        target=invitation,
        patient=patient,
        acting_for_patient=patient.user_id != by.pk,
        details=details,
    )
    context = {
        "invitation": invitation,
        "inviter": by,
        "scopes": [PatientScope(scope).label for scope in scopes],
        "link": _absolute(reverse("invitation", args=[token])),
        "days": INVITATION_DAYS,
    }
    transaction.on_commit(
        lambda: _send_email(to=email, subject=subject, template=template, context=context),
        robust=True,
    )
    return invitation


@transaction.atomic
def proxy_invite(
    *,
    patient: Patient,
    by,
    email: str,
    relationship: str,
    scopes: list[str],
    request=None,
    now: datetime | None = None,
) -> PatientInvitation:
    """Invite an adult by email to act for the patient with the chosen scopes. Only the
    patient themself, or the guardian of a patient without a login, may invite. The emailed
    link carries a random token; only its sha256 is stored. Valid for 7 days."""
    now = now or timezone.now()
    if not may_manage_family_access(by, patient):
        raise PermissionDenied
    email = (email or "").strip()
    scopes = [scope for scope in ALL_SCOPES if scope in set(scopes or [])]
    if not scopes:
        raise FamilyError(_("Choose at least one thing the proxy may do."), field="scopes")
    if relationship not in PatientDelegate.Relationship.values:
        raise FamilyError(_("Choose a relationship."), field="relationship")
    if email.casefold() == (by.email or "").casefold() or (
        patient.user_id and email.casefold() == patient.user.email.casefold()
    ):
        raise FamilyError(_("Invite someone other than yourself."), field="email")
    if patient.user_id == by.pk and _is_minor(patient, _today(now)):
        raise FamilyError(_("Only adults can invite a proxy."), field=None)
    return _invitation_send(
        patient=patient,
        kind=PatientInvitation.Kind.PROXY,
        email=email,
        by=by,
        expires_at=now + timedelta(days=INVITATION_DAYS),
        relationship=relationship,
        scopes=scopes,
        subject=_("You are invited to help manage a hospital account"),
        template="clinic/email/proxy_invitation.txt",
        request=request,
    )


def invitation_for_token(token: str, now: datetime | None = None) -> PatientInvitation:
    """The open invitation behind a token, or FamilyError saying why it cannot be used."""
    now = now or timezone.now()
    invitation = (
        PatientInvitation.objects.select_related("patient__user", "invited_by")
        .filter(token_hash=token_hash(token or ""))
        .first()
    )
    if invitation is None:
        raise FamilyError(_("This invitation link is not valid."))
    if invitation.accepted_at is not None:
        raise FamilyError(_("This invitation has already been used."))
    if invitation.revoked_at is not None:
        raise FamilyError(
            _("This invitation is no longer valid. Ask the person who sent it for a new one.")
        )
    if invitation.expires_at <= now:
        raise FamilyError(
            _("This invitation has expired. Ask the person who sent it for a new one.")
        )
    return invitation


def _email_matches(user, email: str) -> bool:
    from allauth.account.models import EmailAddress

    wanted = email.casefold()
    if (user.email or "").casefold() == wanted:
        return True
    return EmailAddress.objects.filter(user=user, verified=True, email__iexact=email).exists()


def _check_invitee(invitation: PatientInvitation, by) -> None:
    if by.role != Role.PATIENT:
        raise FamilyError(_("Invitations are for patient accounts."))
    if not _email_matches(by, invitation.email):
        raise FamilyError(
            _("This invitation was sent to another email address. Sign in with that address.")
        )


def _claim_open(invitation_id: int, now: datetime) -> bool:
    """Mark the invitation used, once: a second click or a concurrent one changes nothing."""
    return bool(
        PatientInvitation.objects.filter(
            pk=invitation_id, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).update(accepted_at=now)
    )


@transaction.atomic
def proxy_invitation_accept(
    *, token: str, by, request=None, now: datetime | None = None
) -> PatientDelegate:
    """The invitee (a signed-in adult patient account with the invited email, any case)
    accepts: they get the chosen scopes and a proxy delegation; the patient is told."""
    now = now or timezone.now()
    invitation = invitation_for_token(token, now)
    if invitation.kind != PatientInvitation.Kind.PROXY:
        raise FamilyError(_("This invitation link is not valid."))
    _check_invitee(invitation, by)
    patient = invitation.patient
    own = Patient.objects.filter(user=by).first()
    if own is not None and _is_minor(own, _today(now)):
        raise FamilyError(_("Only adults can act for another patient."))
    if patient.user_id == by.pk:
        raise FamilyError(_("This is your own record."))
    if _active_delegation(patient, by) is not None:
        raise FamilyError(_("You already act for this patient."))
    if not _claim_open(invitation.pk, now):
        raise FamilyError(_("This invitation has already been used."))
    PatientInvitation.objects.filter(pk=invitation.pk).update(accepted_by=by)
    delegate = PatientDelegate.objects.create(
        patient=patient,
        user=by,
        kind=PatientDelegate.Kind.PROXY,
        relationship=invitation.relationship or PatientDelegate.Relationship.OTHER,
        scopes=list(invitation.scopes),
        granted_by=invitation.invited_by,
    )
    _grant(user=by, patient=patient, scopes=invitation.scopes)
    audit_record(
        action=AuditEvent.Action.ACCESS_GRANTED,
        actor=by,
        request=request,
        target=delegate,
        patient=patient,
        acting_for_patient=True,
        details={"kind": delegate.kind, "scopes": delegate.scopes},
    )
    title = _("%(name)s accepted the invitation and can now act for %(patient)s.") % {
        "name": by.get_full_name() or by.email,
        "patient": patient,
    }
    for recipient in {patient.user, invitation.invited_by} - {None}:
        notification_create(
            recipient=recipient, title=title, link=reverse("family"), kind=NotificationKind.FAMILY
        )
    return delegate


def delegate_may_revoke(user, delegate: PatientDelegate) -> bool:
    """The patient (or the guardian of a patient without a login) may revoke anyone acting
    for them; a delegate may step down themself."""
    return delegate.user_id == getattr(user, "pk", None) or may_manage_family_access(
        user, delegate.patient
    )


def _revoke(delegate: PatientDelegate, *, by, reason: str, now: datetime, request=None) -> bool:
    """Stamp the delegation revoked and remove its permissions, once (conditional update)."""
    revoked = PatientDelegate.objects.filter(pk=delegate.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=by, revoke_reason=reason[:200]
    )
    if not revoked:
        return False
    _ungrant(user=delegate.user, patient=delegate.patient)
    audit_record(
        action=AuditEvent.Action.ACCESS_REVOKED,
        actor=by,
        actor_label="" if by else "system",
        request=request,
        target=delegate,
        patient=delegate.patient,
        acting_for_patient=bool(by) and delegate.patient.user_id != by.pk,
        reason=reason,
        details={"kind": delegate.kind, "delegate": delegate.user.email},
    )
    return True


@transaction.atomic
def delegate_revoke(
    *, delegate: PatientDelegate, by, reason: str = "", request=None, now: datetime | None = None
) -> bool:
    """End someone's access to a patient: their guardian permissions go and the delegation
    is stamped revoked. Revoking twice changes nothing. The delegate is told."""
    if not delegate_may_revoke(by, delegate):
        raise PermissionDenied
    now = now or timezone.now()
    if not _revoke(delegate, by=by, reason=reason or "revoked", now=now, request=request):
        return False
    if delegate.user_id != by.pk:
        notification_create(
            recipient=delegate.user,
            title=_("You can no longer act for %(patient)s.") % {"patient": delegate.patient},
            link=reverse("family"),
            kind=NotificationKind.FAMILY,
        )
    return True


@transaction.atomic
def invitation_withdraw(
    *, invitation: PatientInvitation, by, request=None, now: datetime | None = None
) -> bool:
    """Withdraw an invitation nobody has answered yet (sent to a wrong address, say): its link
    stops working at once. Only who decides about the patient's access may; withdrawing twice
    changes nothing."""
    if not may_manage_family_access(by, invitation.patient):
        raise PermissionDenied
    now = now or timezone.now()
    withdrawn = PatientInvitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    if withdrawn:
        audit_record(
            action=AuditEvent.Action.ACCESS_REVOKED,
            actor=by,
            request=request,
            target=invitation,
            patient=invitation.patient,
            acting_for_patient=invitation.patient.user_id != by.pk,
            reason="invitation withdrawn",
            details={"kind": invitation.kind},
        )
    return bool(withdrawn)


@transaction.atomic
def claim_invite(
    *, patient: Patient, by, email: str, request=None, now: datetime | None = None
) -> PatientInvitation:
    """The guardian invites an adult dependent (or one turning 18 within 30 days) to take
    over their own record with a login of their own. The link lasts 7 days, counted from
    the 18th birthday when that is later."""
    now = now or timezone.now()
    if patient.user_id is not None or not may_manage_family_access(by, patient):
        raise PermissionDenied
    email = (email or "").strip()
    if email.casefold() == (by.email or "").casefold():
        raise FamilyError(_("Use the dependent's own email address."), field="email")
    today = _today(now)
    if patient.date_of_birth is None:
        raise FamilyError(_("Add the date of birth to the profile first."))
    of_age = adulthood_date(patient.date_of_birth)
    if of_age > today + timedelta(days=CLAIM_EARLY_DAYS):
        raise FamilyError(_("Only adults can take over their own record."))
    starts = max(now, timezone.make_aware(datetime.combine(of_age, datetime.min.time())))
    return _invitation_send(
        patient=patient,
        kind=PatientInvitation.Kind.CLAIM,
        email=email,
        by=by,
        expires_at=starts + timedelta(days=INVITATION_DAYS),
        subject=_("Take over your own hospital account"),
        template="clinic/email/claim_invitation.txt",
        request=request,
    )


# Rows that make a patient record more than the empty one signup creates.
def _holds_history(patient: Patient) -> bool:
    return (
        patient.appointments.exists()
        or patient.waitlist.exists()
        or patient.records.exists()
        or patient.prescriptions.exists()
        or patient.break_glass.exists()
        or patient.delegates.filter(revoked_at__isnull=True).exists()
    )


def _claim_wrong_birth_date(invitation: PatientInvitation, now: datetime) -> None:
    """Count a wrong date of birth outside the claim's transaction (it must survive the
    refusal); the third one locks the invitation."""
    with transaction.atomic():
        PatientInvitation.objects.filter(pk=invitation.pk).update(
            failed_attempts=F("failed_attempts") + 1
        )
        PatientInvitation.objects.filter(
            pk=invitation.pk, failed_attempts__gte=CLAIM_MAX_ATTEMPTS, revoked_at__isnull=True
        ).update(revoked_at=now)
    invitation.refresh_from_db(fields=["failed_attempts", "revoked_at"])


def claim_accept(
    *, token: str, by, date_of_birth: date, request=None, now: datetime | None = None
) -> Patient:
    """The invited dependent, signed in with the invited email, confirms their date of
    birth and takes over the record: the login is linked to it. The empty record signup
    made for the login is removed (its profile entries copied where the claimed record has
    none); a login whose own record holds any history cannot claim (the hospital desk merges
    records). Three wrong dates lock the invitation. A guardian who still acts for them
    keeps a proxy grant the patient can now revoke."""
    now = now or timezone.now()
    invitation = invitation_for_token(token, now)
    if invitation.kind != PatientInvitation.Kind.CLAIM:
        raise FamilyError(_("This invitation link is not valid."))
    _check_invitee(invitation, by)
    patient = invitation.patient
    if date_of_birth != patient.date_of_birth:
        _claim_wrong_birth_date(invitation, now)
        if invitation.revoked_at is not None:
            audit_record(
                action=AuditEvent.Action.ACCESS_REVOKED,
                actor=by,
                request=request,
                target=invitation,
                patient=patient,
                reason="claim locked after wrong dates of birth",
            )
            raise FamilyError(
                _("Too many wrong attempts. This invitation is locked; ask for a new one.")
            )
        raise FamilyError(
            _("That date of birth does not match our records."), field="date_of_birth"
        )
    if patient.user_id is not None:
        raise FamilyError(_("This record already belongs to an account."))
    if adulthood_date(patient.date_of_birth) > _today(now):
        raise FamilyError(_("You can take over your record from your 18th birthday."))
    with transaction.atomic():
        return _claim_complete(invitation, by=by, request=request, now=now)


def _claim_complete(invitation: PatientInvitation, *, by, request, now: datetime) -> Patient:
    patient = Patient.objects.select_for_update().get(pk=invitation.patient_id)
    if patient.user_id is not None or not _claim_open(invitation.pk, now):
        raise FamilyError(_("This invitation has already been used."))
    PatientInvitation.objects.filter(pk=invitation.pk).update(accepted_by=by)
    shell = Patient.objects.select_for_update().filter(user=by).first()
    if shell is not None:
        if _holds_history(shell):
            raise FamilyError(
                _(
                    "Your account already has its own medical history. Please ask the hospital "
                    "desk to merge the two records."
                )
            )
        copied = [
            name for name in PROFILE_FIELDS if not getattr(patient, name) and getattr(shell, name)
        ]
        values = {name: getattr(shell, name) for name in copied}
        audit_record(
            action=AuditEvent.Action.DELETE,
            actor=by,
            request=request,
            target=shell,
            patient=shell,
            reason="empty signup record replaced by the claimed record",
            details={"claimed": str(patient.public_id), "fields_copied": copied},
        )
        shell.delete()
        for name, value in values.items():
            setattr(patient, name, value)
    patient.user = by
    patient.save()
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=patient,
        patient=patient,
        reason="record claimed by the patient",
        details={"fields": ["user"]},
    )
    for delegate in patient.delegates.filter(
        revoked_at__isnull=True, kind=PatientDelegate.Kind.GUARDIAN
    ).select_related("user"):
        delegate.kind, delegate.ends_on = PatientDelegate.Kind.PROXY, None
        delegate.save(update_fields=["kind", "ends_on"])
        audit_record(
            action=AuditEvent.Action.UPDATE,
            actor=by,
            request=request,
            target=delegate,
            patient=patient,
            reason="guardian access became a revocable grant after the claim",
            details={"kind": delegate.kind, "scopes": delegate.scopes},
        )
        notification_create(
            recipient=delegate.user,
            title=_(
                "%(patient)s now manages their own account; they can see and revoke your access."
            )
            % {"patient": patient},
            link=reverse("family"),
            kind=NotificationKind.FAMILY,
        )
    if invitation.invited_by.pk not in set(patient.delegates.values_list("user_id", flat=True)):
        notification_create(
            recipient=invitation.invited_by,
            title=_("%(patient)s now manages their own account.") % {"patient": patient},
            link=reverse("family"),
            kind=NotificationKind.FAMILY,
        )
    return patient


def minors_access_end(*, now: datetime | None = None) -> int:
    """Guardian access to a minor ends on their 18th birthday. Each due delegation is
    revoked once (conditional update): a second or late run changes nothing. Both the
    guardian and the patient (when they have a login) are told. Returns how many ended."""
    now = now or timezone.now()
    today = _today(now)
    due = PatientDelegate.objects.filter(
        kind=PatientDelegate.Kind.GUARDIAN, revoked_at__isnull=True, ends_on__lte=today
    ).values_list("pk", flat=True)
    ended = 0
    for delegate_id in list(due):
        with transaction.atomic():
            delegate = PatientDelegate.objects.select_related("patient__user", "user").get(
                pk=delegate_id
            )
            if not _revoke(delegate, by=None, reason="turned 18", now=now):
                continue
            ended += 1
            patient = delegate.patient
            notification_create(
                recipient=delegate.user,
                title=_("%(patient)s has turned 18: your access to their account has ended.")
                % {"patient": patient},
                link=reverse("family"),
                kind=NotificationKind.FAMILY,
            )
            if patient.user_id:
                notification_create(
                    recipient=patient.user,
                    title=_("You have turned 18: %(name)s no longer has access to your account.")
                    % {"name": delegate.user.get_full_name() or delegate.user.email},
                    link=reverse("family"),
                    kind=NotificationKind.FAMILY,
                )
    return ended
