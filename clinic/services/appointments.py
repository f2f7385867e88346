"""Appointments: booking, the lifecycle, reminders and the no-show sweep."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.models import Appointment, Doctor, Patient, WaitlistOffer
from clinic.permissions import user_may_book_for
from clinic.scheduling import hospital_zone, slots_free, slots_generate
from core.models import AuditEvent, NotificationKind, Role
from core.services import audit_record, notification_create, notification_email_wanted


class SchedulingError(Exception):
    """A booking rule said no; `message` is fit to show the user next to the form."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SlotTaken(SchedulingError):
    pass


def _slot_taken_message(error: IntegrityError) -> str:
    text = str(error)
    if "patient_overlap" in text:
        return _("The patient already has an appointment at that time.")
    if "one_active_per_patient_doctor_day" in text or "local_date" in text:
        return _("The patient already has an appointment with this doctor that day.")
    return _("This slot was just taken. Please choose another time.")


def _create_in_slot(
    *,
    doctor: Doctor,
    patient: Patient,
    booked_by,
    start_at: datetime,
    reason: str,
    now: datetime,
    ignore_appointment_id: int | None = None,
    offer: WaitlistOffer | None = None,
) -> Appointment:
    """Check the slot against the rules under the doctor's row lock, then insert; the database
    constraints back the check against anything that slipped past it. A slot held for a
    waitlist offer is taken for everyone but that offer's patient (`offer`)."""
    if not doctor.is_bookable:
        raise SchedulingError(_("This doctor is not taking bookings."))
    if doctor.user_id == booked_by.pk or (patient.user_id and patient.user_id == doctor.user_id):
        raise SchedulingError(_("You cannot book an appointment with yourself."))
    day = start_at.astimezone(hospital_zone()).date()
    generated = {slot.start_at: slot for slot in slots_generate(doctor, day, day)}
    if start_at not in generated:
        raise SchedulingError(_("That time is not one of the doctor's appointment slots."))
    free = {
        slot.start_at: slot
        for slot in slots_free(
            doctor,
            day,
            day,
            now=now,
            ignore_appointment_id=ignore_appointment_id,
            ignore_offer_id=offer.pk if offer is not None else None,
        )
    }
    if start_at not in free:
        earliest = now + timedelta(minutes=doctor.min_notice_minutes)
        if start_at < earliest or start_at > now + timedelta(days=doctor.horizon_days):
            raise SchedulingError(_("That time can no longer be booked online."))
        raise SlotTaken(_("This slot was just taken. Please choose another time."))
    slot = free[start_at]
    status = (
        Appointment.Status.PENDING if doctor.requires_confirmation else Appointment.Status.CONFIRMED
    )
    try:
        with transaction.atomic():
            return Appointment.objects.create(
                doctor=doctor,
                patient=patient,
                booked_by=booked_by,
                start_at=slot.start_at,
                end_at=slot.end_at,
                local_date=day,
                mode=slot.mode,
                location=slot.location,
                reason=reason.strip()[:500],
                status=status,
                confirmed_at=now if status == Appointment.Status.CONFIRMED else None,
            )
    except IntegrityError as error:
        raise SlotTaken(_slot_taken_message(error)) from error


def _lock_doctor(doctor: Doctor) -> Doctor:
    # Bookings for one doctor queue here; the re-check that follows sees every earlier one.
    return Doctor.objects.select_for_update().select_related("user").get(pk=doctor.pk)


def _appointment_email(appointment: Appointment, *, method: str) -> None:
    """Email the patient's login and the booker, with the calendar file attached, unless they
    chose not to get appointment emails."""
    from django.conf import settings
    from django.core.mail import EmailMessage
    from django.template.loader import render_to_string

    from clinic.calendar import appointment_ics

    appointment = Appointment.objects.select_related(
        "doctor__user", "patient__user", "booked_by", "rescheduled_to"
    ).get(pk=appointment.pk)
    when = appointment.start_at.astimezone(hospital_zone())
    moved_to = None
    if appointment.status == Appointment.Status.RESCHEDULED and appointment.rescheduled_to:
        moved_to = appointment.rescheduled_to.start_at.astimezone(hospital_zone())
    if method == "CANCEL" and moved_to:
        # The old time leaves the calendar; the new one comes in its own message.
        subject = _("Appointment moved: %(when)s")
    elif method == "CANCEL":
        subject = _("Appointment cancelled: %(when)s")
    elif appointment.status == Appointment.Status.PENDING:
        subject = _("Appointment requested: %(when)s")
    else:
        subject = _("Appointment confirmed: %(when)s")
    subject = subject % {"when": f"{when:%a %d %b, %H:%M}"}
    ics = appointment_ics(appointment, method=method)
    for recipient in _reminder_recipients(appointment):
        if not notification_email_wanted(recipient, NotificationKind.APPOINTMENT):
            continue
        body = render_to_string(
            "clinic/email/appointment_update.txt",
            {
                "appointment": appointment,
                "when": when,
                "recipient": recipient,
                "method": method,
                "moved_to": moved_to,
                "emergency_number": settings.EMERGENCY_NUMBER,
            },
        )
        message = EmailMessage(
            subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}",
            body=body,
            to=[recipient.email],
        )
        message.attach("appointment.ics", ics, f"text/calendar; method={method}")
        message.send()


def _notify_booking(appointment: Appointment) -> None:
    """Tell the doctor, the booker and the patient's own login. The doctor's notice comes by
    email as she prefers; the others get `_appointment_email` with the calendar file."""
    when = appointment.start_at.astimezone(hospital_zone())
    link = reverse("appointment_detail", args=[appointment.public_id])
    notification_create(
        recipient=appointment.doctor.user,
        title=_("New appointment on %(when)s") % {"when": f"{when:%d %b %H:%M}"},
        link=link,
        kind=NotificationKind.APPOINTMENT,
    )
    for recipient in _reminder_recipients(appointment):
        notification_create(
            recipient=recipient,
            title=_("Appointment booked with %(doctor)s on %(when)s")
            % {"doctor": appointment.doctor, "when": f"{when:%d %b %H:%M}"},
            link=link,
            kind=NotificationKind.APPOINTMENT,
            email=False,
        )


def _notify_reschedule(old: Appointment, successor: Appointment, by) -> None:
    """Tell the doctor (unless she moved it herself), the booker and the patient's own login
    where the visit went; the latter two get the calendar emails instead of this one's."""
    zone = hospital_zone()
    moves = {
        "from": f"{old.start_at.astimezone(zone):%d %b %H:%M}",
        "to": f"{successor.start_at.astimezone(zone):%d %b %H:%M}",
    }
    link = reverse("appointment_detail", args=[successor.public_id])
    if by.pk != old.doctor.user_id:
        notification_create(
            recipient=old.doctor.user,
            title=_("Appointment moved from %(from)s to %(to)s") % moves,
            link=link,
            kind=NotificationKind.APPOINTMENT,
        )
    for recipient in _reminder_recipients(successor):
        notification_create(
            recipient=recipient,
            title=_("Appointment with %(doctor)s moved to %(to)s")
            % {**moves, "doctor": old.doctor},
            link=link,
            kind=NotificationKind.APPOINTMENT,
            email=False,
        )


def _notify_cancel(appointment: Appointment, by) -> None:
    """Tell whoever did not cancel it themself: the doctor (her agenda refreshes live), and the
    booker and the patient's own login when the doctor or an admin cancelled. These two get
    the calendar email instead of this one's."""
    when = appointment.start_at.astimezone(hospital_zone())
    link = reverse("appointment_detail", args=[appointment.public_id])
    if by.pk != appointment.doctor.user_id:
        notification_create(
            recipient=appointment.doctor.user,
            title=_("Appointment cancelled: %(when)s") % {"when": f"{when:%d %b %H:%M}"},
            link=link,
            kind=NotificationKind.APPOINTMENT,
        )
    for recipient in _reminder_recipients(appointment):
        if recipient.pk == by.pk:
            continue
        notification_create(
            recipient=recipient,
            title=_("Your appointment with %(doctor)s on %(when)s was cancelled")
            % {"doctor": appointment.doctor, "when": f"{when:%d %b %H:%M}"},
            body=appointment.cancellation_reason,
            link=link,
            kind=NotificationKind.APPOINTMENT,
            email=False,
        )


@transaction.atomic
def appointment_book(
    *,
    booked_by,
    patient: Patient,
    doctor: Doctor,
    start_at: datetime,
    reason: str = "",
    request=None,
    now: datetime | None = None,
    offer: WaitlistOffer | None = None,
) -> Appointment:
    """Book a slot. Patient, doctor, times and status are decided here, never by the client:
    the caller passes the patient the user may act for and the slot start they picked.

    `offer` books the slot a waitlist offer holds for this patient (the waitlist service
    checks the offer is still open under the same doctor lock)."""
    now = now or timezone.now()
    if not user_may_book_for(booked_by, patient):
        raise PermissionDenied
    if offer is not None and (
        offer.entry.patient_id != patient.pk
        or offer.doctor_id != doctor.pk
        or offer.start_at != start_at
    ):
        raise PermissionDenied
    doctor = _lock_doctor(doctor)
    appointment = _create_in_slot(
        doctor=doctor,
        patient=patient,
        booked_by=booked_by,
        start_at=start_at,
        reason=reason,
        now=now,
        offer=offer,
    )
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=booked_by,
        request=request,
        target=appointment,
        details={"patient": str(patient.public_id), "doctor": str(doctor.public_id)},
    )
    _notify_booking(appointment)
    transaction.on_commit(lambda: _appointment_email(appointment, method="REQUEST"), robust=True)
    return appointment


def _lock_appointment(appointment: Appointment) -> Appointment:
    return (
        Appointment.objects.select_for_update()
        .select_related("doctor__user", "patient")
        .get(pk=appointment.pk)
    )


def _refuse_unless_active(appointment: Appointment, action: str) -> None:
    if not appointment.is_active:
        raise SchedulingError(
            _("This appointment is %(status)s and cannot be %(action)s.")
            % {"status": appointment.get_status_display().lower(), "action": action}
        )


def _is_staff_actor(user, appointment: Appointment) -> bool:
    return user.role == Role.ADMIN or appointment.doctor.user_id == user.pk


def _refuse_unless_participant(user, appointment: Appointment, *, action: str, now) -> None:
    """Only the doctor, an admin, or someone who may book for the patient changes an
    appointment; a patient or proxy only before the doctor's cut-off."""
    if _is_staff_actor(user, appointment):
        return
    if not user_may_book_for(user, appointment.patient):
        raise PermissionDenied
    cutoff = appointment.start_at - timedelta(minutes=appointment.doctor.cancel_cutoff_minutes)
    if now > cutoff:
        raise SchedulingError(
            _("It is too late to %(action)s online. Please call the hospital.") % {"action": action}
        )


@transaction.atomic
def appointment_cancel(
    *, appointment: Appointment, by, reason: str, request=None, now: datetime | None = None
) -> Appointment:
    """Cancel with a reason; the slot is free again at once. Patients and proxies must cancel
    before the doctor's cut-off; the doctor and admins may cancel any time."""
    now = now or timezone.now()
    appointment = _lock_appointment(appointment)
    _refuse_unless_active(appointment, _("cancelled"))
    reason = reason.strip()
    if not reason:
        raise SchedulingError(_("Please give a reason for the cancellation."))
    _refuse_unless_participant(by, appointment, action=_("cancel"), now=now)
    appointment.status = Appointment.Status.CANCELLED
    appointment.cancelled_at = now
    appointment.cancelled_by = by
    appointment.cancellation_reason = reason[:500]
    appointment.save(
        update_fields=["status", "cancelled_at", "cancelled_by", "cancellation_reason"]
    )
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=appointment,
        reason=reason,
        details={"status": "cancelled"},
    )
    _notify_cancel(appointment, by)
    transaction.on_commit(lambda: _appointment_email(appointment, method="CANCEL"), robust=True)
    _offer_freed_slot_on_commit(appointment, now)
    return appointment


def _offer_freed_slot_on_commit(appointment: Appointment, now: datetime) -> None:
    """Once the change is committed, offer the freed slot to the doctor's waitlist. Robust: a
    failure there is logged and never undoes the cancellation or the move."""
    from clinic.services.waitlist import waitlist_offer_slot

    transaction.on_commit(
        lambda: waitlist_offer_slot(
            doctor_id=appointment.doctor_id, start_at=appointment.start_at, now=now
        ),
        robust=True,
    )


@transaction.atomic
def appointment_reschedule(
    *,
    appointment: Appointment,
    by,
    new_start_at: datetime,
    request=None,
    now: datetime | None = None,
) -> Appointment:
    """Move an active appointment to a free slot of the same doctor in one step: the old one
    becomes `rescheduled` and points at its successor; if the new slot fails, nothing changes."""
    now = now or timezone.now()
    doctor = _lock_doctor(appointment.doctor)
    appointment = _lock_appointment(appointment)
    _refuse_unless_active(appointment, _("rescheduled"))
    _refuse_unless_participant(by, appointment, action=_("reschedule"), now=now)
    appointment.status = Appointment.Status.RESCHEDULED
    appointment.save(update_fields=["status"])
    successor = _create_in_slot(
        doctor=doctor,
        patient=appointment.patient,
        # The booking stays the booker's, whoever moves it (the doctor may move it too).
        booked_by=appointment.booked_by,
        start_at=new_start_at,
        reason=appointment.reason,
        now=now,
        ignore_appointment_id=appointment.pk,
    )
    appointment.rescheduled_to = successor
    appointment.save(update_fields=["rescheduled_to"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=appointment,
        details={"status": "rescheduled", "successor": str(successor.public_id)},
    )
    _notify_reschedule(appointment, successor, by)
    # Two calendar updates: the old event (its own UID) is cancelled, the new one requested.
    transaction.on_commit(lambda: _appointment_email(appointment, method="CANCEL"), robust=True)
    transaction.on_commit(lambda: _appointment_email(successor, method="REQUEST"), robust=True)
    _offer_freed_slot_on_commit(appointment, now)
    return successor


def appointment_reschedule_refusal(
    *, appointment: Appointment, by, now: datetime | None = None
) -> str | None:
    """Why `by` may not move the appointment now (a message fit to show), or None if they may.
    The checks `appointment_reschedule` makes before it looks at the new slot; pages use it to
    decide whether to offer rescheduling at all."""
    now = now or timezone.now()
    try:
        _refuse_unless_active(appointment, _("rescheduled"))
        _refuse_unless_participant(by, appointment, action=_("reschedule"), now=now)
    except SchedulingError as error:
        return error.message
    except PermissionDenied:
        return _("You may not change this appointment.")
    return None


def _doctor_action(appointment: Appointment, by, status: str, stamp: str, action: str, now):
    appointment = _lock_appointment(appointment)
    if not _is_staff_actor(by, appointment):
        raise PermissionDenied
    _refuse_unless_active(appointment, action)
    appointment.status = status
    setattr(appointment, stamp, now)
    appointment.save(update_fields=["status", stamp])
    audit_record(
        action=AuditEvent.Action.UPDATE, actor=by, target=appointment, details={"status": status}
    )
    return appointment


@transaction.atomic
def appointment_confirm(*, appointment: Appointment, by, now: datetime | None = None):
    """The doctor accepts a pending booking."""
    now = now or timezone.now()
    locked = _lock_appointment(appointment)
    if locked.status != Appointment.Status.PENDING:
        raise SchedulingError(_("Only an appointment awaiting confirmation can be confirmed."))
    confirmed = _doctor_action(
        locked, by, Appointment.Status.CONFIRMED, "confirmed_at", _("confirmed"), now
    )
    when = confirmed.start_at.astimezone(hospital_zone())
    for recipient in _reminder_recipients(confirmed):
        notification_create(
            recipient=recipient,
            title=_("%(doctor)s confirmed the appointment on %(when)s")
            % {"doctor": confirmed.doctor, "when": f"{when:%d %b %H:%M}"},
            link=reverse("appointment_detail", args=[confirmed.public_id]),
            kind=NotificationKind.APPOINTMENT,
            email=False,
        )
    # The booker's calendar turns the tentative entry into a confirmed one.
    transaction.on_commit(lambda: _appointment_email(confirmed, method="REQUEST"), robust=True)
    return confirmed


@transaction.atomic
def appointment_complete(*, appointment: Appointment, by, now: datetime | None = None):
    """The doctor marks the visit done (issuing a prescription will call this too)."""
    now = now or timezone.now()
    if appointment.start_at > now:
        raise SchedulingError(_("A visit cannot be completed before it starts."))
    return _doctor_action(
        appointment, by, Appointment.Status.COMPLETED, "completed_at", _("completed"), now
    )


@transaction.atomic
def appointment_mark_no_show(*, appointment: Appointment, by, now: datetime | None = None):
    """The patient did not come."""
    now = now or timezone.now()
    if appointment.start_at > now:
        raise SchedulingError(_("A patient cannot miss a visit that has not started."))
    return _doctor_action(
        appointment, by, Appointment.Status.NO_SHOW, "no_show_at", _("marked as no-show"), now
    )


# --- Scheduled work: reminders and the no-show sweep -------------------------------------------

REMINDER_FIELDS = {"24h": "reminder_24h_sent_at", "2h": "reminder_2h_sent_at"}
NO_SHOW_GRACE = timedelta(minutes=30)


def _reminder_recipients(appointment: Appointment) -> list:
    """The patient's own login and whoever booked for them (a parent, a proxy), once each."""
    users = {appointment.booked_by_id: appointment.booked_by}
    if appointment.patient.user_id:
        users[appointment.patient.user_id] = appointment.patient.user
    return [user for user in users.values() if user.is_active]


def _reminder_email(appointment: Appointment, recipient) -> None:
    from django.conf import settings
    from django.core.mail import send_mail
    from django.template.loader import render_to_string

    when = appointment.start_at.astimezone(hospital_zone())
    context = {
        "appointment": appointment,
        "when": when,
        "recipient": recipient,
        "emergency_number": settings.EMERGENCY_NUMBER,
    }
    # The subject says when, never why: it shows on lock screens and in shared inboxes.
    subject = _("Appointment reminder: %(when)s") % {"when": f"{when:%a %d %b, %H:%M}"}
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}",
        message=render_to_string("clinic/email/appointment_reminder.txt", context),
        from_email=None,
        recipient_list=[recipient.email],
    )


def appointment_remind(*, appointment_id: int, which: str, now: datetime | None = None) -> bool:
    """Send one reminder ("24h" or "2h") for an active appointment, exactly once.

    The claim is a conditional UPDATE of the sent-at field: of two runs (or two clusters) only
    one changes the row, and only that one sends. Returns whether this call sent it.
    """
    now = now or timezone.now()
    field = REMINDER_FIELDS[which]
    with transaction.atomic():
        claimed = (
            Appointment.objects.active()
            .filter(pk=appointment_id, start_at__gt=now, **{f"{field}__isnull": True})
            .update(**{field: now})
        )
        if not claimed:
            return False
        appointment = Appointment.objects.select_related(
            "doctor__user", "patient__user", "booked_by"
        ).get(pk=appointment_id)
        when = appointment.start_at.astimezone(hospital_zone())
        for recipient in _reminder_recipients(appointment):
            notification_create(
                recipient=recipient,
                title=_("Reminder: appointment with %(doctor)s on %(when)s")
                % {"doctor": appointment.doctor, "when": f"{when:%d %b %H:%M}"},
                link=reverse("appointment_detail", args=[appointment.public_id]),
                kind=NotificationKind.REMINDER,
                email=False,
            )
            if notification_email_wanted(recipient, NotificationKind.REMINDER):
                transaction.on_commit(
                    lambda recipient=recipient: _reminder_email(appointment, recipient),
                    robust=True,
                )
    return True


def appointment_mark_no_show_if_missed(*, appointment_id: int, now: datetime | None = None) -> bool:
    """Turn a confirmed appointment into a no-show once its end plus 30 minutes has passed,
    and tell the doctor. Conditional, so a second run changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = Appointment.objects.filter(
            pk=appointment_id,
            status=Appointment.Status.CONFIRMED,
            end_at__lte=now - NO_SHOW_GRACE,
        ).update(status=Appointment.Status.NO_SHOW, no_show_at=now)
        if not changed:
            return False
        appointment = Appointment.objects.select_related("doctor__user", "patient").get(
            pk=appointment_id
        )
        audit_record(
            action=AuditEvent.Action.UPDATE,
            target=appointment,
            details={"status": "no_show", "by": "no-show sweep"},
        )
        when = appointment.start_at.astimezone(hospital_zone())
        notification_create(
            recipient=appointment.doctor.user,
            title=_("Marked as no-show: %(patient)s, %(when)s")
            % {"patient": appointment.patient, "when": f"{when:%d %b %H:%M}"},
            link=reverse("appointment_detail", args=[appointment.public_id]),
            kind=NotificationKind.APPOINTMENT,
        )
    return True
