"""SOS: a patient's emergency request to the staff on duty, its status, and its escalation.

A state machine: open → acknowledged → dispatched → resolved; cancelled and false alarm from any
open state; nothing moves out of a closed state. Every change stamps the row, adds an SOSEvent,
is audited with the patient, and on commit is pushed live to the request's status page and the
staff board, and notified to the patient's side (the requester, the patient, delegates with the
SOS scope). A request nobody acknowledges within SOS_ESCALATE_AFTER_SECONDS escalates to every
admin, once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from guardian.shortcuts import get_users_with_perms

from clinic.models import Doctor, Patient, SOSEvent, SOSRequest
from clinic.permissions import Capability, patient_access
from clinic.selectors import sos_with_history
from core.models import AuditEvent, NotificationKind, Role, User
from core.services import audit_record, notification_create

Status = SOSRequest.Status

DESCRIPTION_MAX_LENGTH = 2000
PLACE_MAX_LENGTH = 300
REASON_MAX_LENGTH = 1000

STAFF_GROUP = "sos.staff"


def sos_status_group(public_id) -> str:
    """The channel-layer group of one request's status pages."""
    return f"sos.request.{public_id}"


def sos_staff_user_group(user_id: int) -> str:
    """The group of one staff member's board sockets (closed when they go off duty)."""
    return f"sos.staff.user.{user_id}"


class SOSError(Exception):
    """A change the rules refuse; `message` is fit to show, `field` names the form field it
    belongs to (None: the whole form)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


# --- Who is told ---------------------------------------------------------------------------------


def sos_staff_users() -> QuerySet[User]:
    """Everyone who receives SOS alerts now: doctors on duty (verified, active) and every
    active admin."""
    on_duty = Q(
        role=Role.DOCTOR,
        doctor__status=Doctor.Status.VERIFIED,
        doctor__on_duty_since__isnull=False,
    )
    return User.objects.filter(is_active=True).filter(on_duty | Q(role=Role.ADMIN))


def user_receives_sos_alerts(user) -> bool:
    """Whether the user is on the staff side of SOS right now (see `sos_staff_users`)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.DOCTOR:
        return False
    doctor = Doctor.objects.filter(user=user).only("status", "on_duty_since").first()
    return doctor is not None and doctor.is_verified and doctor.on_duty_since is not None


def patient_side_users(patient: Patient) -> list[User]:
    """The patient's own login and every active delegate holding the SOS scope on them."""
    users = {}
    if patient.user_id and patient.user.is_active:
        users[patient.user_id] = patient.user
    delegates = get_users_with_perms(
        patient,
        only_with_perms_in=["request_sos_patient"],
        with_group_users=False,
        with_superusers=False,
    )
    for user in delegates.filter(is_active=True):
        users.setdefault(user.pk, user)
    return list(users.values())


def actor_name(user: User | None) -> str:
    """How a person is named in a request's history: "Dr Clara Weiss" for a doctor."""
    if user is None:
        return _("the hospital")
    name = user.get_full_name() or user.email
    if user.role == Role.DOCTOR:
        return _("Dr %(name)s") % {"name": name}
    return name


# --- Live pushes ---------------------------------------------------------------------------------


def sos_push(sos_id: int, *, new: bool = False) -> None:
    """Send the request as it stands to the staff board (a new card at the top, or the card
    replaced in place) and to its status pages. Runs on commit, directly (no queue): an alert
    must arrive within a second."""
    sos = sos_with_history(sos_id)
    context = {"sos": sos, "live": True, "now": timezone.now()}
    layer = get_channel_layer()
    board = render_to_string(
        "clinic/sos_board.html#live_new" if new else "clinic/sos_board.html#live_update", context
    )
    async_to_sync(layer.group_send)(STAFF_GROUP, {"type": "sos.alert", "html": board})
    if not new:
        status = render_to_string("clinic/sos_detail.html#live_status", context)
        async_to_sync(layer.group_send)(
            sos_status_group(sos.public_id), {"type": "sos.status", "html": status}
        )


def _push_on_commit(sos: SOSRequest, *, new: bool = False) -> None:
    sos_id = sos.pk
    transaction.on_commit(lambda: sos_push(sos_id, new=new), robust=True)


STATUS_TITLES = {
    Status.ACKNOWLEDGED: gettext_noop("SOS for %(patient)s acknowledged by %(actor)s"),
    Status.DISPATCHED: gettext_noop("SOS for %(patient)s: help is on the way"),
    Status.RESOLVED: gettext_noop("SOS for %(patient)s resolved"),
    Status.CANCELLED: gettext_noop("SOS for %(patient)s cancelled by %(actor)s"),
    Status.FALSE_ALARM: gettext_noop("SOS for %(patient)s closed as a false alarm"),
}


def _notify_patient_side(sos: SOSRequest, *, by: User | None, note: str = "") -> None:
    """Tell the requester, the patient and the SOS delegates about a change (not whoever made
    it: they saw it happen)."""
    recipients = {user.pk: user for user in patient_side_users(sos.patient)}
    if sos.raised_by.is_active:
        recipients.setdefault(sos.raised_by_id, sos.raised_by)
    title = _(STATUS_TITLES[sos.status]) % {"patient": sos.patient, "actor": actor_name(by)}
    link = reverse("sos_detail", args=[sos.public_id])
    for user in recipients.values():
        if by is not None and user.pk == by.pk:
            continue
        notification_create(
            recipient=user, title=title, body=note, link=link, kind=NotificationKind.SOS
        )


# --- Raising -------------------------------------------------------------------------------------


def _escalation_schedule(sos_id: int, public_id, created_at: datetime) -> None:
    from django_q.models import Schedule
    from django_q.tasks import schedule

    name = f"SOS escalation {public_id}"
    if Schedule.objects.filter(name=name).exists():
        return
    schedule(
        "clinic.tasks.sos_escalate",
        sos_id,
        name=name,
        schedule_type=Schedule.ONCE,
        next_run=created_at + timedelta(seconds=settings.SOS_ESCALATE_AFTER_SECONDS),
    )


@transaction.atomic
def sos_raise(
    *,
    by: User,
    patient: Patient,
    description: str = "",
    place: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    accuracy_m: int | None = None,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> tuple[SOSRequest, bool]:
    """Raise an SOS for the patient (oneself, or someone the user holds the SOS scope on).

    Returns (request, created): while one is open for the patient it is returned as it is,
    with no second alert. A new one alerts every on-duty doctor and admin live (the board and
    a notification), tells the rest of the patient's side, and schedules its escalation."""
    access = patient_access(by, patient)
    if not access.may(Capability.REQUEST_SOS):
        raise PermissionDenied
    description = (description or "").strip()
    place = (place or "").strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise SOSError(
            _("Keep it under %(count)d characters.") % {"count": DESCRIPTION_MAX_LENGTH},
            field="description",
        )
    if len(place) > PLACE_MAX_LENGTH:
        raise SOSError(
            _("Keep it under %(count)d characters.") % {"count": PLACE_MAX_LENGTH}, field="place"
        )
    if (latitude is None) != (longitude is None):
        latitude = longitude = accuracy_m = None
    now = now or timezone.now()
    # Lock the patient: two presses at once make one request, not two.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    existing = (
        SOSRequest.objects.filter(patient=patient, status__in=SOSRequest.OPEN_STATUSES)
        .order_by("-created_at")
        .first()
    )
    if existing is not None:
        return existing, False
    sos = SOSRequest.objects.create(
        patient=patient,
        raised_by=by,
        description=description,
        place=place,
        latitude=latitude,
        longitude=longitude,
        location_accuracy_m=accuracy_m if latitude is not None else None,
        created_at=now,
    )
    SOSEvent.objects.create(sos=sos, status=Status.OPEN, actor=by, at=now)
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=by,
        request=request,
        target=sos,
        patient=patient,
        acting_for_patient=access.acting_for_patient,
        details={"sos": "raised", "location_shared": latitude is not None},
    )
    # The board first: it is what gets help moving.
    _push_on_commit(sos, new=True)
    link = reverse("sos_detail", args=[sos.public_id])
    title = _("SOS: %(patient)s needs help now") % {"patient": patient}
    body = " · ".join(part for part in (description, place) if part)
    for user in sos_staff_users():
        notification_create(
            recipient=user, title=title, body=body, link=link, kind=NotificationKind.SOS,
            email=False,
        )  # fmt: skip
    for user in patient_side_users(patient):
        if user.pk != by.pk:
            notification_create(
                recipient=user,
                title=_("SOS raised for %(patient)s by %(by)s")
                % {"patient": patient, "by": actor_name(by)},
                body=body,
                link=link,
                kind=NotificationKind.SOS,
            )
    sos_id, public_id = sos.pk, sos.public_id
    transaction.on_commit(lambda: _escalation_schedule(sos_id, public_id, now), robust=True)
    return sos, True


# --- Changing the status -------------------------------------------------------------------------


def _staff_may_handle(user: User, sos: SOSRequest) -> bool:
    """Admins always; doctors while on duty, or on a request they acknowledged."""
    if not user.is_active:
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.DOCTOR:
        return False
    doctor = getattr(user, "doctor", None)
    if doctor is None or not doctor.is_verified:
        return False
    return doctor.on_duty_since is not None or sos.acknowledged_by_id == user.pk


def _closed_message(sos: SOSRequest) -> str:
    return _("This request is already closed (%(status)s); it can no longer change.") % {
        "status": sos.get_status_display().lower()
    }


def _clean_reason(reason: str, *, required: bool, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise SOSError(_("Give the reason."), field=field)
    if len(reason) > REASON_MAX_LENGTH:
        raise SOSError(
            _("Keep it under %(count)d characters.") % {"count": REASON_MAX_LENGTH}, field=field
        )
    return reason


def _change(
    *,
    sos: SOSRequest,
    by: User,
    to: str,
    allowed_from: tuple,
    note: str = "",
    request: HttpRequest | None,
    now: datetime | None,
    acting_for_patient: bool = False,
    staff_only: bool = True,
    note_required: bool = False,
    note_field: str = "reason",
) -> SOSRequest:
    """Lock the row, check the user may (on the row as it stands now: who acknowledged it) and
    that the move is allowed from its status, stamp, record, audit, notify and push on commit.
    Returns the updated row; `sos` gets its new values too."""
    now = now or timezone.now()
    locked = (
        SOSRequest.objects.select_for_update(of=("self",))
        .select_related("patient__user", "raised_by", "acknowledged_by")
        .get(pk=sos.pk)
    )
    if staff_only:
        _require_staff(by, locked)
    note = _clean_reason(note, required=note_required, field=note_field)
    if locked.status in SOSRequest.CLOSED_STATUSES:
        raise SOSError(_closed_message(locked))
    if locked.status not in allowed_from:
        if to == Status.ACKNOWLEDGED:
            raise SOSError(
                _("Already acknowledged by %(name)s.")
                % {"name": actor_name(locked.acknowledged_by)}
            )
        raise SOSError(
            _("This request is %(status)s; it cannot be marked %(to)s now.")
            % {
                "status": locked.get_status_display().lower(),
                "to": Status(to).label.lower(),
            }
        )
    fields = ["status"]
    locked.status = to
    if to == Status.ACKNOWLEDGED:
        locked.acknowledged_at, locked.acknowledged_by = now, by
        fields += ["acknowledged_at", "acknowledged_by"]
    elif to == Status.DISPATCHED:
        locked.dispatched_at = now
        fields += ["dispatched_at"]
    else:
        locked.closed_at, locked.closed_by, locked.close_reason = now, by, note
        fields += ["closed_at", "closed_by", "close_reason"]
    locked.save(update_fields=fields)
    SOSEvent.objects.create(sos=locked, status=to, actor=by, note=note, at=now)
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=locked,
        patient=locked.patient,
        acting_for_patient=acting_for_patient,
        reason=note,
        details={"sos": to},
    )
    _notify_patient_side(locked, by=by, note=note)
    _push_on_commit(locked)
    for name in fields:
        setattr(sos, name, getattr(locked, name))
    return locked


def _require_staff(by: User, sos: SOSRequest) -> None:
    if not _staff_may_handle(by, sos):
        raise PermissionDenied


@transaction.atomic
def sos_acknowledge(
    *, sos: SOSRequest, by: User, request: HttpRequest | None = None, now: datetime | None = None
) -> SOSRequest:
    """A staff member takes the request: the patient's page shows who, and when."""
    return _change(
        sos=sos, by=by, to=Status.ACKNOWLEDGED, allowed_from=(Status.OPEN,),
        request=request, now=now,
    )  # fmt: skip


@transaction.atomic
def sos_dispatch(
    *, sos: SOSRequest, by: User, request: HttpRequest | None = None, now: datetime | None = None
) -> SOSRequest:
    """Help is on the way (after the request was acknowledged)."""
    return _change(
        sos=sos, by=by, to=Status.DISPATCHED, allowed_from=(Status.ACKNOWLEDGED,),
        request=request, now=now,
    )  # fmt: skip


@transaction.atomic
def sos_resolve(
    *,
    sos: SOSRequest,
    by: User,
    note: str = "",
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> SOSRequest:
    """The emergency is over, with an optional note. Only once someone has acknowledged it
    (so every resolved request has a response time)."""
    return _change(
        sos=sos, by=by, to=Status.RESOLVED, allowed_from=(Status.ACKNOWLEDGED, Status.DISPATCHED),
        note=note, note_field="note", request=request, now=now,
    )  # fmt: skip


@transaction.atomic
def sos_mark_false_alarm(
    *,
    sos: SOSRequest,
    by: User,
    reason: str,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> SOSRequest:
    """Staff close the request as a false alarm; the reason is required."""
    return _change(
        sos=sos, by=by, to=Status.FALSE_ALARM, allowed_from=SOSRequest.OPEN_STATUSES,
        note=reason, note_required=True, request=request, now=now,
    )  # fmt: skip


@transaction.atomic
def sos_cancel(
    *,
    sos: SOSRequest,
    by: User,
    reason: str = "",
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> SOSRequest:
    """Call the request off. The patient's side (the requester, the patient, a delegate with
    the SOS scope) may, with an optional reason; staff may, with a required one."""
    access = patient_access(by, sos.patient)
    patient_side = access.may(Capability.REQUEST_SOS)
    return _change(
        sos=sos, by=by, to=Status.CANCELLED, allowed_from=SOSRequest.OPEN_STATUSES,
        note=reason, note_required=not patient_side, request=request, now=now,
        acting_for_patient=access.acting_for_patient, staff_only=not patient_side,
    )  # fmt: skip


# --- Escalation ----------------------------------------------------------------------------------


def _escalation_email(sos_id: int, admin_id: int) -> None:
    from django.core.mail import send_mail

    sos = SOSRequest.objects.select_related("patient").get(pk=sos_id)
    admin = User.objects.get(pk=admin_id)
    context = {
        "sos": sos,
        "recipient": admin,
        "minutes": round(settings.SOS_ESCALATE_AFTER_SECONDS / 60, 1),
        "link": settings.SITE_URL.rstrip("/") + reverse("sos_detail", args=[sos.public_id]),
        "board": settings.SITE_URL.rstrip("/") + reverse("sos_board"),
    }
    # The subject names no patient: it shows on lock screens.
    subject = _("SOS not acknowledged: act now")
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}",
        message=render_to_string("clinic/email/sos_escalated.txt", context),
        from_email=None,
        recipient_list=[admin.email],
    )


@transaction.atomic
def sos_escalate(*, sos_id: int, now: datetime | None = None) -> bool:
    """Escalate an SOS nobody acknowledged within SOS_ESCALATE_AFTER_SECONDS to every active
    admin: a notification and an email each, whatever their preferences. Claimed with a
    conditional UPDATE, so however often it runs (the one-off schedule, the minute job, two
    workers at once) it escalates once. Returns whether this run escalated it."""
    now = now or timezone.now()
    due = now - timedelta(seconds=settings.SOS_ESCALATE_AFTER_SECONDS)
    claimed = SOSRequest.objects.filter(
        pk=sos_id, status=Status.OPEN, escalated_at__isnull=True, created_at__lte=due
    ).update(escalated_at=now)
    if not claimed:
        return False
    sos = SOSRequest.objects.select_related("patient").get(pk=sos_id)
    waited = int((now - sos.created_at).total_seconds())
    note = _("Not acknowledged after %(seconds)d seconds: escalated to every admin.") % {
        "seconds": waited
    }
    SOSEvent.objects.create(sos=sos, status=Status.OPEN, actor=None, note=note, at=now)
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor_label="system",
        target=sos,
        patient=sos.patient,
        reason=note,
        details={"sos": "escalated"},
    )
    link = reverse("sos_detail", args=[sos.public_id])
    for admin in User.objects.filter(role=Role.ADMIN, is_active=True):
        notification_create(
            recipient=admin,
            title=_("SOS for %(patient)s not acknowledged: act now") % {"patient": sos.patient},
            body=note,
            link=link,
            kind=NotificationKind.SOS,
            email=False,
        )
        admin_id = admin.pk
        transaction.on_commit(
            lambda admin_id=admin_id: _escalation_email(sos_id, admin_id), robust=True
        )
    _push_on_commit(sos)
    return True


def sos_escalate_overdue(*, now: datetime | None = None) -> int:
    """Escalate every overdue open request (the backstop for a lost one-off schedule)."""
    now = now or timezone.now()
    due = now - timedelta(seconds=settings.SOS_ESCALATE_AFTER_SECONDS)
    overdue = SOSRequest.objects.filter(
        status=Status.OPEN, escalated_at__isnull=True, created_at__lte=due
    ).values_list("pk", flat=True)
    return sum(sos_escalate(sos_id=sos_id, now=now) for sos_id in list(overdue))


# --- On duty -------------------------------------------------------------------------------------


def _close_staff_sockets(user_id: int) -> None:
    async_to_sync(get_channel_layer().group_send)(
        sos_staff_user_group(user_id), {"type": "sos.off_duty"}
    )


@transaction.atomic
def doctor_set_on_duty(
    *,
    doctor: Doctor,
    on_duty: bool,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Doctor:
    """A verified doctor marks herself on duty (she then receives SOS alerts) or off duty (her
    open board sockets close). Setting what already holds changes nothing. Audited."""
    if not doctor.is_verified or not doctor.user.is_active:
        raise PermissionDenied
    locked = Doctor.objects.select_for_update().get(pk=doctor.pk)
    if (locked.on_duty_since is not None) == on_duty:
        doctor.on_duty_since = locked.on_duty_since
        return doctor
    locked.on_duty_since = (now or timezone.now()) if on_duty else None
    locked.save(update_fields=["on_duty_since"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=doctor.user,
        request=request,
        target=locked,
        details={"on_duty": on_duty},
    )
    if not on_duty:
        user_id = doctor.user_id
        transaction.on_commit(lambda: _close_staff_sockets(user_id), robust=True)
    doctor.on_duty_since = locked.on_duty_since
    return doctor
