"""Shared pieces of the scheduling tests: a fixed `now`, doctor profiles and rule helpers.

Test modules import the fixtures `clara_fixture` / `omar_fixture` and ask for `clara` / `omar`.

Times are built with zoneinfo directly (not with the code under test), so a test that
compares a slot with `berlin(day, "09:00")` checks the slot code against the calendar itself.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Exists, OuterRef

from clinic.models import (
    Appointment,
    AvailabilityException,
    Doctor,
    WeeklyAvailability,
)
from tests.factories import make_doctor

BERLIN = ZoneInfo("Europe/Berlin")

# A Tuesday, far enough ahead that no generated date depends on the day the tests run.
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=BERLIN)
TODAY = NOW.date()
TOMORROW = TODAY + timedelta(days=1)  # Wednesday 2 December 2026
EVERY_DAY = range(7)


def berlin(day: date, hhmm: str) -> datetime:
    """The aware instant of a wall-clock time in the hospital's zone (the first one in a fold)."""
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=BERLIN)


def utc(day: date, hhmm: str) -> datetime:
    return berlin(day, hhmm).astimezone(UTC)


def weekly(doctor: Doctor, weekdays, start: str, end: str, **extra) -> None:
    """Weekly hours from `start` to `end` on each weekday given (0 = Monday)."""
    if isinstance(weekdays, int):
        weekdays = [weekdays]
    WeeklyAvailability.objects.bulk_create(
        WeeklyAvailability(
            doctor=doctor,
            weekday=weekday,
            start_time=time.fromisoformat(start),
            end_time=time.fromisoformat(end),
            **extra,
        )
        for weekday in weekdays
    )


def time_off(doctor: Doctor, day: date, start: str | None = None, end: str | None = None):
    return AvailabilityException.objects.create(
        doctor=doctor,
        date=day,
        kind=AvailabilityException.Kind.TIME_OFF,
        start_time=time.fromisoformat(start) if start else None,
        end_time=time.fromisoformat(end) if end else None,
    )


def extra_session(doctor: Doctor, day: date, start: str, end: str):
    return AvailabilityException.objects.create(
        doctor=doctor,
        date=day,
        kind=AvailabilityException.Kind.EXTRA,
        start_time=time.fromisoformat(start),
        end_time=time.fromisoformat(end),
    )


def local_starts(slots) -> list[str]:
    """The slots' starts as the patient reads them: local wall-clock "HH:MM"."""
    return [f"{slot.start_at.astimezone(BERLIN):%H:%M}" for slot in slots]


@pytest.fixture(name="clara")
def clara_fixture(dr_clara) -> Doctor:
    """Dr Clara's verified profile with the hospital's default booking policy and no hours."""
    return make_doctor(dr_clara)


@pytest.fixture(name="omar")
def omar_fixture(dr_omar) -> Doctor:
    return make_doctor(dr_omar)


def overlapping_active(field: str) -> list[int]:
    """The ACTIVE appointments that overlap another active one of the same `field` ("doctor"
    or "patient"), asked of the database in one query: empty when the schedule is sound."""
    other = (
        Appointment.objects.active()
        .filter(
            **{field: OuterRef(field)},
            start_at__lt=OuterRef("end_at"),
            end_at__gt=OuterRef("start_at"),
        )
        .exclude(pk=OuterRef("pk"))
    )
    return list(
        Appointment.objects.active()
        .filter(Exists(other))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
