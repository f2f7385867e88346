"""Doctor applications: applying from the site, verification or rejection by an admin, and
deactivating a doctor's login. A doctor is listed and bookable only while verified and active
(`clinic.selectors.doctors_listed`); none of these touch appointments."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.models import Appointment, CredentialDocument, Doctor, Language, Specialty
from core.models import AuditEvent, NotificationKind, Role, User
from core.services import (
    audit_record,
    notification_create,
    notification_email_wanted,
    user_sessions_end,
    user_set_role,
)

MAX_DOCUMENTS = 5
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_PHOTO_BYTES = 5 * 1024 * 1024
# Verification turns the login into a doctor's, so only these roles may apply: an admin or
# an editor applying would lose their own role on verification.
ROLES_THAT_MAY_APPLY = frozenset({Role.PATIENT, Role.DOCTOR})


class DoctorApplicationError(Exception):
    """A rule of the application workflow said no. `message` is fit to show the user; `field`
    names the form field it belongs to (None: the whole form)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class CredentialUpload:
    """One checked credential file: its bytes already sniffed by the form, `file.name` carrying
    the extension of the sniffed type, never the client's."""

    file: UploadedFile
    original_name: str
    content_type: str
    description: str = ""


# --- helpers -----------------------------------------------------------------------------------


def _require_admin(user) -> None:
    if not (
        getattr(user, "is_authenticated", False) and user.is_active and user.role == Role.ADMIN
    ):
        raise PermissionDenied


def _lock_doctor(doctor: Doctor) -> Doctor:
    return Doctor.objects.select_for_update().select_related("user").get(pk=doctor.pk)


def _clean_licence(licence_number: str, *, exclude_pk: int | None = None) -> str:
    licence_number = (licence_number or "").strip()
    if not licence_number:
        raise DoctorApplicationError(_("Enter your licence number."), field="licence_number")
    # The column is unique as typed; "lic-1" and "LIC-1" are the same licence to a person.
    taken = Doctor.objects.filter(licence_number__iexact=licence_number)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise DoctorApplicationError(
            _("This licence number is already registered. Contact the hospital if it is yours."),
            field="licence_number",
        )
    return licence_number


def _check_documents(documents: Sequence[CredentialUpload], *, required: bool) -> None:
    if required and not documents:
        raise DoctorApplicationError(
            _("Add at least one credential document (your licence or diploma)."),
            field="documents",
        )
    if len(documents) > MAX_DOCUMENTS:
        raise DoctorApplicationError(
            _("Add at most %(count)d documents.") % {"count": MAX_DOCUMENTS}, field="documents"
        )


def _store_documents(doctor: Doctor, documents: Iterable[CredentialUpload]) -> int:
    stored = 0
    for upload in documents:
        CredentialDocument.objects.create(
            doctor=doctor,
            file=upload.file,
            original_name=upload.original_name[:255],
            content_type=upload.content_type,
            description=upload.description[:200],
        )
        stored += 1
    return stored


def _admins() -> list[User]:
    return list(User.objects.filter(role=Role.ADMIN, is_active=True))


def _notify_admins_of_application(doctor: Doctor, *, resubmitted: bool) -> None:
    title = (
        _("Doctor application resubmitted: %(name)s")
        if resubmitted
        else _("New doctor application: %(name)s")
    ) % {"name": doctor.user.get_full_name() or doctor.user.email}
    body = _("%(specialty)s, licence number %(licence)s. Waiting for verification.") % {
        "specialty": doctor.specialty,
        "licence": doctor.licence_number,
    }
    link = reverse("doctor_applications:inspect", args=(doctor.pk,))
    for admin in _admins():
        notification_create(
            recipient=admin, title=title, body=body, link=link, kind=NotificationKind.ACCOUNT
        )


def _applicant_email(doctor_id: int, *, template: str, subject: str) -> None:
    """Email the applicant about their application, unless they chose not to get account
    emails. The subject names no health detail."""
    doctor = Doctor.objects.select_related("user", "specialty").get(pk=doctor_id)
    if not notification_email_wanted(doctor.user, NotificationKind.ACCOUNT):
        return
    context = {
        "doctor": doctor,
        "recipient": doctor.user,
        "site_url": settings.SITE_URL.rstrip("/"),
        "application_path": reverse("doctor_application"),
        "login_path": reverse("account_login"),
        "hospital_name": settings.HOSPITAL_NAME,
    }
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}",
        message=render_to_string(template, context),
        from_email=None,
        recipient_list=[doctor.user.email],
    )


# --- applying ----------------------------------------------------------------------------------


@transaction.atomic
def doctor_apply(
    *,
    user: User,
    specialty: Specialty,
    licence_number: str,
    bio: str = "",
    years_of_experience: int | None = None,
    education: str = "",
    languages: Iterable[Language] = (),
    consultation_fee: Decimal | None = None,
    location: str = "",
    photo: UploadedFile | None = None,
    documents: Sequence[CredentialUpload] = (),
    request: HttpRequest | None = None,
) -> Doctor:
    """Apply as a doctor: a pending profile with its credential documents, waiting for an
    admin. The user keeps their role (a patient stays a patient) until verified.

    Raises PermissionDenied for anyone but an active patient or doctor login, and
    DoctorApplicationError for a second application, a licence number already registered or
    missing documents. Every check runs before a file is written."""
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        raise PermissionDenied
    if user.role not in ROLES_THAT_MAY_APPLY:
        raise PermissionDenied
    if Doctor.objects.filter(user=user).exists():
        raise DoctorApplicationError(_("You have already applied."))
    licence_number = _clean_licence(licence_number)
    _check_documents(documents, required=True)
    try:
        with transaction.atomic():
            doctor = Doctor.objects.create(
                user=user,
                specialty=specialty,
                licence_number=licence_number,
                status=Doctor.Status.PENDING,
                status_changed_at=timezone.now(),
                bio=bio.strip(),
                years_of_experience=years_of_experience,
                education=education.strip(),
                consultation_fee=consultation_fee,
                location=location.strip(),
            )
    except IntegrityError:
        # Two submissions at once: the unique user and licence columns let only one through.
        raise DoctorApplicationError(
            _("This licence number is already registered, or you have already applied."),
            field="licence_number",
        ) from None
    doctor.languages.set(languages)
    if photo:
        doctor.photo = photo
        doctor.save(update_fields=["photo"])
    stored = _store_documents(doctor, documents)
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=user,
        request=request,
        target=doctor,
        details={"status": "pending", "licence_number": licence_number, "documents": stored},
    )
    _notify_admins_of_application(doctor, resubmitted=False)
    return doctor


@transaction.atomic
def doctor_resubmit(
    *,
    doctor: Doctor,
    by: User,
    specialty: Specialty,
    licence_number: str,
    bio: str = "",
    years_of_experience: int | None = None,
    education: str = "",
    languages: Iterable[Language] = (),
    consultation_fee: Decimal | None = None,
    location: str = "",
    photo: UploadedFile | None = None,
    documents: Sequence[CredentialUpload] = (),
    request: HttpRequest | None = None,
) -> Doctor:
    """A rejected applicant corrects their application and sends it again: pending once more.

    Documents sent before are kept (an admin may compare); new ones are added. The earlier
    rejection reason stays in the audit log."""
    doctor = _lock_doctor(doctor)
    if doctor.user_id != getattr(by, "pk", None) or not by.is_active:
        raise PermissionDenied
    if doctor.status != Doctor.Status.REJECTED:
        raise DoctorApplicationError(_("Only a rejected application can be sent again."))
    licence_number = _clean_licence(licence_number, exclude_pk=doctor.pk)
    _check_documents(documents, required=not doctor.documents.exists())
    previous_reason = doctor.status_reason
    doctor.specialty = specialty
    doctor.licence_number = licence_number
    doctor.bio = bio.strip()
    doctor.years_of_experience = years_of_experience
    doctor.education = education.strip()
    doctor.consultation_fee = consultation_fee
    doctor.location = location.strip()
    doctor.status = Doctor.Status.PENDING
    doctor.status_reason = ""
    doctor.status_changed_at = timezone.now()
    old_photo_name = doctor.photo.name if photo and doctor.photo else ""
    if photo:
        doctor.photo = photo
    try:
        with transaction.atomic():
            doctor.save()
    except IntegrityError:
        raise DoctorApplicationError(
            _("This licence number is already registered."), field="licence_number"
        ) from None
    doctor.languages.set(languages)
    stored = _store_documents(doctor, documents)
    if old_photo_name:
        storage = doctor.photo.storage
        transaction.on_commit(lambda: storage.delete(old_photo_name))
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=doctor,
        details={
            "status": "pending",
            "resubmitted": True,
            "previous_reason": previous_reason,
            "documents_added": stored,
        },
    )
    _notify_admins_of_application(doctor, resubmitted=True)
    return doctor


# --- the admin's decision ----------------------------------------------------------------------


@transaction.atomic
def doctor_verify(*, doctor: Doctor, by: User, request: HttpRequest | None = None) -> Doctor:
    """An admin verifies a pending application: the doctor is listed and bookable from now on
    and the login becomes a doctor's (who must then set up two-factor authentication)."""
    _require_admin(by)
    doctor = _lock_doctor(doctor)
    if doctor.user_id == by.pk:
        raise PermissionDenied
    if doctor.status != Doctor.Status.PENDING:
        raise DoctorApplicationError(_("Only a pending application can be verified."))
    doctor.status = Doctor.Status.VERIFIED
    doctor.status_reason = ""
    doctor.status_changed_at = timezone.now()
    doctor.save(update_fields=["status", "status_reason", "status_changed_at"])
    user_set_role(user=doctor.user, role=Role.DOCTOR, actor=by, request=request)
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=doctor,
        details={"status": "verified"},
    )
    notification_create(
        recipient=doctor.user,
        title=_("Your doctor application is verified"),
        body=_(
            "Welcome. Sign in again and set up two-factor authentication: "
            "it is required for staff accounts."
        ),
        link=reverse("doctor_application"),
        kind=NotificationKind.ACCOUNT,
        # The applicant's own email says more (how to sign in, two-factor set-up).
        email=False,
    )
    doctor_id = doctor.pk
    transaction.on_commit(
        lambda: _applicant_email(
            doctor_id,
            template="clinic/email/doctor_verified.txt",
            subject=_("Your doctor account is ready"),
        ),
        robust=True,
    )
    return doctor


@transaction.atomic
def doctor_reject(
    *, doctor: Doctor, by: User, reason: str, request: HttpRequest | None = None
) -> Doctor:
    """An admin rejects a pending application with a reason, which reaches the applicant."""
    _require_admin(by)
    reason = (reason or "").strip()
    if not reason:
        raise DoctorApplicationError(
            _("Give the applicant a reason for the rejection."), field="reason"
        )
    doctor = _lock_doctor(doctor)
    if doctor.user_id == by.pk:
        raise PermissionDenied
    if doctor.status != Doctor.Status.PENDING:
        raise DoctorApplicationError(_("Only a pending application can be rejected."))
    doctor.status = Doctor.Status.REJECTED
    doctor.status_reason = reason
    doctor.status_changed_at = timezone.now()
    doctor.save(update_fields=["status", "status_reason", "status_changed_at"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=doctor,
        reason=reason,
        details={"status": "rejected"},
    )
    notification_create(
        recipient=doctor.user,
        title=_("Your doctor application was not approved"),
        body=reason,
        link=reverse("doctor_application"),
        kind=NotificationKind.ACCOUNT,
        email=False,
    )
    doctor_id = doctor.pk
    transaction.on_commit(
        lambda: _applicant_email(
            doctor_id,
            template="clinic/email/doctor_rejected.txt",
            subject=_("Your doctor application"),
        ),
        robust=True,
    )
    return doctor


# --- deactivating ------------------------------------------------------------------------------


def _lock_user(doctor: Doctor) -> User:
    return User.objects.select_for_update().get(pk=doctor.user_id)


@transaction.atomic
def doctor_deactivate(
    *, doctor: Doctor, by: User, reason: str, request: HttpRequest | None = None
) -> Doctor:
    """An admin deactivates a doctor's login: unlisted, not bookable, signed out everywhere.

    Appointments are left exactly as they are (history is never altered); the number of
    upcoming active ones goes into the audit entry so they can be followed up."""
    _require_admin(by)
    reason = (reason or "").strip()
    if not reason:
        raise DoctorApplicationError(_("Give a reason for the deactivation."), field="reason")
    if doctor.user_id == by.pk:
        raise PermissionDenied
    user = _lock_user(doctor)
    if not user.is_active:
        raise DoctorApplicationError(_("This doctor is already deactivated."))
    user.is_active = False
    user.save(update_fields=["is_active"])
    upcoming = (
        Appointment.objects.active().filter(doctor=doctor, start_at__gte=timezone.now()).count()
    )
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=doctor,
        reason=reason,
        details={"user_active": False, "upcoming_active_appointments": upcoming},
    )
    user_id = user.pk
    transaction.on_commit(lambda: user_sessions_end(user_id=user_id))
    doctor.user = user
    return doctor


@transaction.atomic
def doctor_reactivate(
    *, doctor: Doctor, by: User, reason: str = "", request: HttpRequest | None = None
) -> Doctor:
    """An admin lets a deactivated doctor sign in again; listed again if still verified."""
    _require_admin(by)
    user = _lock_user(doctor)
    if user.is_active:
        raise DoctorApplicationError(_("This doctor is already active."))
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=doctor,
        reason=(reason or "").strip(),
        details={"user_active": True},
    )
    doctor.user = user
    return doctor
