"""Selectors of the analytics dashboard on the CMS home (admins only).

Every figure is computed by the database with grouped, counted queries; no row of an
appointment, patient or SOS request is loaded into Python (the SOS percentiles read one or two
durations each). So the dashboard runs the same handful of queries with ten appointments or a
hundred thousand. Days and weeks are those of the hospital's time zone; a day or week without
any data shows as 0, never as a gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from clinic.models import Appointment, Patient, SOSRequest
from clinic.scheduling import hospital_zone

WINDOW_DAYS = 30
PATIENT_WEEKS = 12
TOP_SPECIALTIES = 5

# The order the statuses stack in, from the visits that happened to those that did not.
STATUS_ORDER = (
    Appointment.Status.COMPLETED,
    Appointment.Status.CONFIRMED,
    Appointment.Status.PENDING,
    Appointment.Status.NO_SHOW,
    Appointment.Status.CANCELLED,
    Appointment.Status.RESCHEDULED,
)


@dataclass(frozen=True)
class StatusSeries:
    status: str
    label: str
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class DailyAppointments:
    """Appointments per local day (by their start), one series per status."""

    days: list[date]
    series: list[StatusSeries]

    @property
    def rows(self) -> list[tuple[date, list[int], int]]:
        """(day, counts in STATUS_ORDER, total) per day, for the table under the chart."""
        rows = []
        for index, day in enumerate(self.days):
            counts = [series.counts[index] for series in self.series]
            rows.append((day, counts, sum(counts)))
        return rows

    def count_of(self, status: str) -> int:
        return next(s.total for s in self.series if s.status == status)


@dataclass(frozen=True)
class Rate:
    part: int
    whole: int

    @property
    def percent(self) -> float | None:
        return None if self.whole == 0 else round(100 * self.part / self.whole, 1)


@dataclass(frozen=True)
class AppointmentRates:
    """Cancellation rate: cancelled among the appointments booked for the window (a
    rescheduled one counts once, where it was moved to). No-show rate: no-shows among the
    visits that were due and were either attended or missed."""

    cancellation: Rate
    no_show: Rate


@dataclass(frozen=True)
class SpecialtyCount:
    name: str
    appointments: int


@dataclass(frozen=True)
class WeekCount:
    week_start: date  # a Monday
    patients: int


@dataclass(frozen=True)
class SOSResponseTimes:
    """Time from an SOS request to its acknowledgement, over the requests of the window
    that were acknowledged (`acknowledged` of them)."""

    acknowledged: int
    median: timedelta | None
    p95: timedelta | None


@dataclass(frozen=True)
class AnalyticsDashboard:
    first_day: date
    today: date
    daily: DailyAppointments
    rates: AppointmentRates
    specialties: list[SpecialtyCount]
    weeks: list[WeekCount]
    sos: SOSResponseTimes
    status_labels: dict[str, str] = field(default_factory=dict)

    def chart_data(self) -> dict:
        """The figures the charts draw, for `json_script` (plain JSON types only)."""
        return {
            "daily": {
                "labels": [day.isoformat() for day in self.daily.days],
                "datasets": [
                    {"status": s.status, "label": s.label, "data": s.counts}
                    for s in self.daily.series
                ],
            },
            "specialties": {
                "labels": [s.name for s in self.specialties],
                "data": [s.appointments for s in self.specialties],
            },
            "patients": {
                "labels": [w.week_start.isoformat() for w in self.weeks],
                "data": [w.patients for w in self.weeks],
            },
        }


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=hospital_zone())


def _days_window(today: date, days: int) -> tuple[date, datetime, datetime]:
    """The first local day and the [start, end) instants of the `days` days ending today."""
    first_day = today - timedelta(days=days - 1)
    return first_day, _local_midnight(first_day), _local_midnight(today + timedelta(days=1))


def _appointments_starting(start: datetime, end: datetime) -> QuerySet[Appointment]:
    return Appointment.objects.filter(start_at__gte=start, start_at__lt=end).order_by()


def appointments_per_day(*, today: date, days: int = WINDOW_DAYS) -> DailyAppointments:
    """Appointments per local day for the `days` days ending `today`, per status.

    One query: grouped by status and by `local_date`, the start's day in the hospital's zone,
    which the booking service stores with every appointment (grouping on it spares the
    database a time-zone conversion per row: SQLite does that in Python)."""
    first_day, start, end = _days_window(today, days)
    grouped = (
        _appointments_starting(start, end).values("local_date", "status").annotate(n=Count("id"))
    )
    counts = {(row["local_date"], row["status"]): row["n"] for row in grouped}
    day_list = [first_day + timedelta(days=offset) for offset in range(days)]
    series = [
        StatusSeries(
            status=status.value,
            label=str(status.label),
            counts=[counts.get((day, status.value), 0) for day in day_list],
        )
        for status in STATUS_ORDER
    ]
    return DailyAppointments(days=day_list, series=series)


def appointment_rates(daily: DailyAppointments) -> AppointmentRates:
    """The cancellation and no-show rates of the window `daily` covers (from its counts: no
    query of its own)."""
    status = Appointment.Status
    booked = sum(s.total for s in daily.series if s.status != status.RESCHEDULED)
    due = daily.count_of(status.COMPLETED) + daily.count_of(status.NO_SHOW)
    return AppointmentRates(
        cancellation=Rate(part=daily.count_of(status.CANCELLED), whole=booked),
        no_show=Rate(part=daily.count_of(status.NO_SHOW), whole=due),
    )


def top_specialties(
    *, today: date, days: int = WINDOW_DAYS, limit: int = TOP_SPECIALTIES
) -> list[SpecialtyCount]:
    """The specialties with the most appointments booked in the window (rescheduled ones
    counted once, where they were moved to). One query."""
    _first_day, start, end = _days_window(today, days)
    rows = (
        _appointments_starting(start, end)
        .exclude(status=Appointment.Status.RESCHEDULED)
        .values("doctor__specialty__name")
        .annotate(n=Count("id"))
        .order_by("-n", "doctor__specialty__name")[:limit]
    )
    return [
        SpecialtyCount(name=row["doctor__specialty__name"], appointments=row["n"]) for row in rows
    ]


def new_patients_per_week(*, today: date, weeks: int = PATIENT_WEEKS) -> list[WeekCount]:
    """Patients (with or without a login) added per local week, Monday to Sunday, for the
    `weeks` weeks ending with the current one. One query."""
    this_monday = today - timedelta(days=today.weekday())
    first_monday = this_monday - timedelta(weeks=weeks - 1)
    zone = hospital_zone()
    grouped = (
        Patient.objects.filter(created_at__gte=_local_midnight(first_monday))
        .order_by()
        .annotate(week=TruncWeek("created_at", tzinfo=zone))
        .values("week")
        .annotate(n=Count("id"))
    )
    counts = {timezone.localtime(row["week"], zone).date(): row["n"] for row in grouped}
    mondays = [first_monday + timedelta(weeks=offset) for offset in range(weeks)]
    return [WeekCount(week_start=monday, patients=counts.get(monday, 0)) for monday in mondays]


def sos_response_times(*, today: date, days: int = WINDOW_DAYS) -> SOSResponseTimes:
    """Median and 95th percentile (nearest rank) of created → acknowledged over the SOS
    requests raised in the window and acknowledged.

    The database sorts the durations; we count them, then read only the one or two rows at
    each percentile's rank (OFFSET k LIMIT 1 or 2): three queries at most, whatever the number
    of requests, on SQLite and PostgreSQL alike."""
    _first_day, start, end = _days_window(today, days)
    durations = (
        SOSRequest.objects.filter(
            created_at__gte=start, created_at__lt=end, acknowledged_at__isnull=False
        )
        .annotate(
            response=ExpressionWrapper(
                F("acknowledged_at") - F("created_at"), output_field=DurationField()
            )
        )
        .order_by("response", "pk")
        .values_list("response", flat=True)
    )
    count = durations.count()
    if count == 0:
        return SOSResponseTimes(acknowledged=0, median=None, p95=None)
    middle = (count - 1) // 2
    if count % 2:
        median = durations[middle]
    else:
        lower, upper = durations[middle : middle + 2]
        median = (lower + upper) / 2
    p95 = durations[math.ceil(0.95 * count) - 1]
    return SOSResponseTimes(acknowledged=count, median=median, p95=p95)


def analytics_dashboard(*, now: datetime | None = None) -> AnalyticsDashboard:
    """Every figure of the dashboard, as of `now` (default: now), in a fixed number of
    queries (six at most)."""
    today = timezone.localtime(now or timezone.now(), hospital_zone()).date()
    daily = appointments_per_day(today=today)
    return AnalyticsDashboard(
        first_day=daily.days[0],
        today=today,
        daily=daily,
        rates=appointment_rates(daily),
        specialties=top_specialties(today=today),
        weeks=new_patients_per_week(today=today),
        sos=sos_response_times(today=today),
        status_labels={s.status: s.label for s in daily.series},
    )
