"""Slots: generated from a doctor's rules in the hospital's time zone, stored and compared in UTC.

Wall-clock arithmetic happens in local time (a 09:00 rule means 09:00 on both sides of a
daylight-saving change); a wall time that does not exist (the spring-forward gap) yields no
slot; each slot lasts exactly `slot_minutes` of real time. Only whole slots are offered.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from clinic.models import (
    Appointment,
    AvailabilityException,
    Doctor,
    WaitlistOffer,
    WeeklyAvailability,
)


def hospital_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class Slot:
    start_at: datetime  # aware, UTC
    end_at: datetime
    mode: str
    location: str

    @property
    def local_start(self) -> datetime:
        return self.start_at.astimezone(hospital_zone())


@dataclass(frozen=True)
class _Interval:
    start: time
    end: time
    mode: str
    location: str


def local_to_utc(day: date, wall: time, zone: ZoneInfo | None = None) -> datetime | None:
    """The UTC instant of a wall-clock time, or None where that wall time does not exist."""
    zone = zone or hospital_zone()
    local = datetime.combine(day, wall, tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return instant


def _subtract(intervals: list[_Interval], start: time, end: time) -> list[_Interval]:
    kept = []
    for interval in intervals:
        if end <= interval.start or start >= interval.end:
            kept.append(interval)
            continue
        if interval.start < start:
            kept.append(_Interval(interval.start, start, interval.mode, interval.location))
        if end < interval.end:
            kept.append(_Interval(end, interval.end, interval.mode, interval.location))
    return kept


def working_intervals(
    day: date,
    weekly: list[WeeklyAvailability],
    exceptions: list[AvailabilityException],
) -> list[_Interval]:
    """The doctor's working intervals on one local date: weekly hours plus extra sessions,
    minus time off."""
    intervals = [
        _Interval(rule.start_time, rule.end_time, rule.mode, rule.location)
        for rule in weekly
        if rule.weekday == day.weekday()
    ]
    todays = [exception for exception in exceptions if exception.date == day]
    for extra in todays:
        if extra.kind == AvailabilityException.Kind.EXTRA:
            intervals.append(
                _Interval(extra.start_time, extra.end_time, extra.mode, extra.location)
            )
    for off in todays:
        if off.kind != AvailabilityException.Kind.TIME_OFF:
            continue
        if off.start_time is None:
            return []
        intervals = _subtract(intervals, off.start_time, off.end_time)
    return _merge_overlapping(sorted(intervals, key=lambda interval: interval.start))


def _merge_overlapping(intervals: list[_Interval]) -> list[_Interval]:
    """Overlapping rules (weekly hours and an extra session, say) become one interval, with
    the mode and place of the one that starts first."""
    merged: list[_Interval] = []
    for interval in intervals:
        if merged and interval.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = _Interval(
                last.start, max(last.end, interval.end), last.mode, last.location
            )
        else:
            merged.append(interval)
    return merged


def _fixed_utc_offset(day: date, zone: ZoneInfo) -> timedelta | None:
    """The zone's UTC offset on a local date, or None when it changes during that day."""
    first = datetime.combine(day, time.min, tzinfo=zone).utcoffset()
    last = datetime.combine(day, time.max, tzinfo=zone).utcoffset()
    return first if first == last else None


def slots_generate(
    doctor: Doctor,
    day_from: date,
    day_to: date,
    *,
    weekly: list[WeeklyAvailability] | None = None,
    exceptions: list[AvailabilityException] | None = None,
) -> list[Slot]:
    """Every slot the rules give between two local dates (inclusive), booked or not."""
    zone = hospital_zone()
    if weekly is None:
        weekly = list(doctor.weekly_hours.all())
    if exceptions is None:
        exceptions = list(doctor.exceptions.filter(date__range=(day_from, day_to)))
    length = timedelta(minutes=doctor.slot_minutes)
    step = timedelta(minutes=doctor.slot_minutes + doctor.buffer_minutes)
    slots: list[Slot] = []
    day = day_from
    while day <= day_to:
        # On the days without a clock change (all but two a year) one offset serves every
        # slot; the zone is asked per slot only on the others.
        offset = _fixed_utc_offset(day, zone)
        for interval in working_intervals(day, weekly, exceptions):
            cursor = datetime.combine(day, interval.start)
            interval_end = datetime.combine(day, interval.end)
            while cursor + length <= interval_end:
                if offset is not None:
                    start_at = (cursor - offset).replace(tzinfo=UTC)
                else:
                    start_at = local_to_utc(day, cursor.time(), zone)
                # Across the spring-forward gap wall-clock steps can land less than a slot
                # apart in real time; a slot never overlaps the one before it.
                if start_at is not None and (
                    not slots or start_at >= slots[-1].end_at + (step - length)
                ):
                    slots.append(
                        Slot(start_at, start_at + length, interval.mode, interval.location)
                    )
                cursor += step
        day += timedelta(days=1)
    return slots


def busy_rows(
    doctor_ids: list[int],
    day_from: date,
    day_to: date,
    *,
    now: datetime,
    overlapping: tuple[datetime, datetime] | None = None,
    ignore_appointment_id: int | None = None,
    ignore_offer_id: int | None = None,
):
    """What takes a doctor's time, as one query of (doctor id, start, end, local date) rows:
    active appointments and waitlist holds (open offers still inside their hold, which only
    the offered patient may book) on the local dates given, plus any overlapping the instants
    in `overlapping`. `ignore_*` leave out the appointment being moved or the offer being
    accepted."""
    window = Q(local_date__range=(day_from, day_to))
    if overlapping is not None:
        window |= Q(start_at__lt=overlapping[1], end_at__gt=overlapping[0])
    fields = ("doctor_id", "start_at", "end_at", "local_date")
    booked = Appointment.objects.active().filter(window, doctor_id__in=doctor_ids)
    if ignore_appointment_id is not None:
        booked = booked.exclude(pk=ignore_appointment_id)
    held = WaitlistOffer.objects.holding(now).filter(window, doctor_id__in=doctor_ids)
    if ignore_offer_id is not None:
        held = held.exclude(pk=ignore_offer_id)
    # A hold counts towards the daily maximum too: accepting it must not break the limit.
    return (
        booked.order_by().values_list(*fields).union(held.order_by().values_list(*fields), all=True)
    )


def slots_free(
    doctor: Doctor,
    day_from: date,
    day_to: date,
    *,
    now: datetime | None = None,
    ignore_appointment_id: int | None = None,
    ignore_offer_id: int | None = None,
) -> list[Slot]:
    """The slots a patient may book now (see `slots_bookable`). Three queries.

    A slot held for a waitlist offer is busy for everyone; the offer's holder books it by
    passing `ignore_offer_id`."""
    now = now or timezone.now()
    generated = slots_generate(doctor, day_from, day_to)
    earliest, latest = booking_window(doctor, now)
    if not any(earliest <= slot.start_at <= latest for slot in generated):
        return []
    # Whole days, not just the slots still on offer: the daily maximum counts visits that
    # the notice period already hides.
    rows = busy_rows(
        [doctor.pk],
        day_from,
        day_to,
        now=now,
        overlapping=(
            min(slot.start_at for slot in generated),
            max(slot.end_at for slot in generated),
        ),
        ignore_appointment_id=ignore_appointment_id,
        ignore_offer_id=ignore_offer_id,
    )
    busy = [(start, end, local_date) for _doctor, start, end, local_date in rows]
    return slots_bookable(doctor, generated, busy, now=now)


def booking_window(doctor: Doctor, now: datetime) -> tuple[datetime, datetime]:
    """The earliest and latest start a patient may book now (minimum notice, horizon)."""
    return (
        now + timedelta(minutes=doctor.min_notice_minutes),
        now + timedelta(days=doctor.horizon_days),
    )


def slots_bookable(
    doctor: Doctor,
    generated: list[Slot],
    busy: list[tuple[datetime, datetime, date]],
    *,
    now: datetime,
) -> list[Slot]:
    """The booking rules, in one place: of the generated slots, those inside the booking
    window, not overlapping an active appointment or a waitlist hold in `busy` (start, end,
    local date), on days below the doctor's daily maximum. No queries: callers fetch `busy`
    (one query, or one for many doctors: `busy_rows`)."""
    earliest, latest = booking_window(doctor, now)
    per_day = Counter(local_date for _start, _end, local_date in busy)
    limit = doctor.max_appointments_per_day
    zone = hospital_zone()
    # Busy intervals sorted by start, with the latest end seen so far: a slot overlaps one of
    # them exactly when the latest end among those starting before the slot ends is after the
    # slot's start. O(log n) per slot, where comparing every pair took seconds for a
    # directory of 200 doctors over 60 days.
    intervals = sorted((start, end) for start, end, _day in busy)
    starts = [start for start, _end in intervals]
    latest_end: list[datetime] = []
    for _start, end in intervals:
        latest_end.append(max(end, latest_end[-1]) if latest_end else end)

    def overlaps_busy(slot: Slot) -> bool:
        before_slot_end = bisect_left(starts, slot.end_at)
        return before_slot_end > 0 and latest_end[before_slot_end - 1] > slot.start_at

    return [
        slot
        for slot in generated
        if earliest <= slot.start_at <= latest
        and not overlaps_busy(slot)
        and (limit is None or per_day[slot.start_at.astimezone(zone).date()] < limit)
    ]


def slot_next_free(doctor: Doctor, *, now: datetime | None = None) -> Slot | None:
    """The doctor's first bookable slot within the horizon, or None."""
    now = now or timezone.now()
    today = now.astimezone(hospital_zone()).date()
    free = slots_free(doctor, today, today + timedelta(days=doctor.horizon_days), now=now)
    return free[0] if free else None
