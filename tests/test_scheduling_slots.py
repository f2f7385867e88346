"""Which slots a patient is offered: the doctor's rules, exceptions and booking policy, and
wall-clock times that stay put across daylight-saving changes."""

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from guardian.shortcuts import assign_perm

from clinic.models import Patient
from clinic.scheduling import slot_next_free, slots_free, slots_generate
from clinic.services.appointments import SchedulingError, appointment_book, appointment_cancel
from tests.scheduling_fixtures import (
    BERLIN,
    EVERY_DAY,
    NOW,
    TODAY,
    TOMORROW,
    berlin,
    clara_fixture,  # noqa: F401
    extra_session,
    local_starts,
    make_doctor,
    time_off,
    utc,
    weekly,
)

WEDNESDAY = TOMORROW.weekday()
MORNING = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]


def free_on(doctor, day, now=NOW):
    return slots_free(doctor, day, day, now=now)


# --- The grid --------------------------------------------------------------------------------


def test_a_morning_of_half_hours_gives_six_slots(clara):
    weekly(clara, WEDNESDAY, "09:00", "12:00")

    assert local_starts(free_on(clara, TOMORROW)) == MORNING


def test_45_minute_slots_offer_only_whole_slots(clara):
    clara.slot_minutes = 45
    clara.save()
    weekly(clara, WEDNESDAY, "09:00", "11:00")

    slots = free_on(clara, TOMORROW)

    assert local_starts(slots) == ["09:00", "09:45"]  # 10:30 would end at 11:15
    assert all(slot.end_at - slot.start_at == timedelta(minutes=45) for slot in slots)


def test_buffer_minutes_space_the_slots_out(clara):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    without_buffer = free_on(clara, TOMORROW)
    clara.buffer_minutes = 10
    clara.save()

    slots = free_on(clara, TOMORROW)

    # Every slot still lasts 30 minutes; each next one starts 30 + 10 minutes later.
    assert local_starts(slots) == ["09:00", "09:40", "10:20", "11:00"]
    assert len(slots) < len(without_buffer)
    assert all(slot.end_at - slot.start_at == timedelta(minutes=30) for slot in slots)
    assert all(b.start_at - a.end_at == timedelta(minutes=10) for a, b in pairwise(slots))


def test_two_intervals_in_one_day_both_give_slots(clara):
    weekly(clara, WEDNESDAY, "09:00", "11:00")
    weekly(clara, WEDNESDAY, "14:00", "16:00")

    assert local_starts(free_on(clara, TOMORROW)) == [
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "14:00",
        "14:30",
        "15:00",
        "15:30",
    ]


def test_slots_are_stored_in_utc_and_read_as_local_wall_time(clara):
    weekly(clara, WEDNESDAY, "09:00", "12:00")

    first = free_on(clara, TOMORROW)[0]

    assert first.start_at.utcoffset() == timedelta(0)
    assert first.end_at.utcoffset() == timedelta(0)
    assert first.start_at == berlin(TOMORROW, "09:00")
    assert first.local_start.tzinfo == BERLIN
    assert (first.local_start.hour, first.local_start.minute) == (9, 0)
    assert first.start_at.astimezone(UTC).hour == 8  # Berlin is UTC+1 in December


def test_only_the_ruled_weekday_has_slots(clara):
    weekly(clara, WEDNESDAY, "09:00", "12:00")

    slots = slots_free(clara, TODAY, TODAY + timedelta(days=13), now=NOW)

    days = {slot.local_start.date() for slot in slots}
    assert days == {TOMORROW, TOMORROW + timedelta(days=7)}


# --- Exceptions ------------------------------------------------------------------------------


def test_a_whole_day_off_gives_no_slots_that_day_only(clara):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    time_off(clara, TOMORROW)

    assert free_on(clara, TOMORROW) == []
    assert local_starts(free_on(clara, TOMORROW + timedelta(days=7))) == MORNING


def test_partial_time_off_removes_only_its_slots(clara):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    time_off(clara, TOMORROW, "10:00", "11:00")

    assert local_starts(free_on(clara, TOMORROW)) == ["09:00", "09:30", "11:00", "11:30"]


def test_time_off_that_cuts_a_slot_removes_the_whole_slot(clara):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    time_off(clara, TOMORROW, "10:15", "10:45")

    assert local_starts(free_on(clara, TOMORROW)) == ["09:00", "09:30", "10:45", "11:15"]


def test_an_extra_session_adds_slots_on_a_day_without_weekly_hours(clara):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    saturday = TODAY + timedelta(days=4)
    assert saturday.weekday() == 5
    assert free_on(clara, saturday) == []

    extra_session(clara, saturday, "10:00", "11:00")

    assert local_starts(free_on(clara, saturday)) == ["10:00", "10:30"]


# --- Booking policy: notice, horizon, daily maximum ------------------------------------------


def test_minimum_notice_hides_slots_too_soon(clara):
    weekly(clara, TODAY.weekday(), "09:00", "12:00")  # today, and it is 08:00 now

    clara.min_notice_minutes = 0
    clara.save()
    assert local_starts(free_on(clara, TODAY)) == MORNING

    clara.min_notice_minutes = 120
    clara.save()
    assert local_starts(free_on(clara, TODAY)) == MORNING[2:]  # 10:00 is exactly 2 h away
    later = NOW + timedelta(minutes=1)
    assert local_starts(free_on(clara, TODAY, now=later)) == MORNING[3:]


def test_the_horizon_hides_slots_too_far_ahead(clara):
    weekly(clara, EVERY_DAY, "09:00", "12:00")
    clara.horizon_days = 7
    clara.save()
    last_day = TODAY + timedelta(days=7)

    slots = slots_free(clara, TODAY, TODAY + timedelta(days=14), now=NOW)

    # Horizon ends at 08:00 on `last_day`: none of that day's morning slots is offered.
    days = sorted({slot.local_start.date() for slot in slots})
    assert days == [TODAY + timedelta(days=n) for n in range(7)]
    assert all(slot.start_at <= NOW + timedelta(days=7) for slot in slots)
    assert slots_generate(clara, last_day, TODAY + timedelta(days=14))  # the rules do give them

    # Seen at 10:15 the horizon ends at 10:15 seven days later: 09:00-10:00 of that day shown.
    mid_morning = berlin(TODAY, "10:15")
    shown = slots_free(clara, last_day, last_day, now=mid_morning)
    assert local_starts(shown) == ["09:00", "09:30", "10:00"]


def test_the_daily_maximum_hides_the_rest_of_a_full_day(clara, amina, ben):
    weekly(clara, EVERY_DAY, "09:00", "12:00")
    clara.max_appointments_per_day = 2
    clara.save()
    next_day = TOMORROW + timedelta(days=1)

    first = appointment_book(
        booked_by=amina,
        patient=amina.patient,
        doctor=clara,
        start_at=utc(TOMORROW, "09:00"),
        now=NOW,
    )
    assert local_starts(free_on(clara, TOMORROW)) == ["09:30", *MORNING[2:]]
    appointment_book(
        booked_by=ben, patient=ben.patient, doctor=clara, start_at=utc(TOMORROW, "10:30"), now=NOW
    )

    assert free_on(clara, TOMORROW) == []
    assert local_starts(free_on(clara, next_day)) == MORNING

    appointment_cancel(appointment=first, by=amina, reason="Feeling better", now=NOW)
    assert local_starts(free_on(clara, TOMORROW)) == ["09:00", "09:30", "10:00", "11:00", "11:30"]


def test_the_daily_maximum_still_holds_when_the_notice_hides_the_morning(clara, amina, ben):
    weekly(clara, EVERY_DAY, "09:00", "12:00")
    clara.max_appointments_per_day = 2
    clara.save()
    noah = Patient.objects.create(first_name="Noah", last_name="Okafor")
    assign_perm("clinic.book_for_patient", amina, noah)
    for user, hhmm in [(amina, "09:00"), (ben, "09:30")]:
        start_at = utc(TOMORROW, hhmm)
        appointment_book(
            booked_by=user, patient=user.patient, doctor=clara, start_at=start_at, now=NOW
        )
    that_morning = berlin(TOMORROW, "08:00")  # 2 h notice: 10:00 is the first slot in reach

    assert free_on(clara, TOMORROW, now=that_morning) == []
    with pytest.raises(SchedulingError):
        appointment_book(
            booked_by=amina,
            patient=noah,
            doctor=clara,
            start_at=utc(TOMORROW, "11:00"),
            now=that_morning,
        )


def test_next_free_slot_moves_on_when_the_first_is_booked(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")

    first = slot_next_free(clara, now=NOW)
    assert first.start_at == berlin(TOMORROW, "09:00")

    appointment_book(
        booked_by=amina, patient=amina.patient, doctor=clara, start_at=first.start_at, now=NOW
    )

    assert slot_next_free(clara, now=NOW).start_at == berlin(TOMORROW, "09:30")


# --- Daylight-saving changes -----------------------------------------------------------------

# (days on the old offset, days on the new offset, UTC hour of 09:00 before, after, `now`)
SPRING_FORWARD = (
    [date(2027, 3, 22), date(2027, 3, 27)],  # Monday and Saturday before: CET, UTC+1
    [date(2027, 3, 28), date(2027, 3, 29)],  # the Sunday of the change and the Monday: CEST
    8,
    7,
    datetime(2027, 3, 1, 8, 0, tzinfo=BERLIN),
)
FALL_BACK = (
    [date(2026, 10, 19), date(2026, 10, 24)],  # Monday and Saturday before: CEST, UTC+2
    [date(2026, 10, 25), date(2026, 10, 26)],  # the Sunday of the change and the Monday: CET
    7,
    8,
    datetime(2026, 10, 1, 8, 0, tzinfo=BERLIN),
)


@pytest.mark.parametrize(
    ("before", "after", "utc_hour_before", "utc_hour_after", "now"),
    [SPRING_FORWARD, FALL_BACK],
    ids=["spring-forward-2027-03-28", "fall-back-2026-10-25"],
)
def test_a_nine_oclock_rule_stays_at_nine_local_across_a_dst_change(
    clara, before, after, utc_hour_before, utc_hour_after, now
):
    weekly(clara, EVERY_DAY, "09:00", "12:00")
    clara.horizon_days = 365
    clara.save()

    for day in before + after:
        slots = free_on(clara, day, now=now)
        assert local_starts(slots) == MORNING, day
        assert all(slot.local_start.date() == day for slot in slots)
        assert all(slot.end_at - slot.start_at == timedelta(minutes=30) for slot in slots)
        expected_utc_hour = utc_hour_before if day in before else utc_hour_after
        assert slots[0].start_at.astimezone(UTC).hour == expected_utc_hour, day


def test_a_weekly_monday_rule_follows_the_clock_change(clara):
    weekly(clara, 0, "09:00", "12:00")  # Mondays only
    clara.horizon_days = 365
    clara.save()
    now = datetime(2027, 3, 1, 8, 0, tzinfo=BERLIN)

    slots = slots_free(clara, date(2027, 3, 22), date(2027, 3, 29), now=now)

    by_day: dict[date, list] = {}
    for slot in slots:
        by_day.setdefault(slot.local_start.date(), []).append(slot)
    assert sorted(by_day) == [date(2027, 3, 22), date(2027, 3, 29)]
    assert local_starts(by_day[date(2027, 3, 22)]) == MORNING
    assert local_starts(by_day[date(2027, 3, 29)]) == MORNING
    assert by_day[date(2027, 3, 22)][0].start_at.hour == 8  # 09:00 CET
    assert by_day[date(2027, 3, 29)][0].start_at.hour == 7  # 09:00 CEST


def _assert_real_time_slots(slots, minutes):
    assert all(slot.end_at - slot.start_at == timedelta(minutes=minutes) for slot in slots)
    assert all(earlier.end_at <= later.start_at for earlier, later in pairwise(slots))


def test_a_night_rule_skips_the_wall_times_the_spring_change_removes(clara):
    weekly(clara, 6, "01:00", "04:00")  # Sundays
    sunday_before, change = date(2027, 3, 21), date(2027, 3, 28)

    assert local_starts(slots_generate(clara, sunday_before, sunday_before)) == [
        "01:00",
        "01:30",
        "02:00",
        "02:30",
        "03:00",
        "03:30",
    ]
    slots = slots_generate(clara, change, change)

    # 02:00-02:59 does not exist that night: the clock jumps from 02:00 CET to 03:00 CEST.
    assert local_starts(slots) == ["01:00", "01:30", "03:00", "03:30"]
    _assert_real_time_slots(slots, 30)
    assert slots[1].end_at == slots[2].start_at  # 01:30 CET + 30 min of real time is 03:00


def test_a_night_rule_offers_each_wall_time_once_in_the_autumn_fold(clara):
    weekly(clara, 6, "01:00", "04:00")
    change = date(2026, 10, 25)  # 02:00-02:59 happens twice that night

    slots = slots_generate(clara, change, change)

    assert local_starts(slots) == ["01:00", "01:30", "02:00", "02:30", "03:00", "03:30"]
    _assert_real_time_slots(slots, 30)


def test_slots_never_overlap_across_the_spring_gap_whatever_their_length(dr_clara):
    doctor = make_doctor(dr_clara, slot_minutes=45)
    weekly(doctor, 6, "01:00", "04:00")
    change = date(2027, 3, 28)

    slots = slots_generate(doctor, change, change)

    assert "02:30" not in local_starts(slots)
    _assert_real_time_slots(slots, 45)


# --- Overlapping rules -----------------------------------------------------------------------


def test_an_extra_session_over_weekly_hours_never_reoffers_a_booked_slot(clara, amina):
    weekly(clara, WEDNESDAY, "09:00", "12:00")
    extra_session(clara, TOMORROW, "09:00", "09:30")  # redundant, as staff sometimes enter
    appointment_book(
        booked_by=amina,
        patient=amina.patient,
        doctor=clara,
        start_at=utc(TOMORROW, "11:00"),
        now=NOW,
    )

    starts = local_starts(free_on(clara, TOMORROW))

    assert "11:00" not in starts
    assert len(starts) == len(set(starts))


# --- The overlap check agrees with comparing every pair -------------------------------------


def test_the_sorted_overlap_check_agrees_with_comparing_every_pair():
    """`slots_bookable` finds overlaps by bisecting sorted busy intervals; for any mix of
    slots and busy times, nested or touching, it must offer what a pairwise check offers."""
    from types import SimpleNamespace

    from hypothesis import given
    from hypothesis import settings as hypothesis_settings
    from hypothesis import strategies as st

    from clinic.scheduling import Slot, slots_bookable

    base = datetime(2026, 12, 7, 8, tzinfo=UTC)
    doctor = SimpleNamespace(min_notice_minutes=0, horizon_days=365, max_appointments_per_day=None)
    span = st.tuples(st.integers(0, 600), st.integers(1, 120))

    @hypothesis_settings(max_examples=300, deadline=None)
    @given(slots=st.lists(span, max_size=30), busy=st.lists(span, max_size=30))
    def check(slots, busy):
        generated = [
            Slot(base + timedelta(minutes=at), base + timedelta(minutes=at + length), "", "")
            for at, length in slots
        ]
        busy_rows = [
            (base + timedelta(minutes=at), base + timedelta(minutes=at + length), date(2026, 12, 7))
            for at, length in busy
        ]
        expected = [
            slot
            for slot in generated
            if not any(start < slot.end_at and slot.start_at < end for start, end, _ in busy_rows)
        ]
        assert slots_bookable(doctor, generated, busy_rows, now=base) == expected

    check()
