"""Booking and the appointment lifecycle through the services: what a patient, a guardian and
a doctor can and cannot do, and what each refusal leaves behind (nothing)."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory
from guardian.shortcuts import assign_perm

from clinic.models import Appointment, Doctor, Patient
from clinic.permissions import appointments_visible_to, get_appointment_for_user
from clinic.scheduling import slots_free
from clinic.services.appointments import (
    SchedulingError,
    SlotTaken,
    appointment_book,
    appointment_cancel,
    appointment_complete,
    appointment_confirm,
    appointment_mark_no_show,
    appointment_reschedule,
)
from tests.scheduling_fixtures import (
    EVERY_DAY,
    NOW,
    TOMORROW,
    clara_fixture,  # noqa: F401
    omar_fixture,  # noqa: F401
    utc,
    weekly,
)

WEDNESDAY = TOMORROW.weekday()


def book(user, doctor, hhmm="09:00", *, patient=None, day=TOMORROW, now=NOW, reason=""):
    return appointment_book(
        booked_by=user,
        patient=patient or user.patient,
        doctor=doctor,
        start_at=utc(day, hhmm),
        reason=reason,
        now=now,
    )


def free_starts(doctor, day=TOMORROW):
    return [slot.start_at for slot in slots_free(doctor, day, day, now=NOW)]


def snapshot(appointment):
    appointment.refresh_from_db()
    return (
        appointment.status,
        appointment.start_at,
        appointment.end_at,
        appointment.rescheduled_to,
    )


@pytest.fixture
def child(amina):
    """Amina's son: a patient without a login, on whose behalf she may book."""
    son = Patient.objects.create(first_name="Noah", last_name="Okafor")
    assign_perm("clinic.book_for_patient", amina, son)
    return son


# --- Booking ---------------------------------------------------------------------------------


def test_a_booked_slot_leaves_the_free_slots_and_returns_on_cancel(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    start = utc(TOMORROW, "10:00")
    assert start in free_starts(clara)

    appointment = book(amina, clara, "10:00", reason="  Chest pain  ")

    assert appointment.start_at == start
    assert appointment.end_at == start + timedelta(minutes=30)
    assert appointment.local_date == TOMORROW
    assert appointment.reason == "Chest pain"
    assert (appointment.patient, appointment.booked_by) == (amina.patient, amina)
    assert start not in free_starts(clara)
    assert len(free_starts(clara)) == 5

    appointment_cancel(appointment=appointment, by=amina, reason="Feeling better", now=NOW)

    assert start in free_starts(clara)
    assert len(free_starts(clara)) == 6


def test_a_time_off_the_grid_is_refused(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")

    for off_grid in ["09:10", "12:00", "13:00"]:
        with pytest.raises(SchedulingError) as refused:
            book(amina, clara, off_grid)
        assert not isinstance(refused.value, SlotTaken)
        assert "not one of the doctor's appointment slots" in refused.value.message
    assert not Appointment.objects.exists()


def test_the_same_slot_cannot_be_booked_twice(clara, amina, ben):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    first = book(amina, clara, "09:30")

    with pytest.raises(SlotTaken):
        book(ben, clara, "09:30")

    assert list(Appointment.objects.all()) == [first]


def test_a_slot_too_soon_is_refused(clara, amina):
    weekly(clara, NOW.weekday(), "09:00", "12:00")  # today; it is 08:00, notice is 2 h

    with pytest.raises(SchedulingError, match="can no longer be booked online"):
        book(amina, clara, "09:30", day=NOW.date())
    assert book(amina, clara, "10:00", day=NOW.date()).is_active


def test_an_unverified_doctor_is_not_bookable(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    for status in [Doctor.Status.PENDING, Doctor.Status.REJECTED]:
        clara.status = status
        clara.save()

        with pytest.raises(SchedulingError, match="not taking bookings"):
            book(amina, clara)
    assert not Appointment.objects.exists()


def test_a_deactivated_doctor_is_not_bookable(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    clara.user.is_active = False
    clara.user.save()

    with pytest.raises(SchedulingError, match="not taking bookings"):
        book(amina, clara)
    assert not Appointment.objects.exists()


def test_a_doctor_account_cannot_book_for_anyone(clara, omar, amina):
    """Booking is for patients and their proxies: a doctor login books for no patient, not for
    another doctor's patient, not for herself (even with a patient record of her own)."""
    weekly(omar, WEDNESDAY, "09:00", "12:00")
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    own_record = Patient.objects.create(user=clara.user, first_name="Clara")

    with pytest.raises(PermissionDenied):
        book(clara.user, omar, patient=amina.patient)
    with pytest.raises(PermissionDenied):
        book(clara.user, omar, patient=own_record)
    with pytest.raises(PermissionDenied):
        book(clara.user, clara, patient=own_record)
    assert not Appointment.objects.exists()


def test_a_doctor_is_never_booked_with_herself(clara, amina):
    """Even a proxy allowed to act for the doctor's own patient record cannot book her with
    herself."""
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    own_record = Patient.objects.create(user=clara.user, first_name="Clara")
    assign_perm("clinic.book_for_patient", amina, own_record)

    with pytest.raises(SchedulingError, match="with yourself"):
        book(amina, clara, patient=own_record)
    assert not Appointment.objects.exists()


def test_one_active_appointment_per_patient_per_doctor_per_day(clara, omar, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    weekly(omar, WEDNESDAY, "09:00", "12:00")
    first = book(amina, clara, "09:00")

    with pytest.raises(SchedulingError) as refused:
        book(amina, clara, "11:00")
    assert "already has an appointment with this doctor that day" in refused.value.message

    # Another doctor the same day, or the same doctor another day, is fine.
    assert book(amina, omar, "10:00").is_active
    assert book(amina, clara, "11:00", day=TOMORROW + timedelta(days=7)).is_active
    # Once the first is cancelled the day is open again.
    appointment_cancel(appointment=first, by=amina, reason="Wrong time", now=NOW)
    assert book(amina, clara, "11:00").is_active


def test_a_patient_cannot_be_with_two_doctors_at_once(clara, omar, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    omar.slot_minutes = 45
    omar.save()
    weekly(omar, WEDNESDAY, "09:00", "12:00")
    book(amina, clara, "09:30")  # 09:30-10:00

    for overlapping in ["09:00", "09:45"]:  # Omar's 09:00-09:45 and 09:45-10:30
        with pytest.raises(SlotTaken) as refused:
            book(amina, omar, overlapping)
        assert "already has an appointment at that time" in refused.value.message
    assert book(amina, omar, "10:30").is_active
    assert Appointment.objects.count() == 2


def test_a_doctor_who_confirms_bookings_gets_them_pending(clara, omar, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    weekly(omar, WEDNESDAY, "09:00", "12:00")
    omar.requires_confirmation = True
    omar.save()

    instant = book(amina, clara, "09:00")
    waiting = book(amina, omar, "10:00")

    assert instant.status == Appointment.Status.CONFIRMED
    assert instant.confirmed_at == NOW
    assert waiting.status == Appointment.Status.PENDING
    assert waiting.confirmed_at is None
    assert utc(TOMORROW, "10:00") not in free_starts(omar)  # a pending booking holds its slot

    with pytest.raises(PermissionDenied):
        appointment_confirm(appointment=waiting, by=clara.user, now=NOW)
    with pytest.raises(PermissionDenied):
        appointment_confirm(appointment=waiting, by=amina, now=NOW)
    confirmed = appointment_confirm(appointment=waiting, by=omar.user, now=NOW)
    assert confirmed.status == Appointment.Status.CONFIRMED
    assert confirmed.confirmed_at == NOW
    with pytest.raises(SchedulingError):
        appointment_confirm(appointment=waiting, by=omar.user, now=NOW)


# --- Cancelling ------------------------------------------------------------------------------


def test_a_cancellation_needs_a_reason(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    appointment = book(amina, clara)

    for blank in ["", "   "]:
        with pytest.raises(SchedulingError, match="reason"):
            appointment_cancel(appointment=appointment, by=amina, reason=blank, now=NOW)
    assert snapshot(appointment)[0] == Appointment.Status.CONFIRMED

    appointment_cancel(appointment=appointment, by=amina, reason=" Travelling ", now=NOW)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert (appointment.cancelled_by, appointment.cancelled_at) == (amina, NOW)
    assert appointment.cancellation_reason == "Travelling"


def test_a_cancelled_or_completed_appointment_cannot_be_cancelled(clara, amina, ben):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    cancelled = book(amina, clara, "09:00")
    appointment_cancel(appointment=cancelled, by=amina, reason="Travelling", now=NOW)
    completed = book(ben, clara, "10:00")
    after_visit = completed.end_at
    appointment_complete(appointment=completed, by=clara.user, now=after_visit)

    for appointment in [cancelled, completed]:
        before = snapshot(appointment)
        for by in [appointment.booked_by, clara.user]:
            with pytest.raises(SchedulingError, match="cannot be cancelled"):
                appointment_cancel(appointment=appointment, by=by, reason="Again", now=NOW)
        assert snapshot(appointment) == before


def test_a_patient_cannot_cancel_after_the_cutoff_but_the_doctor_can(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    clara.cancel_cutoff_minutes = 24 * 60
    clara.save()
    appointment = book(amina, clara, "11:00")
    cutoff = appointment.start_at - timedelta(hours=24)

    with pytest.raises(SchedulingError, match="too late"):
        appointment_cancel(
            appointment=appointment, by=amina, reason="Late", now=cutoff + timedelta(minutes=1)
        )
    assert snapshot(appointment)[0] == Appointment.Status.CONFIRMED

    cancelled = appointment_cancel(
        appointment=appointment, by=clara.user, reason="Doctor ill", now=appointment.start_at
    )
    assert cancelled.status == Appointment.Status.CANCELLED
    assert cancelled.cancelled_by == clara.user


def test_a_patient_can_cancel_right_up_to_the_cutoff(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    appointment = book(amina, clara, "11:00")
    cutoff = appointment.start_at - timedelta(minutes=clara.cancel_cutoff_minutes)

    cancelled = appointment_cancel(appointment=appointment, by=amina, reason="Ok", now=cutoff)

    assert cancelled.status == Appointment.Status.CANCELLED


def test_an_outsider_cannot_cancel_someone_elses_appointment(clara, amina, ben):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    appointment = book(amina, clara)

    with pytest.raises(PermissionDenied):
        appointment_cancel(appointment=appointment, by=ben, reason="Mischief", now=NOW)
    assert snapshot(appointment)[0] == Appointment.Status.CONFIRMED


# --- Rescheduling ----------------------------------------------------------------------------


def test_rescheduling_moves_the_visit_and_links_old_to_new(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    old = book(amina, clara, "09:00", reason="Check-up")

    new = appointment_reschedule(
        appointment=old, by=amina, new_start_at=utc(TOMORROW, "11:30"), now=NOW
    )

    old.refresh_from_db()
    assert old.status == Appointment.Status.RESCHEDULED
    assert old.rescheduled_to == new
    assert new.rescheduled_from == old
    assert new.is_active
    assert (new.patient, new.doctor, new.reason) == (old.patient, old.doctor, old.reason)
    assert new.start_at == utc(TOMORROW, "11:30")
    assert utc(TOMORROW, "09:00") in free_starts(clara)
    assert utc(TOMORROW, "11:30") not in free_starts(clara)
    assert Appointment.objects.count() == 2


def test_rescheduling_to_another_day(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    old = book(amina, clara, "09:00")
    next_week = TOMORROW + timedelta(days=7)

    new = appointment_reschedule(
        appointment=old, by=amina, new_start_at=utc(next_week, "09:00"), now=NOW
    )

    assert new.local_date == next_week
    assert utc(TOMORROW, "09:00") in free_starts(clara)


def test_rescheduling_into_a_taken_slot_changes_nothing(clara, amina, ben):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    mine = book(amina, clara, "09:00")
    theirs = book(ben, clara, "10:00")
    before_mine, before_theirs = snapshot(mine), snapshot(theirs)

    with pytest.raises(SlotTaken):
        appointment_reschedule(
            appointment=mine, by=amina, new_start_at=utc(TOMORROW, "10:00"), now=NOW
        )

    assert snapshot(mine) == before_mine
    assert snapshot(theirs) == before_theirs
    assert mine.is_active
    assert Appointment.objects.count() == 2


def test_rescheduling_off_the_grid_or_too_soon_changes_nothing(clara, amina):
    weekly(clara, EVERY_DAY, "09:00", "12:00")
    mine = book(amina, clara, "11:00")
    before = snapshot(mine)

    with pytest.raises(SchedulingError, match="not one of the doctor's appointment slots"):
        appointment_reschedule(
            appointment=mine, by=amina, new_start_at=utc(TOMORROW, "09:10"), now=NOW
        )
    with pytest.raises(SchedulingError, match="can no longer be booked online"):
        appointment_reschedule(
            appointment=mine, by=amina, new_start_at=utc(NOW.date(), "09:00"), now=NOW
        )

    assert snapshot(mine) == before
    assert Appointment.objects.count() == 1


def test_rescheduling_within_the_same_slot_grid_onto_itself_is_allowed(clara, amina):
    """Moving to the time it already has: its own slot counts as free."""
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    mine = book(amina, clara, "09:00")

    new = appointment_reschedule(
        appointment=mine, by=amina, new_start_at=utc(TOMORROW, "09:00"), now=NOW
    )

    assert new.start_at == mine.start_at
    assert Appointment.objects.active().get() == new


def test_only_an_active_appointment_can_be_rescheduled(clara, amina, ben):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    cancelled = book(amina, clara, "09:00")
    appointment_cancel(appointment=cancelled, by=amina, reason="Travelling", now=NOW)
    completed = book(ben, clara, "10:00")
    appointment_complete(appointment=completed, by=clara.user, now=completed.end_at)
    moved = book(amina, clara, "09:30")
    appointment_reschedule(
        appointment=moved, by=amina, new_start_at=utc(TOMORROW, "11:00"), now=NOW
    )

    for appointment in [cancelled, completed, moved]:
        before = snapshot(appointment)
        with pytest.raises(SchedulingError, match="cannot be rescheduled"):
            appointment_reschedule(
                appointment=appointment,
                by=appointment.booked_by,
                new_start_at=utc(TOMORROW, "11:30"),
                now=NOW,
            )
        assert snapshot(appointment) == before
    assert Appointment.objects.count() == 4


def test_the_doctor_can_move_her_patients_appointment(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    old = book(amina, clara, "09:00")

    new = appointment_reschedule(
        appointment=old, by=clara.user, new_start_at=utc(TOMORROW, "10:00"), now=NOW
    )

    assert new.start_at == utc(TOMORROW, "10:00")
    assert new.patient == amina.patient


def test_an_outsider_cannot_reschedule_someone_elses_appointment(clara, amina, ben):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    appointment = book(amina, clara)

    with pytest.raises(PermissionDenied):
        appointment_reschedule(
            appointment=appointment, by=ben, new_start_at=utc(TOMORROW, "11:00"), now=NOW
        )
    assert snapshot(appointment)[0] == Appointment.Status.CONFIRMED


# --- After the visit -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "status", "stamp"),
    [
        (appointment_complete, Appointment.Status.COMPLETED, "completed_at"),
        (appointment_mark_no_show, Appointment.Status.NO_SHOW, "no_show_at"),
    ],
    ids=["complete", "no-show"],
)
def test_visit_outcome_only_after_the_start_and_only_by_the_own_doctor(
    clara, omar, amina, action, status, stamp
):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    appointment = book(amina, clara, "10:00")
    before = snapshot(appointment)
    just_before = appointment.start_at - timedelta(minutes=1)

    with pytest.raises(SchedulingError):
        action(appointment=appointment, by=clara.user, now=just_before)
    for outsider in [omar.user, amina]:
        with pytest.raises(PermissionDenied):
            action(appointment=appointment, by=outsider, now=appointment.end_at)
    assert snapshot(appointment) == before

    done = action(appointment=appointment, by=clara.user, now=appointment.start_at)

    assert done.status == status
    assert getattr(done, stamp) == appointment.start_at
    with pytest.raises(SchedulingError):
        action(appointment=appointment, by=clara.user, now=appointment.end_at)


def test_nothing_is_ever_deleted(clara, omar, amina, ben):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    weekly(omar, WEDNESDAY, "09:00", "12:00")
    a = book(amina, clara, "09:00")
    b = book(ben, clara, "09:30")
    c = book(amina, omar, "11:00")
    d = book(ben, omar, "10:00")
    appointment_cancel(appointment=a, by=amina, reason="Travelling", now=NOW)
    moved = appointment_reschedule(
        appointment=b, by=ben, new_start_at=utc(TOMORROW, "11:30"), now=NOW
    )
    appointment_complete(appointment=c, by=omar.user, now=c.end_at)
    appointment_mark_no_show(appointment=d, by=omar.user, now=d.end_at)
    with pytest.raises(SlotTaken):
        book(amina, clara, "11:30")  # taken by Ben's moved visit

    statuses = dict(Appointment.objects.values_list("pk", "status"))
    assert statuses == {
        a.pk: Appointment.Status.CANCELLED,
        b.pk: Appointment.Status.RESCHEDULED,
        c.pk: Appointment.Status.COMPLETED,
        d.pk: Appointment.Status.NO_SHOW,
        moved.pk: Appointment.Status.CONFIRMED,
    }


# --- Dependents and who sees what ------------------------------------------------------------


def test_a_guardian_books_for_her_child_and_nobody_else_can(clara, amina, ben, child):
    weekly(clara, WEDNESDAY, "09:00", "12:00")

    with pytest.raises(PermissionDenied):
        book(ben, clara, "09:00", patient=child)
    with pytest.raises(PermissionDenied):
        book(amina, clara, "09:00", patient=ben.patient)
    visit = book(amina, clara, "09:00", patient=child)

    assert (visit.patient, visit.booked_by) == (child, amina)
    assert book(amina, clara, "10:00").patient == amina.patient  # her own, the same day
    assert Appointment.objects.count() == 2


def test_who_sees_which_appointment(clara, omar, amina, ben, child):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    weekly(omar, WEDNESDAY, "09:00", "12:00")
    hers = book(amina, clara, "09:00")
    childs = book(amina, omar, "10:00", patient=child)
    bens = book(ben, omar, "11:00")

    assert set(appointments_visible_to(amina)) == {hers, childs}
    assert set(appointments_visible_to(ben)) == {bens}
    assert set(appointments_visible_to(clara.user)) == {hers}
    assert set(appointments_visible_to(omar.user)) == {childs, bens}

    def open_as(user, appointment):
        request = RequestFactory().get("/")
        request.user = user
        return get_appointment_for_user(request, appointment.public_id)

    assert open_as(amina, childs) == childs
    assert open_as(clara.user, hers) == hers
    for user, appointment in [(ben, hers), (ben, childs), (clara.user, childs), (amina, bens)]:
        with pytest.raises(Http404):
            open_as(user, appointment)
