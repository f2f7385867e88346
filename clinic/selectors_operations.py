"""Reads of the admin's operations board (the admin home on the site).

Four regions, one query each, whatever the number of appointments, requests, applications or
deliveries: counts are grouped in the database, and a region's short list carries the total of
its rows in the same query (a window `COUNT(*) OVER ()` evaluated before the LIMIT).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.db.models import Count, QuerySet, Window
from django.utils import timezone

from clinic.models import Appointment, Delivery, Doctor, SOSRequest
from clinic.scheduling import hospital_zone

# The CMS screens each region links to (Wagtail viewsets' url prefixes under /cms/).
CMS_APPOINTMENTS = "/cms/appointments/"
CMS_SOS_REQUESTS = "/cms/sos-requests/"
CMS_DOCTOR_APPLICATIONS = "/cms/doctor-applications/"
CMS_DELIVERIES = "/cms/deliveries/"

SOS_SHOWN = 5
APPLICATIONS_SHOWN = 3

# Today's appointments in the order of a day's work: still to come, done, did not happen.
TODAY_STATUSES = (
    Appointment.Status.PENDING,
    Appointment.Status.CONFIRMED,
    Appointment.Status.COMPLETED,
    Appointment.Status.NO_SHOW,
    Appointment.Status.CANCELLED,
    Appointment.Status.RESCHEDULED,
)
DELIVERY_IN_PROGRESS = (
    Delivery.Status.REQUESTED,
    Delivery.Status.PREPARING,
    Delivery.Status.DISPATCHED,
)


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int
    url: str


@dataclass(frozen=True)
class TodaysAppointments:
    day: date
    by_status: list[StatusCount]
    url: str

    def _count(self, *statuses: str) -> int:
        return sum(row.count for row in self.by_status if row.status in statuses)

    @property
    def scheduled(self) -> int:
        """Every appointment of the day but those moved to another time (their successor is
        counted where it landed)."""
        return self._count(*(s for s in TODAY_STATUSES if s != Appointment.Status.RESCHEDULED))

    @property
    def to_come(self) -> int:
        return self._count(*Appointment.ACTIVE_STATUSES)


@dataclass(frozen=True)
class OpenSOS:
    count: int
    oldest: list[SOSRequest]
    url: str


@dataclass(frozen=True)
class PendingApplications:
    count: int
    oldest: list[Doctor]
    url: str


@dataclass(frozen=True)
class DeliveriesInProgress:
    by_status: list[StatusCount]
    url: str

    @property
    def count(self) -> int:
        return sum(row.count for row in self.by_status)


@dataclass(frozen=True)
class OperationsBoard:
    appointments: TodaysAppointments
    sos: OpenSOS
    applications: PendingApplications
    deliveries: DeliveriesInProgress
    as_of: datetime


def appointments_cms_url(*, day: date | None = None, status: str | None = None) -> str:
    """The CMS appointments screen filtered to a local day and/or a status."""
    params = {}
    if status:
        params["status"] = status
    if day:
        # The screen's date filter is a range (Wagtail's date range picker): one day is from
        # that day to that day.
        params["local_date_from"] = params["local_date_to"] = day.isoformat()
    return f"{CMS_APPOINTMENTS}?{urlencode(params)}" if params else CMS_APPOINTMENTS


def _counts_by_status(rows: QuerySet) -> dict[str, int]:
    return {
        row["status"]: row["n"] for row in rows.order_by().values("status").annotate(n=Count("id"))
    }


def todays_appointments(day: date) -> TodaysAppointments:
    """The local day's appointments counted per status (every status listed, zeros too).
    One query."""
    zone = hospital_zone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    counts = _counts_by_status(Appointment.objects.filter(start_at__gte=start, start_at__lt=end))
    return TodaysAppointments(
        day=day,
        by_status=[
            StatusCount(
                status=status.value,
                label=str(status.label),
                count=counts.get(status.value, 0),
                url=appointments_cms_url(day=day, status=status.value),
            )
            for status in TODAY_STATUSES
        ],
        url=appointments_cms_url(day=day),
    )


def _with_total(rows: QuerySet) -> QuerySet:
    # The number of rows the filter matches, on every row, counted before any LIMIT.
    return rows.annotate(matching=Window(Count("id")))


def sos_open_oldest(limit: int = SOS_SHOWN) -> OpenSOS:
    """How many SOS requests are open and the `limit` waiting longest. One query."""
    rows = list(
        _with_total(SOSRequest.objects.filter(status__in=SOSRequest.OPEN_STATUSES))
        .select_related("patient__user")
        .order_by("created_at", "id")[:limit]
    )
    return OpenSOS(count=rows[0].matching if rows else 0, oldest=rows, url=CMS_SOS_REQUESTS)


def doctor_applications_oldest(limit: int = APPLICATIONS_SHOWN) -> PendingApplications:
    """How many doctor applications await a decision and the `limit` waiting longest.
    One query."""
    rows = list(
        _with_total(Doctor.objects.filter(status=Doctor.Status.PENDING))
        .select_related("user", "specialty")
        .order_by("created_at", "id")[:limit]
    )
    return PendingApplications(
        count=rows[0].matching if rows else 0,
        oldest=rows,
        url=f"{CMS_DOCTOR_APPLICATIONS}?status={Doctor.Status.PENDING}",
    )


def deliveries_in_progress() -> DeliveriesInProgress:
    """Deliveries not yet delivered, failed or cancelled, counted per status. One query."""
    counts = _counts_by_status(Delivery.objects.filter(status__in=DELIVERY_IN_PROGRESS))
    return DeliveriesInProgress(
        by_status=[
            StatusCount(
                status=status.value,
                label=str(status.label),
                count=counts.get(status.value, 0),
                url=f"{CMS_DELIVERIES}?{urlencode({'status': status.value})}",
            )
            for status in DELIVERY_IN_PROGRESS
        ],
        url=CMS_DELIVERIES,
    )


def operations_board(*, now: datetime | None = None) -> OperationsBoard:
    """Everything the admin's operations board shows, in four queries."""
    now = now or timezone.now()
    return OperationsBoard(
        appointments=todays_appointments(timezone.localtime(now, hospital_zone()).date()),
        sos=sos_open_oldest(),
        applications=doctor_applications_oldest(),
        deliveries=deliveries_in_progress(),
        as_of=now,
    )
