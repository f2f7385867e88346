"""The analytics dashboard on the CMS home: each figure on a small known data set (time-zone
edges, empty days), the same queries with 10 and with 100,000 appointments, and who sees it."""

import json
import re
from datetime import date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.models import Appointment, Doctor, Patient, SOSRequest, Specialty
from clinic.scheduling import hospital_zone
from core.analytics import analytics_dashboard
from core.cms.analytics import duration_text
from tests.factories import DoctorUserFactory, make_appointment, make_doctor

# A fixed "today": the 30-day window (23 Oct to 21 Nov 2026) holds the night the clocks went
# back (25 Oct), and the 12 weeks of new patients start on Monday 31 Aug 2026.
TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 15, 0, tzinfo=hospital_zone())
Status = Appointment.Status


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=hospital_zone())


@pytest.fixture
def clara(dr_clara):
    return make_doctor(dr_clara)  # cardiology


def doctor_in(user, specialty: Specialty) -> Doctor:
    doctor = make_doctor(user)
    doctor.specialty = specialty
    doctor.save(update_fields=["specialty"])
    return doctor


@pytest.fixture
def omar(dr_omar):
    return doctor_in(dr_omar, Specialty.objects.get(slug="pediatrics"))


@pytest.fixture
def known_appointments(clara, omar, amina, ben):
    """Eleven appointments, three of them just outside the window."""
    rows = [
        # 23:30 in Berlin on 20 Nov is 22:30 UTC; 00:15 on 21 Nov is still 20 Nov in UTC.
        (clara, amina, local(date(2026, 11, 20), 23, 30), Status.COMPLETED),
        (clara, amina, local(date(2026, 11, 21), 0, 15), Status.CONFIRMED),
        (omar, ben, local(date(2026, 11, 20), 9), Status.NO_SHOW),
        (omar, ben, local(date(2026, 11, 20), 10), Status.CANCELLED),
        (clara, ben, local(date(2026, 11, 20), 11), Status.COMPLETED),
        (clara, ben, local(date(2026, 11, 21), 16), Status.PENDING),
        (clara, ben, local(date(2026, 11, 19), 9), Status.RESCHEDULED),
        # The first day of the window, 00:30 in Berlin (22:30 UTC the day before).
        (omar, amina, local(date(2026, 10, 23), 0, 30), Status.COMPLETED),
        # Outside: the evening before the window, and tomorrow just after midnight.
        (omar, amina, local(date(2026, 10, 22), 23, 30), Status.COMPLETED),
        (clara, ben, local(date(2026, 11, 22), 0, 10), Status.CONFIRMED),
        (omar, ben, local(date(2026, 9, 1), 9), Status.CANCELLED),
    ]
    for doctor, patient, start, status in rows:
        make_appointment(doctor, patient.patient, start, status=status)


def _day(dashboard, day: date) -> dict[str, int]:
    index = dashboard.daily.days.index(day)
    return {series.status: series.counts[index] for series in dashboard.daily.series}


@pytest.mark.django_db
def test_appointments_per_day_by_status_in_the_hospital_zone(known_appointments):
    dashboard = analytics_dashboard(now=NOW)

    days = dashboard.daily.days
    assert len(days) == 30 and days[0] == date(2026, 10, 23) and days[-1] == TODAY
    assert _day(dashboard, date(2026, 11, 20)) == {
        "completed": 2,
        "confirmed": 0,
        "pending": 0,
        "no_show": 1,
        "cancelled": 1,
        "rescheduled": 0,
    }
    assert _day(dashboard, TODAY) == {
        **dict.fromkeys(_day(dashboard, TODAY), 0),
        "confirmed": 1,
        "pending": 1,
    }
    assert _day(dashboard, date(2026, 11, 19))["rescheduled"] == 1
    assert sum(_day(dashboard, date(2026, 10, 23)).values()) == 1
    # The night the clocks went back, and every other day without appointments, shows 0.
    assert sum(_day(dashboard, date(2026, 10, 25)).values()) == 0
    assert [total for _day_, _counts, total in dashboard.daily.rows].count(0) == 26
    assert sum(series.total for series in dashboard.daily.series) == 8


@pytest.mark.django_db
def test_cancellation_and_no_show_rates(known_appointments):
    rates = analytics_dashboard(now=NOW).rates

    # Seven booked in the window (the rescheduled one counts where it moved to), one cancelled.
    assert (rates.cancellation.part, rates.cancellation.whole) == (1, 7)
    assert rates.cancellation.percent == 14.3
    # Four visits were due (three attended, one missed).
    assert (rates.no_show.part, rates.no_show.whole) == (1, 4)
    assert rates.no_show.percent == 25.0


@pytest.mark.django_db
def test_rates_without_appointments_are_not_a_number(db):
    rates = analytics_dashboard(now=NOW).rates

    assert rates.cancellation.percent is None and rates.no_show.percent is None


@pytest.mark.django_db
def test_top_specialties_by_appointments_in_the_window(known_appointments):
    specialties = analytics_dashboard(now=NOW).specialties

    assert [(s.name, s.appointments) for s in specialties] == [("Cardiology", 4), ("Pediatrics", 3)]


@pytest.mark.django_db
def test_new_patients_per_week_with_monday_in_the_hospital_zone(db):
    created = {
        # Monday 16 Nov, 00:30 in Berlin = Sunday 23:30 UTC: the week of 16 Nov.
        "monday-night": local(date(2026, 11, 16), 0, 30),
        "sunday-late": local(date(2026, 11, 15), 23, 30),
        "this-week": local(date(2026, 11, 21), 10),
        "first-week": local(date(2026, 8, 31), 8),
        "too-old": local(date(2026, 8, 30), 23),
    }
    for name, at in created.items():
        patient = Patient.objects.create(first_name=name)
        Patient.objects.filter(pk=patient.pk).update(created_at=at)

    weeks = analytics_dashboard(now=NOW).weeks

    assert len(weeks) == 12
    assert weeks[0].week_start == date(2026, 8, 31) and weeks[-1].week_start == date(2026, 11, 16)
    assert all(week.week_start.weekday() == 0 for week in weeks)
    by_week = {week.week_start: week.patients for week in weeks}
    assert by_week[date(2026, 11, 16)] == 2
    assert by_week[date(2026, 11, 9)] == 1
    assert by_week[date(2026, 8, 31)] == 1
    assert sum(by_week.values()) == 4


def _sos(patient_user, created_at, seconds: int | None) -> SOSRequest:
    return SOSRequest.objects.create(
        patient=patient_user.patient,
        raised_by=patient_user,
        status=SOSRequest.Status.OPEN if seconds is None else SOSRequest.Status.RESOLVED,
        created_at=created_at,
        acknowledged_at=None if seconds is None else created_at + timedelta(seconds=seconds),
    )


@pytest.mark.django_db
def test_sos_median_and_95th_percentile_response_times(amina):
    start = local(date(2026, 11, 1), 12)
    for n, seconds in enumerate([40, 10, 100, 30, 20]):
        _sos(amina, start + timedelta(hours=n), seconds)
    _sos(amina, start, None)  # never acknowledged: no response time
    _sos(amina, local(date(2026, 10, 22), 12), 5)  # before the window

    sos = analytics_dashboard(now=NOW).sos

    assert sos.acknowledged == 5
    assert sos.median == timedelta(seconds=30)
    assert sos.p95 == timedelta(seconds=100)  # nearest rank: the 5th of 5

    _sos(amina, start + timedelta(days=1), 60)
    sos = analytics_dashboard(now=NOW).sos

    assert sos.median == timedelta(seconds=35)  # the mean of the 3rd and 4th of 6
    assert sos.p95 == timedelta(seconds=100)


@pytest.mark.django_db
def test_sos_response_times_without_requests(db):
    sos = analytics_dashboard(now=NOW).sos

    assert (sos.acknowledged, sos.median, sos.p95) == (0, None, None)
    assert duration_text(sos.median) == "—"


def test_response_times_read_as_people_say_them():
    assert duration_text(timedelta(seconds=45)) == "45 s"
    assert duration_text(timedelta(seconds=125)) == "2 min 05 s"
    assert duration_text(timedelta(hours=1, minutes=3, seconds=10)) == "1 h 03 min"


# --- The panel on the CMS home -------------------------------------------------------------------


def _chart_data(body: str) -> dict:
    match = re.search(
        r'<script id="analytics-chart-data" type="application/json">(.*?)</script>', body
    )
    assert match, "the chart figures are handed over with json_script"
    return json.loads(match.group(1))


@pytest.mark.django_db
def test_admins_see_the_panel_with_charts_tables_and_figures(client_for, ada, clara, amina):
    start = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0)
    make_appointment(clara, amina.patient, start - timedelta(days=1), status=Status.COMPLETED)
    make_appointment(clara, amina.patient, start - timedelta(days=2), status=Status.CANCELLED)

    response = client_for(ada).get("/cms/")

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="analytics-section"' in body
    assert '<script src="/static/vendor/chartjs/chart.umd.min.js"></script>' in body
    assert '<script src="/static/js/cms-analytics.js"></script>' in body
    assert 'href="/static/css/cms-analytics.css"' in body
    for chart in ("daily", "specialties", "patients"):
        assert f'data-chart="{chart}"' in body
    assert "50.0 %" in body  # one of two booked was cancelled
    assert '<th scope="row">Cardiology</th><td>2</td>' in body
    data = _chart_data(body)
    assert len(data["daily"]["labels"]) == 30
    completed = next(s for s in data["daily"]["datasets"] if s["status"] == "completed")
    assert sum(completed["data"]) == 1
    assert data["specialties"] == {"labels": ["Cardiology"], "data": [2]}
    assert len(data["patients"]["data"]) == 12
    # No inline script: only the JSON island and the two files.
    assert "<script>" not in body.split('id="analytics-section"')[1].split("</section>")[0]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["eddie", "dr_clara"])
def test_editors_and_doctors_in_the_cms_do_not_see_the_panel(request, client_for, who):
    user = request.getfixturevalue(who)
    if who == "dr_clara":
        make_doctor(user)

    response = client_for(user).get("/cms/", follow=True)

    body = response.content.decode()
    assert 'id="analytics-section"' not in body
    assert "chart.umd.min.js" not in body
    assert "analytics-chart-data" not in body


@pytest.mark.django_db
def test_patients_and_visitors_never_reach_it(client, client_for, amina):
    assert client.get("/cms/")["Location"].startswith("/cms/login/")
    response = client_for(amina).get("/cms/", follow=True)
    assert "analytics-chart-data" not in response.content.decode()


# --- Query count: 10 and 100,000 appointments ----------------------------------------------------

MANY = 100_000
DOCTORS = 8
# A prime number of patients: a patient meets the same doctor again only 97 slots (48.5 h)
# later, so no two active appointments of one patient with one doctor fall on one day.
PATIENTS = 97
SLOT = timedelta(minutes=30)


def _doctors(count: int) -> list[Doctor]:
    specialties = list(Specialty.objects.order_by("name")[:count])
    return [doctor_in(DoctorUserFactory(), specialties[n % len(specialties)]) for n in range(count)]


# What became of appointments that have passed, and the state of those still to come.
PAST_STATUSES = [Status.COMPLETED] * 5 + [Status.CANCELLED, Status.NO_SHOW, Status.RESCHEDULED]
FUTURE_STATUSES = [Status.CONFIRMED] * 3 + [Status.PENDING, Status.CANCELLED]


def appointments_bulk(count: int, *, booked_by, origin: datetime) -> None:
    """`count` appointments spread over DOCTORS doctors and PATIENTS patients on a shared grid
    of 30-minute slots from `origin` on: every doctor has one appointment per slot and every
    patient at most one, so neither overlaps. Past ones were completed, cancelled, missed or
    rescheduled; future ones are active or cancelled.

    Rows go in latest first: SQLite's overlap trigger then finds no earlier row of the doctor
    or patient to compare with, and the insert stays fast."""
    doctors = _doctors(DOCTORS)
    patients = Patient.objects.bulk_create(
        Patient(first_name=f"Bulk{n}", last_name="Patient") for n in range(PATIENTS)
    )
    zone = hospital_zone()
    now = timezone.now()
    rows = []
    for n in reversed(range(count)):
        start = origin + (n // DOCTORS) * SLOT
        statuses = PAST_STATUSES if start + SLOT <= now else FUTURE_STATUSES
        rows.append(
            Appointment(
                doctor=doctors[n % DOCTORS],
                patient=patients[n % PATIENTS],
                booked_by=booked_by,
                start_at=start,
                end_at=start + SLOT,
                local_date=start.astimezone(zone).date(),
                mode="in_person",
                status=statuses[(n // DOCTORS + n % DOCTORS) % len(statuses)],
            )
        )
    Appointment.objects.bulk_create(rows, batch_size=5_000)


def _sos_sample(patient_user, count: int) -> None:
    now = timezone.now()
    for n in range(count):
        _sos(patient_user, now - timedelta(days=n % 20, minutes=n), 30 + n)


def _queries(function) -> int:
    with CaptureQueriesContext(connection) as queries:
        function()
    return len(queries)


@pytest.mark.django_db
def test_the_same_queries_with_10_and_with_100000_appointments(client_for, ada, amina):
    client = client_for(ada)
    client.get("/cms/")  # warm-up: session, site and permission rows cached afterwards
    # Ten appointments, and SOS requests in the window, so every figure has data to read.
    appointments_bulk(10, booked_by=ada, origin=timezone.now() - timedelta(days=3))
    _sos_sample(amina, 4)
    few = _queries(analytics_dashboard)
    client.get("/cms/")  # the session's last-seen stamp is rewritten once a minute: not now
    few_page = _queries(lambda: client.get("/cms/"))

    # 100,000 more: five months of 30-minute slots, around the clock, for eight doctors.
    appointments_bulk(MANY, booked_by=ada, origin=timezone.now() - timedelta(days=150))
    _sos_sample(amina, 200)
    assert Appointment.objects.count() == MANY + 10
    many = _queries(analytics_dashboard)
    client.get("/cms/")
    response = None

    def page():
        nonlocal response
        response = client.get("/cms/")

    many_page = _queries(page)

    # Per-day counts, specialties, weekly patients, and count + median + p95 of SOS times.
    assert few == many == 6
    assert few_page == many_page
    assert response.status_code == 200
    assert (
        sum(sum(s["data"]) for s in _chart_data(response.content.decode())["daily"]["datasets"])
        > 10_000
    )
