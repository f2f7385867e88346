"""Break-the-glass: a doctor's emergency access to the records of a patient she does not treat.

Opening it needs a reason and a recent reauthentication (the view asks allauth for that); it
lasts `BREAK_GLASS_HOURS`, alerts every admin live, tells the patient and whoever reads the
patient's records for them, and waits for an admin's review.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import get_users_with_perms

from clinic.models import BreakGlassAccess, Doctor, Patient
from core.models import AuditEvent, NotificationKind, Role, User
from core.services import audit_record, notification_create

REASON_MIN_LENGTH = 20
REASON_MAX_LENGTH = 2000


class BreakGlassError(Exception):
    """A request the rules refuse; `field` names the form field the message belongs to."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def _doctor_name(doctor: Doctor) -> str:
    return _("Dr %(name)s") % {"name": doctor.user.get_full_name() or doctor.user.email}


@transaction.atomic
def break_glass_open(
    *,
    doctor: Doctor,
    patient: Patient,
    reason: str,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> BreakGlassAccess:
    """Give a verified doctor emergency access to a patient's records for BREAK_GLASS_HOURS.

    No care relationship is needed; a reason of at least REASON_MIN_LENGTH characters is.
    While one is active it is returned as it is (no second alert). Audited as BREAK_GLASS with
    the reason; admins are alerted live to review it, and the patient and everyone holding
    view-records on the patient are told."""
    if not doctor.is_verified or not doctor.user.is_active:
        raise PermissionDenied
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN_LENGTH:
        raise BreakGlassError(
            _("Give the reason for emergency access in at least %(count)d characters.")
            % {"count": REASON_MIN_LENGTH},
            field="reason",
        )
    if len(reason) > REASON_MAX_LENGTH:
        raise BreakGlassError(
            _("Keep the reason under %(count)d characters.") % {"count": REASON_MAX_LENGTH},
            field="reason",
        )
    now = now or timezone.now()
    # Lock the doctor's row so two simultaneous requests open one access, not two.
    Doctor.objects.select_for_update().filter(pk=doctor.pk).first()
    active = (
        BreakGlassAccess.objects.filter(doctor=doctor, patient=patient, expires_at__gt=now)
        .order_by("-expires_at")
        .first()
    )
    if active is not None:
        return active
    access = BreakGlassAccess.objects.create(
        doctor=doctor,
        patient=patient,
        reason=reason,
        started_at=now,
        expires_at=now + timedelta(hours=settings.BREAK_GLASS_HOURS),
    )
    audit_record(
        action=AuditEvent.Action.BREAK_GLASS,
        actor=doctor.user,
        request=request,
        target=access,
        reason=reason,
        details={"expires_at": access.expires_at.isoformat()},
        patient=patient,
    )
    doctor_name = _doctor_name(doctor)
    review_link = reverse("break_glass_review_list")
    for admin in User.objects.filter(role=Role.ADMIN, is_active=True):
        notification_create(
            recipient=admin,
            title=_("Emergency access by %(doctor)s: review needed") % {"doctor": doctor_name},
            body=_("%(doctor)s opened the records of %(patient)s. Reason: %(reason)s")
            % {"doctor": doctor_name, "patient": patient, "reason": reason},
            link=review_link,
            kind=NotificationKind.EMERGENCY_ACCESS,
        )
    log_link = f"{reverse('access_log')}?patient={patient.public_id}"
    if patient.user_id and patient.user.is_active:
        notification_create(
            recipient=patient.user,
            title=_("Emergency access to your records by %(doctor)s") % {"doctor": doctor_name},
            body=reason,
            link=log_link,
            kind=NotificationKind.EMERGENCY_ACCESS,
        )
    readers = get_users_with_perms(
        patient,
        only_with_perms_in=["view_records_patient"],
        with_group_users=False,
        with_superusers=False,
    )
    for reader in readers.filter(is_active=True).exclude(pk=patient.user_id):
        notification_create(
            recipient=reader,
            title=_("Emergency access to the records of %(patient)s by %(doctor)s")
            % {"patient": patient, "doctor": doctor_name},
            body=reason,
            link=log_link,
            kind=NotificationKind.EMERGENCY_ACCESS,
        )
    return access


@transaction.atomic
def break_glass_review(
    *,
    access: BreakGlassAccess,
    by: User,
    note: str,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> BreakGlassAccess:
    """An admin's review of one emergency access, once, with a note. Audited."""
    if by.role != Role.ADMIN or not by.is_active:
        raise PermissionDenied
    note = (note or "").strip()
    if not note:
        raise BreakGlassError(_("Write what the review found."), field="note")
    if len(note) > REASON_MAX_LENGTH:
        raise BreakGlassError(
            _("Keep the note under %(count)d characters.") % {"count": REASON_MAX_LENGTH},
            field="note",
        )
    locked = BreakGlassAccess.objects.select_for_update().get(pk=access.pk)
    if locked.reviewed_at is not None:
        raise BreakGlassError(_("This emergency access has already been reviewed."))
    locked.reviewed_at = now or timezone.now()
    locked.reviewed_by = by
    locked.review_note = note
    locked.save(update_fields=["reviewed_at", "reviewed_by", "review_note"])
    # Not filed under the patient: the review concerns the doctor's conduct, not the record.
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=locked,
        reason=note,
        details={"break_glass_review": True, "doctor": str(locked.doctor.public_id)},
    )
    access.reviewed_at, access.reviewed_by, access.review_note = (
        locked.reviewed_at,
        by,
        note,
    )
    return access
