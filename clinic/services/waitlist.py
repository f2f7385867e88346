"""The waitlist: patients wait for a doctor between two dates; a freed slot in range is offered
to the first in line and held for them for 15 minutes; accepting books it, declining or letting
it expire passes it to the next.

A hold is an open offer whose `expires_at` is still ahead: `clinic.scheduling.slots_free`
counts it as busy for everyone but the offer's patient. Offering, accepting, declining and
leaving all lock the doctor's row first, the same serialization point as booking, then
re-check; the partial unique constraints on offers back the checks.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.models import Appointment, Doctor, Patient, WaitlistEntry, WaitlistOffer
from clinic.permissions import user_may_book_for
from clinic.scheduling import booking_window, hospital_zone, slots_free
from clinic.services.appointments import SchedulingError, _lock_doctor, appointment_book
from core.models import AuditEvent, NotificationKind
from core.services import audit_record, notification_create, notification_email_wanted

logger = logging.getLogger(__name__)

OFFER_HOLD = timedelta(minutes=15)
# How many waiting entries one freed slot looks through for someone who can take it.
CANDIDATES_CHECKED = 50


class WaitlistError(SchedulingError):
    """A waitlist rule said no; `field` names the form field the message belongs next to."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class OfferClosed(WaitlistError):
    """The offer is no longer open (expired, answered or withdrawn)."""


def _today(now: datetime) -> date:
    return now.astimezone(hospital_zone()).date()


def _lock_entry(entry: WaitlistEntry) -> WaitlistEntry:
    return (
        WaitlistEntry.objects.select_for_update(of=("self",))
        .select_related("doctor__user", "patient", "created_by")
        .get(pk=entry.pk)
    )


def _lock_offer(offer: WaitlistOffer) -> WaitlistOffer:
    return (
        WaitlistOffer.objects.select_for_update(of=("self",))
        .select_related("entry__patient", "doctor__user")
        .get(pk=offer.pk)
    )


def offer_closed_message(offer: WaitlistOffer, now: datetime) -> str:
    """Why an offer can no longer be answered, in words fit for the offer page."""
    if offer.status == WaitlistOffer.Status.ACCEPTED:
        return _("This offer has already been accepted.")
    if offer.status == WaitlistOffer.Status.DECLINED:
        return _("This offer was declined; the time went to the next person on the waitlist.")
    if offer.status == WaitlistOffer.Status.WITHDRAWN:
        return _("This offer was withdrawn because the waitlist entry was left.")
    return _(
        "This offer has expired and the time went to the next person on the waitlist. "
        "You keep your place in line for other times."
    )


def _refuse_unless_open(offer: WaitlistOffer, now: datetime) -> None:
    if offer.status != WaitlistOffer.Status.OPEN or offer.expires_at <= now:
        raise OfferClosed(offer_closed_message(offer, now))


def _refuse_unless_may_book_for(user, patient: Patient) -> None:
    if not user_may_book_for(user, patient):
        raise PermissionDenied


# --- Joining and leaving -----------------------------------------------------------------------


@transaction.atomic
def waitlist_join(
    *,
    by,
    patient: Patient,
    doctor: Doctor,
    date_from: date,
    date_to: date,
    reason: str = "",
    request=None,
    now: datetime | None = None,
) -> WaitlistEntry:
    """Put a patient the user may book for on a doctor's waitlist for local dates
    `date_from`..`date_to` (inclusive), between today and the doctor's booking horizon. One
    waiting entry per patient and doctor."""
    now = now or timezone.now()
    _refuse_unless_may_book_for(by, patient)
    doctor = _lock_doctor(doctor)
    if not doctor.is_bookable:
        raise WaitlistError(_("This doctor is not taking bookings."))
    if patient.user_id and patient.user_id == doctor.user_id:
        raise WaitlistError(_("You cannot join your own waitlist."))
    today = _today(now)
    _earliest, latest = booking_window(doctor, now)
    last_day = _today(latest)
    if date_from < today:
        raise WaitlistError(_("The first day cannot be in the past."), field="date_from")
    if date_to < date_from:
        raise WaitlistError(_("The last day must be on or after the first day."), field="date_to")
    if date_to > last_day:
        raise WaitlistError(
            _("This doctor takes bookings up to %(day)s; choose that day or an earlier one.")
            % {"day": f"{last_day:%d %b %Y}"},
            field="date_to",
        )
    already = _("%(patient)s is already on this doctor's waitlist.") % {"patient": patient}
    if WaitlistEntry.objects.filter(
        doctor=doctor, patient=patient, status=WaitlistEntry.Status.WAITING
    ).exists():
        raise WaitlistError(already, field="patient")
    try:
        with transaction.atomic():
            entry = WaitlistEntry.objects.create(
                doctor=doctor,
                patient=patient,
                created_by=by,
                date_from=date_from,
                date_to=date_to,
                reason=reason.strip()[:500],
            )
    except IntegrityError as error:  # a second tab that joined at the same moment
        raise WaitlistError(already, field="patient") from error
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=by,
        request=request,
        target=entry,
        details={
            "patient": str(patient.public_id),
            "doctor": str(doctor.public_id),
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
        },
    )
    return entry


@transaction.atomic
def waitlist_leave(
    *, entry: WaitlistEntry, by, request=None, now: datetime | None = None
) -> WaitlistEntry:
    """Take a waiting entry off the waitlist. An offer it still holds is withdrawn and its slot
    goes to the next in line."""
    now = now or timezone.now()
    _refuse_unless_may_book_for(by, entry.patient)
    _lock_doctor(entry.doctor)
    entry = _lock_entry(entry)
    if entry.status != WaitlistEntry.Status.WAITING:
        raise WaitlistError(_("This waitlist entry is no longer waiting."))
    entry.status = WaitlistEntry.Status.LEFT
    entry.save(update_fields=["status", "updated_at"])
    held = list(entry.offers.filter(status=WaitlistOffer.Status.OPEN))
    entry.offers.filter(status=WaitlistOffer.Status.OPEN).update(
        status=WaitlistOffer.Status.WITHDRAWN, responded_at=now
    )
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=entry,
        details={"status": "left", "offers_withdrawn": len(held)},
    )
    for offer in held:
        _offer_to_next_on_commit(offer, now)
    return entry


# --- Offering a freed slot ---------------------------------------------------------------------


def _offer_recipients(entry: WaitlistEntry) -> list:
    """Whoever put the patient on the waitlist and the patient's own login, once each."""
    users = {entry.created_by_id: entry.created_by}
    if entry.patient.user_id:
        users[entry.patient.user_id] = entry.patient.user
    return [user for user in users.values() if user.is_active]


def _next_in_line(doctor: Doctor, start_at: datetime, end_at: datetime, day: date):
    """The first waiting entry that can take this slot: its range covers the day, it holds no
    other open offer, it was never offered this slot, and its patient has no active visit that
    would clash (at the same time, or with this doctor that day)."""
    offered_this_slot = WaitlistOffer.objects.filter(entry=OuterRef("pk"), start_at=start_at)
    holds_an_offer = WaitlistOffer.objects.filter(
        entry=OuterRef("pk"), status=WaitlistOffer.Status.OPEN
    )
    clashing_visit = (
        Appointment.objects.active()
        .filter(patient=OuterRef("patient"))
        .filter(Q(doctor=doctor, local_date=day) | Q(start_at__lt=end_at, end_at__gt=start_at))
    )
    candidates = (
        WaitlistEntry.objects.filter(
            doctor=doctor,
            status=WaitlistEntry.Status.WAITING,
            date_from__lte=day,
            date_to__gte=day,
        )
        .exclude(Exists(offered_this_slot))
        .exclude(Exists(holds_an_offer))
        .exclude(Exists(clashing_visit))
        .select_related("patient__user", "created_by")
        .order_by("created_at", "pk")
    )
    for entry in candidates[:CANDIDATES_CHECKED]:
        # Whoever joined must still be able to accept (access to a child ends at 18).
        if entry.created_by.is_active and user_may_book_for(entry.created_by, entry.patient):
            return entry
    return None


@transaction.atomic
def waitlist_offer_slot(
    *, doctor_id: int, start_at: datetime, now: datetime | None = None
) -> WaitlistOffer | None:
    """Offer a slot that has just become free to the first in line on the doctor's waitlist,
    and hold it for them for 15 minutes. Does nothing (returns None) when the slot is not free
    and bookable any more, is already offered, or nobody in line can take it; so a second call
    for the same slot changes nothing."""
    now = now or timezone.now()
    doctor = _lock_doctor(Doctor(pk=doctor_id))
    if not doctor.is_bookable:
        return None
    # An open offer whose hold has lapsed still keeps the slot until the expiry job claims it
    # and passes it on: that job is the one place an offer moves down the line.
    if WaitlistOffer.objects.filter(
        doctor=doctor, start_at=start_at, status=WaitlistOffer.Status.OPEN
    ).exists():
        return None
    day = _today(start_at)
    slot = next(
        (slot for slot in slots_free(doctor, day, day, now=now) if slot.start_at == start_at),
        None,
    )
    if slot is None:
        return None
    # The hold never runs past the doctor's minimum notice: the patient must still be able to
    # accept before then.
    expires_at = min(now + OFFER_HOLD, slot.start_at - timedelta(minutes=doctor.min_notice_minutes))
    if expires_at <= now:
        return None
    entry = _next_in_line(doctor, slot.start_at, slot.end_at, day)
    if entry is None:
        return None
    try:
        with transaction.atomic():
            offer = WaitlistOffer.objects.create(
                entry=entry,
                doctor=doctor,
                start_at=slot.start_at,
                end_at=slot.end_at,
                local_date=day,
                mode=slot.mode,
                location=slot.location,
                expires_at=expires_at,
            )
    except IntegrityError:
        return None
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor_label="waitlist",
        target=offer,
        details={
            "entry": str(entry.public_id),
            "start_at": slot.start_at.isoformat(),
            "expires_at": expires_at.isoformat(),
        },
    )
    _notify_offer(offer)
    return offer


def _notify_offer(offer: WaitlistOffer) -> None:
    entry = offer.entry
    zone = hospital_zone()
    when = offer.start_at.astimezone(zone)
    until = offer.expires_at.astimezone(zone)
    link = reverse("waitlist_offer", args=[offer.public_id])
    for recipient in _offer_recipients(entry):
        notification_create(
            recipient=recipient,
            title=_("A time with %(doctor)s is free: %(when)s. Accept by %(until)s.")
            % {"doctor": offer.doctor, "when": f"{when:%d %b %H:%M}", "until": f"{until:%H:%M}"},
            link=link,
            kind=NotificationKind.WAITLIST,
            # The offer's own email says more (how, where, until when).
            email=False,
        )
        if notification_email_wanted(recipient, NotificationKind.WAITLIST):
            transaction.on_commit(
                lambda recipient=recipient: _offer_email(offer.pk, recipient), robust=True
            )


def _offer_email(offer_id: int, recipient) -> None:
    from django.conf import settings
    from django.core.mail import send_mail
    from django.template.loader import render_to_string

    offer = WaitlistOffer.objects.select_related("entry__patient", "doctor__user").get(pk=offer_id)
    zone = hospital_zone()
    when = offer.start_at.astimezone(zone)
    context = {
        "offer": offer,
        "when": when,
        "until": offer.expires_at.astimezone(zone),
        "recipient": recipient,
        "link": settings.SITE_URL.rstrip("/") + reverse("waitlist_offer", args=[offer.public_id]),
        "emergency_number": settings.EMERGENCY_NUMBER,
    }
    # The subject says when, never why: it shows on lock screens and in shared inboxes.
    subject = _("A free appointment time for you: %(when)s") % {"when": f"{when:%a %d %b, %H:%M}"}
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}",
        message=render_to_string("clinic/email/waitlist_offer.txt", context),
        from_email=None,
        recipient_list=[recipient.email],
    )


def _offer_to_next_on_commit(offer: WaitlistOffer, now: datetime) -> None:
    transaction.on_commit(
        lambda: waitlist_offer_slot(doctor_id=offer.doctor_id, start_at=offer.start_at, now=now),
        robust=True,
    )


# --- Answering an offer ------------------------------------------------------------------------


@transaction.atomic
def waitlist_offer_accept(
    *, offer: WaitlistOffer, by, request=None, now: datetime | None = None
) -> Appointment:
    """Book the held slot for the offer's patient through the booking service, while the offer
    is open and its hold has not lapsed; the entry is then booked and leaves the line."""
    now = now or timezone.now()
    _refuse_unless_may_book_for(by, offer.entry.patient)
    doctor = _lock_doctor(offer.doctor)
    offer = _lock_offer(offer)
    _refuse_unless_open(offer, now)
    entry = offer.entry
    appointment = appointment_book(
        booked_by=by,
        patient=entry.patient,
        doctor=doctor,
        start_at=offer.start_at,
        reason=entry.reason,
        request=request,
        now=now,
        offer=offer,
    )
    offer.status = WaitlistOffer.Status.ACCEPTED
    offer.responded_at = now
    offer.appointment = appointment
    offer.save(update_fields=["status", "responded_at", "appointment"])
    WaitlistEntry.objects.filter(pk=entry.pk).update(
        status=WaitlistEntry.Status.BOOKED, updated_at=now
    )
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=offer,
        details={"status": "accepted", "appointment": str(appointment.public_id)},
    )
    return appointment


@transaction.atomic
def waitlist_offer_decline(
    *, offer: WaitlistOffer, by, request=None, now: datetime | None = None
) -> WaitlistOffer:
    """Say no to this time: the slot goes to the next in line at once. The entry keeps its
    place for other times."""
    now = now or timezone.now()
    _refuse_unless_may_book_for(by, offer.entry.patient)
    _lock_doctor(offer.doctor)
    offer = _lock_offer(offer)
    _refuse_unless_open(offer, now)
    offer.status = WaitlistOffer.Status.DECLINED
    offer.responded_at = now
    offer.save(update_fields=["status", "responded_at"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=offer,
        details={"status": "declined"},
    )
    _offer_to_next_on_commit(offer, now)
    return offer


# --- The periodic job --------------------------------------------------------------------------


def waitlist_offers_expire(*, now: datetime | None = None) -> int:
    """Expire open offers whose hold has lapsed and offer each slot to the next in line; end
    waiting entries whose last day has passed. Each offer is claimed with a conditional
    UPDATE, so of two runs only one passes it on. Returns how many offers this run expired."""
    now = now or timezone.now()
    expired = 0
    due = WaitlistOffer.objects.filter(
        status=WaitlistOffer.Status.OPEN, expires_at__lte=now
    ).order_by("expires_at", "pk")
    for offer_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            claimed = WaitlistOffer.objects.filter(
                pk=offer_id, status=WaitlistOffer.Status.OPEN, expires_at__lte=now
            ).update(status=WaitlistOffer.Status.EXPIRED)
            if not claimed:
                continue
            offer = WaitlistOffer.objects.select_related(
                "entry__patient__user", "entry__created_by", "doctor__user"
            ).get(pk=offer_id)
            audit_record(
                action=AuditEvent.Action.UPDATE,
                actor_label="waitlist expiry",
                target=offer,
                details={"status": "expired"},
            )
            when = offer.start_at.astimezone(hospital_zone())
            for recipient in _offer_recipients(offer.entry):
                notification_create(
                    recipient=recipient,
                    title=_(
                        "The offer of %(when)s with %(doctor)s has expired. "
                        "You are still on the waitlist."
                    )
                    % {"when": f"{when:%d %b %H:%M}", "doctor": offer.doctor},
                    link=reverse("waitlist_list"),
                    kind=NotificationKind.WAITLIST,
                    # The offer's email said what happens when it lapses; no second email.
                    email=False,
                )
        expired += 1
        try:
            waitlist_offer_slot(doctor_id=offer.doctor_id, start_at=offer.start_at, now=now)
        except Exception:  # one bad slot must not stop the rest of the run
            logger.exception(
                "Offering slot %s of doctor %s failed", offer.start_at, offer.doctor_id
            )
    _entries_end(now)
    return expired


def _entries_end(now: datetime) -> int:
    """Waiting entries whose last day is before today become `ended`."""
    ended = 0
    past = WaitlistEntry.objects.filter(
        status=WaitlistEntry.Status.WAITING, date_to__lt=_today(now)
    )
    for entry_id in list(past.values_list("pk", flat=True)):
        with transaction.atomic():
            if not WaitlistEntry.objects.filter(
                pk=entry_id, status=WaitlistEntry.Status.WAITING
            ).update(status=WaitlistEntry.Status.ENDED, updated_at=now):
                continue
            audit_record(
                action=AuditEvent.Action.UPDATE,
                actor_label="waitlist expiry",
                target=WaitlistEntry.objects.select_related("patient", "doctor__user").get(
                    pk=entry_id
                ),
                details={"status": "ended"},
            )
        ended += 1
    return ended
