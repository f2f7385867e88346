"""Prescriptions, refills, saved addresses and home delivery.

Each service is keyword-only, atomic and audited; notifications go out on commit (through
`notification_create`). A rule that says no raises `PrescriptionError` with a message fit to show
next to the form; an actor who may not do the thing at all gets `PermissionDenied`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.models import (
    Address,
    Appointment,
    Delivery,
    Prescription,
    PrescriptionItem,
    RefillRequest,
)
from clinic.permissions import Capability, patient_access
from clinic.scheduling import hospital_zone
from clinic.services.appointments import appointment_complete
from core.models import AuditEvent, NotificationKind, Role
from core.services import audit_record, notification_create

if TYPE_CHECKING:
    from django.http import HttpRequest

    from core.models import User


class PrescriptionError(Exception):
    """A prescription, refill, address or delivery rule said no; `message` is fit to show the
    user, `field` names the form field it belongs to (None: the whole form)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


ITEM_FIELDS = (
    "medication",
    "strength",
    "form",
    "dose",
    "route",
    "frequency",
    "duration",
    "quantity",
    "instructions",
)
ITEM_REQUIRED = ("medication", "dose", "frequency")


# --- Prescriptions ------------------------------------------------------------------------------


def _clean_items(items: Sequence[Mapping]) -> list[dict]:
    cleaned = []
    for item in items:
        row = {name: item.get(name) for name in ITEM_FIELDS}
        for name in ITEM_FIELDS:
            if name != "quantity":
                row[name] = (row[name] or "").strip()
        if not any(row[name] for name in ITEM_FIELDS):
            continue  # a blank row of the form
        missing = [name for name in ITEM_REQUIRED if not row[name]]
        if missing:
            raise PrescriptionError(
                _("Each medication needs a name, a dose and a frequency."), field="items"
            )
        cleaned.append(row)
    if not cleaned:
        raise PrescriptionError(_("Add at least one medication."), field="items")
    return cleaned


def _readers_to_notify(patient, *also) -> list:
    """The patient's own login and the given users who may read the patient's records, once
    each (a parent who booked gets told; someone who may only book does not)."""
    users = {}
    if patient.user_id and patient.user.is_active:
        users[patient.user_id] = patient.user
    for user in also:
        if user is None or user.pk in users or not user.is_active:
            continue
        if patient_access(user, patient).may(Capability.VIEW_RECORDS):
            users[user.pk] = user
    return list(users.values())


@transaction.atomic
def prescription_issue(
    *,
    appointment: Appointment,
    by: User,
    items: Sequence[Mapping],
    recommended_tests: str = "",
    advice: str = "",
    follow_up_on: date | None = None,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Prescription:
    """The appointment's own doctor issues a prescription during the visit (an active
    appointment that has started); issuing completes the visit in the same transaction.

    Blank item rows are ignored; at least one item, each with medication, dose and frequency."""
    now = now or timezone.now()
    appointment = (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("doctor__user", "patient__user", "booked_by")
        .get(pk=appointment.pk)
    )
    if appointment.doctor.user_id != by.pk or not appointment.doctor.is_verified:
        raise PermissionDenied
    if Prescription.objects.filter(appointment=appointment).exists():
        raise PrescriptionError(_("A prescription was already issued for this visit."))
    if not appointment.is_active:
        raise PrescriptionError(
            _("This visit is %(status)s: a prescription is issued during an active visit.")
            % {"status": appointment.get_status_display().lower()}
        )
    if appointment.start_at > now:
        raise PrescriptionError(_("A prescription can be issued once the visit has started."))
    rows = _clean_items(items)
    if follow_up_on is not None and follow_up_on < now.astimezone(hospital_zone()).date():
        raise PrescriptionError(_("The follow-up date cannot be in the past."), "follow_up_on")
    prescription = Prescription.objects.create(
        patient=appointment.patient,
        doctor=appointment.doctor,
        appointment=appointment,
        recommended_tests=recommended_tests.strip(),
        advice=advice.strip(),
        follow_up_on=follow_up_on,
        issued_at=now,
    )
    PrescriptionItem.objects.bulk_create(
        PrescriptionItem(prescription=prescription, **row) for row in rows
    )
    appointment_complete(appointment=appointment, by=by, now=now)
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=by,
        request=request,
        target=prescription,
        patient=prescription.patient,
        details={"items": len(rows), "appointment": str(appointment.public_id)},
    )
    link = reverse("prescription_detail", args=[prescription.public_id])
    for recipient in _readers_to_notify(appointment.patient, appointment.booked_by):
        notification_create(
            recipient=recipient,
            title=_("%(doctor)s issued a prescription") % {"doctor": appointment.doctor},
            link=link,
            kind=NotificationKind.PRESCRIPTION,
        )
    return prescription


def _lock_prescription(prescription: Prescription) -> Prescription:
    return (
        Prescription.objects.select_for_update(of=("self",))
        .select_related("patient__user", "doctor__user")
        .get(pk=prescription.pk)
    )


def _access_to_act_for(user: User, prescription: Prescription):
    """Asking for a refill or a delivery is acting for the patient: it needs reading their
    prescriptions and managing their care (the booking scope), not reading alone."""
    access = patient_access(user, prescription.patient)
    if not (access.may(Capability.VIEW_RECORDS) and access.may(Capability.BOOK)):
        raise PermissionDenied
    return access


# --- Refills ------------------------------------------------------------------------------------


@transaction.atomic
def refill_request(
    *,
    prescription: Prescription,
    by: User,
    note: str = "",
    request: HttpRequest | None = None,
) -> RefillRequest:
    """The patient, or someone who reads and books for them, asks the prescribing doctor for a
    refill. One open request per prescription (the database backs the check)."""
    prescription = _lock_prescription(prescription)
    access = _access_to_act_for(by, prescription)
    if RefillRequest.objects.filter(
        prescription=prescription, status=RefillRequest.Status.REQUESTED
    ).exists():
        raise PrescriptionError(_("A refill of this prescription is already waiting."))
    try:
        with transaction.atomic():
            refill = RefillRequest.objects.create(
                prescription=prescription, requested_by=by, note=note.strip()[:500]
            )
    except IntegrityError:
        raise PrescriptionError(_("A refill of this prescription is already waiting.")) from None
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=by,
        request=request,
        target=refill,
        patient=prescription.patient,
        acting_for_patient=access.acting_for_patient,
    )
    notification_create(
        recipient=prescription.doctor.user,
        title=_("Refill requested for %(patient)s") % {"patient": prescription.patient},
        body=refill.note,
        link=reverse("doctor_refills"),
        kind=NotificationKind.PRESCRIPTION,
    )
    return refill


@transaction.atomic
def refill_decide(
    *,
    refill: RefillRequest,
    by: User,
    approve: bool,
    reason: str = "",
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> RefillRequest:
    """The prescribing doctor approves (a new prescription with the same items, pointing at the
    original) or declines with a reason. Either way the requester is told."""
    now = now or timezone.now()
    refill = (
        RefillRequest.objects.select_for_update(of=("self",))
        .select_related("prescription__patient__user", "prescription__doctor__user", "requested_by")
        .get(pk=refill.pk)
    )
    original = refill.prescription
    doctor = original.doctor
    if doctor.user_id != by.pk or not doctor.is_verified:
        raise PermissionDenied
    if refill.status != RefillRequest.Status.REQUESTED:
        raise PrescriptionError(_("This refill request has already been answered."))
    reason = reason.strip()
    if not approve and not reason:
        raise PrescriptionError(_("Please give a reason for declining."), field="reason")
    refill.decided_at = now
    refill.decided_by = doctor
    refill.decision_reason = reason[:500]
    if approve:
        renewal = Prescription.objects.create(
            patient=original.patient,
            doctor=doctor,
            appointment=None,
            refill_of=original,
            recommended_tests=original.recommended_tests,
            advice=original.advice,
            issued_at=now,
        )
        PrescriptionItem.objects.bulk_create(
            PrescriptionItem(
                prescription=renewal, **{name: getattr(item, name) for name in ITEM_FIELDS}
            )
            for item in original.items.all()
        )
        refill.status = RefillRequest.Status.APPROVED
        refill.new_prescription = renewal
        audit_record(
            action=AuditEvent.Action.CREATE,
            actor=by,
            request=request,
            target=renewal,
            patient=original.patient,
            details={"refill_of": str(original.public_id)},
        )
    else:
        refill.status = RefillRequest.Status.DECLINED
    refill.save(
        update_fields=["status", "decided_at", "decided_by", "decision_reason", "new_prescription"]
    )
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=refill,
        patient=original.patient,
        details={"status": refill.status},
    )
    if approve:
        title = _("%(doctor)s approved your refill") % {"doctor": doctor}
        link = reverse("prescription_detail", args=[refill.new_prescription.public_id])
    else:
        title = _("%(doctor)s declined your refill") % {"doctor": doctor}
        link = reverse("prescription_detail", args=[original.public_id])
    notification_create(
        recipient=refill.requested_by,
        title=title,
        body=reason,
        link=link,
        kind=NotificationKind.PRESCRIPTION,
    )
    return refill


# --- Saved addresses ----------------------------------------------------------------------------

ADDRESS_FIELDS = (
    "label",
    "recipient_name",
    "line1",
    "line2",
    "postal_code",
    "city",
    "country",
    "phone",
)
ADDRESS_REQUIRED = ("recipient_name", "line1", "postal_code", "city")


def _clean_address(fields: Mapping[str, str]) -> dict:
    cleaned = {name: (fields.get(name) or "").strip() for name in ADDRESS_FIELDS if name in fields}
    for name in ADDRESS_REQUIRED:
        if name in cleaned and not cleaned[name]:
            raise PrescriptionError(_("This field is required."), field=name)
    if "country" in cleaned and not cleaned["country"]:
        cleaned["country"] = "Germany"
    return cleaned


def _lock_owner(owner: User) -> None:
    """Serialise default changes per owner: the user row is the lock."""
    from django.contrib.auth import get_user_model

    get_user_model().objects.select_for_update(of=("self",)).filter(pk=owner.pk).first()


def _refuse_unless_owner(address: Address, by: User) -> None:
    if address.owner_id != by.pk:
        raise PermissionDenied


def _make_default(address: Address) -> None:
    # Unset the old default first: the partial unique index never sees two.
    Address.objects.filter(owner_id=address.owner_id, is_default=True).exclude(
        pk=address.pk
    ).update(is_default=False)
    if not address.is_default:
        address.is_default = True
        address.save(update_fields=["is_default"])


@transaction.atomic
def address_add(
    *,
    owner: User,
    fields: Mapping[str, str],
    make_default: bool = False,
    request: HttpRequest | None = None,
) -> Address:
    """Save an address for the owner. Their first address becomes the default."""
    cleaned = _clean_address({name: fields.get(name, "") for name in ADDRESS_FIELDS})
    _lock_owner(owner)
    first = not Address.objects.filter(owner=owner, archived_at__isnull=True).exists()
    address = Address.objects.create(owner=owner, **cleaned)
    if make_default or first:
        _make_default(address)
    audit_record(action=AuditEvent.Action.CREATE, actor=owner, request=request, target=address)
    return address


@transaction.atomic
def address_update(
    *,
    address: Address,
    by: User,
    fields: Mapping[str, str],
    request: HttpRequest | None = None,
) -> Address:
    """Edit an address; deliveries already requested keep the text they were sent to."""
    _refuse_unless_owner(address, by)
    if address.archived_at is not None:
        raise PrescriptionError(_("This address was removed and can no longer be changed."))
    cleaned = _clean_address(fields)
    for name, value in cleaned.items():
        setattr(address, name, value)
    address.save(update_fields=list(cleaned))
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=address,
        details={"fields": sorted(cleaned)},
    )
    return address


@transaction.atomic
def address_set_default(
    *, address: Address, by: User, request: HttpRequest | None = None
) -> Address:
    """Make this the owner's default address; the old default stops being one in the same
    transaction."""
    _refuse_unless_owner(address, by)
    _lock_owner(by)
    address.refresh_from_db()
    if address.archived_at is not None:
        raise PrescriptionError(_("A removed address cannot be the default."))
    _make_default(address)
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=address,
        details={"is_default": True},
    )
    return address


@transaction.atomic
def address_archive(
    *,
    address: Address,
    by: User,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Address:
    """Remove an address from the list (kept for the deliveries that used it). Removing the
    default makes the most recently added remaining address the default, if any."""
    _refuse_unless_owner(address, by)
    _lock_owner(by)
    address.refresh_from_db()
    if address.archived_at is not None:
        return address
    was_default = address.is_default
    address.archived_at = now or timezone.now()
    address.is_default = False
    address.save(update_fields=["archived_at", "is_default"])
    if was_default:
        successor = (
            Address.objects.filter(owner=by, archived_at__isnull=True)
            .order_by("-created_at", "-pk")
            .first()
        )
        if successor is not None:
            _make_default(successor)
    audit_record(action=AuditEvent.Action.DELETE, actor=by, request=request, target=address)
    return address


# --- Delivery -----------------------------------------------------------------------------------

S = Delivery.Status
DELIVERY_TRANSITIONS = {
    S.REQUESTED: (S.PREPARING, S.CANCELLED),
    S.PREPARING: (S.DISPATCHED, S.CANCELLED),
    S.DISPATCHED: (S.DELIVERED, S.FAILED),
}
OPEN_DELIVERY_STATUSES = tuple(DELIVERY_TRANSITIONS)


def address_text(address: Address) -> str:
    lines = [
        address.recipient_name,
        address.line1,
        address.line2,
        f"{address.postal_code} {address.city}".strip(),
        address.country,
        address.phone,
    ]
    return "\n".join(line for line in lines if line)


def _delivery_recipients(delivery: Delivery) -> list:
    return _readers_to_notify(delivery.prescription.patient, delivery.requested_by)


@transaction.atomic
def delivery_request(
    *,
    prescription: Prescription,
    address: Address,
    by: User,
    request: HttpRequest | None = None,
) -> Delivery:
    """Ask for home delivery of a prescription to one of the user's own saved addresses. The
    address text is copied: editing the address later does not move the parcel. One open
    delivery per prescription (the database backs the check)."""
    prescription = _lock_prescription(prescription)
    access = _access_to_act_for(by, prescription)
    if address.owner_id != by.pk or address.archived_at is not None:
        raise PrescriptionError(_("Choose one of your saved addresses."), field="address")
    if Delivery.objects.filter(
        prescription=prescription, status__in=OPEN_DELIVERY_STATUSES
    ).exists():
        raise PrescriptionError(_("A delivery of this prescription is already under way."))
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(
                prescription=prescription,
                address=address,
                address_text=address_text(address),
                requested_by=by,
            )
    except IntegrityError:
        raise PrescriptionError(
            _("A delivery of this prescription is already under way.")
        ) from None
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=by,
        request=request,
        target=delivery,
        patient=prescription.patient,
        acting_for_patient=access.acting_for_patient,
    )
    from core.models import User

    for admin in User.objects.filter(role=Role.ADMIN, is_active=True):
        notification_create(
            recipient=admin,
            title=_("New delivery request"),
            link=reverse("operations_deliveries"),
            kind=NotificationKind.DELIVERY,
        )
    return delivery


STEP_TITLES = {
    S.PREPARING: _("Your delivery is being prepared"),
    S.DISPATCHED: _("Your delivery is on its way"),
    S.DELIVERED: _("Your delivery has arrived"),
    S.FAILED: _("Your delivery could not be made"),
    S.CANCELLED: _("Your delivery was cancelled"),
}


@transaction.atomic
def delivery_advance(
    *,
    delivery: Delivery,
    by: User,
    status: str,
    note: str = "",
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Delivery:
    """Staff (admins, for now) move a delivery one valid step on; each step is stamped,
    audited and notified to the requester (and the patient, if they have a login)."""
    now = now or timezone.now()
    if by.role != Role.ADMIN:
        raise PermissionDenied
    delivery = (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("prescription__patient__user", "requested_by")
        .get(pk=delivery.pk)
    )
    previous = delivery.status
    if status not in DELIVERY_TRANSITIONS.get(previous, ()):
        raise PrescriptionError(
            _("A delivery that is %(from)s cannot become %(to)s.")
            % {
                "from": delivery.get_status_display().lower(),
                "to": dict(S.choices).get(status, status),
            },
            field="status",
        )
    note = note.strip()[:500]
    if status == S.FAILED and not note:
        raise PrescriptionError(_("Please say why the delivery failed."), field="note")
    delivery.status = status
    setattr(delivery, f"{status}_at", now)
    fields = ["status", f"{status}_at"]
    if note:
        delivery.note = note
        fields.append("note")
    delivery.save(update_fields=fields)
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=delivery,
        patient=delivery.prescription.patient,
        details={"from": previous, "to": status},
    )
    link = reverse("delivery_detail", args=[delivery.public_id])
    for recipient in _delivery_recipients(delivery):
        notification_create(
            recipient=recipient,
            title=STEP_TITLES[status],
            body=note,
            link=link,
            kind=NotificationKind.DELIVERY,
        )
    return delivery


@transaction.atomic
def delivery_cancel(
    *,
    delivery: Delivery,
    by: User,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Delivery:
    """The requester calls off a delivery nobody has started preparing yet."""
    now = now or timezone.now()
    delivery = (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("prescription__patient")
        .get(pk=delivery.pk)
    )
    if delivery.requested_by_id != by.pk:
        raise PermissionDenied
    if delivery.status != S.REQUESTED:
        raise PrescriptionError(
            _("This delivery is already %(status)s and can no longer be cancelled online.")
            % {"status": delivery.get_status_display().lower()}
        )
    delivery.status = S.CANCELLED
    delivery.cancelled_at = now
    delivery.save(update_fields=["status", "cancelled_at"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=delivery,
        patient=delivery.prescription.patient,
        acting_for_patient=patient_access(by, delivery.prescription.patient).acting_for_patient,
        details={"from": S.REQUESTED, "to": S.CANCELLED},
    )
    return delivery
