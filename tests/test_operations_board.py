"""The admin's operations board (/operations/): today's appointments by status, open SOS
requests, pending doctor applications and deliveries in progress; their links to the CMS, the
region's own refresh, a fixed number of queries, and nobody else getting it."""

from datetime import date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.models import Address, Appointment, Delivery, Doctor, Prescription, SOSRequest
from clinic.scheduling import hospital_zone
from tests.conftest import htmx
from tests.factories import (
    DoctorUserFactory,
    PatientUserFactory,
    make_appointment,
    make_doctor,
)

URL = "/operations/"
LOGIN = "/accounts/login/"
Status = Appointment.Status


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=hospital_zone())


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def clara(dr_clara):
    return make_doctor(dr_clara)


def _region(body: str, region_id: str) -> str:
    start = body.index(f'id="{region_id}"')
    return body[start : body.index("</article>", start)]


def _figure(body: str, name: str) -> int:
    marker = f'data-figure="{name}" data-count="'
    start = body.index(marker) + len(marker)
    return int(body[start : body.index('"', start)])


def _status_count(region: str, status: str) -> int:
    start = region.index(f'data-status="{status}"')
    marker = '<span class="ops-count">'
    start = region.index(marker, start) + len(marker)
    return int(region[start : region.index("</span>", start)])


# --- Figures -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_todays_appointments_by_status_in_the_hospital_zone(
    client_for, ada, clara, amina, ben, today
):
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    make_appointment(clara, amina.patient, local(today, 0, 15), status=Status.COMPLETED)
    make_appointment(clara, ben.patient, local(today, 9), status=Status.NO_SHOW)
    make_appointment(clara, amina.patient, local(today, 10), status=Status.CANCELLED)
    make_appointment(clara, amina.patient, local(today, 11), status=Status.RESCHEDULED)
    make_appointment(clara, amina.patient, local(today, 23, 30), status=Status.CONFIRMED)
    make_appointment(clara, ben.patient, local(today, 22), status=Status.PENDING)
    # Not today: the evening before and just after midnight tonight.
    make_appointment(clara, ben.patient, local(yesterday, 23, 45), status=Status.COMPLETED)
    make_appointment(clara, ben.patient, local(tomorrow, 0, 5), status=Status.CONFIRMED)

    body = client_for(ada).get(URL).content.decode()

    region = _region(body, "ops-appointments")
    counts = {s: _status_count(region, s) for s in Status.values}
    assert counts == {
        "pending": 1,
        "confirmed": 1,
        "completed": 1,
        "no_show": 1,
        "cancelled": 1,
        "rescheduled": 1,
    }
    assert _figure(body, "appointments-today") == 5  # the rescheduled one moved elsewhere
    assert "5 appointments today" in region and "2 still to come" in region
    day = today.isoformat()
    no_shows = f"/cms/appointments/?status=no_show&local_date_from={day}&local_date_to={day}"
    assert f'href="{no_shows.replace("&", "&amp;")}"' in region
    assert f'href="/cms/appointments/?local_date_from={day}&amp;local_date_to={day}"' in region


@pytest.mark.django_db
def test_a_status_link_opens_the_cms_appointments_of_that_status_today(
    client_for, ada, clara, amina, ben, today
):
    make_appointment(clara, amina.patient, local(today, 9), status=Status.NO_SHOW)
    make_appointment(clara, ben.patient, local(today, 10), status=Status.COMPLETED)
    make_appointment(clara, ben.patient, local(today - timedelta(days=1), 9), status=Status.NO_SHOW)
    client = client_for(ada)
    region = _region(client.get(URL).content.decode(), "ops-appointments")
    start = region.index('data-status="no_show"')
    href_start = region.index('href="', start) + len('href="')
    href = region[href_start : region.index('"', href_start)]

    listing = client.get(href.replace("&amp;", "&"))

    assert listing.status_code == 200
    rows = listing.content.decode()
    assert "Amina Okafor" in rows
    assert "Ben Keller" not in rows


@pytest.mark.django_db
def test_open_sos_requests_oldest_first_linked_to_the_cms_and_the_board(
    client_for, ada, amina, ben
):
    now = timezone.now()
    older = SOSRequest.objects.create(
        patient=amina.patient, raised_by=amina, created_at=now - timedelta(minutes=9)
    )
    newer = SOSRequest.objects.create(
        patient=ben.patient,
        raised_by=ben,
        created_at=now - timedelta(minutes=2),
        status=SOSRequest.Status.ACKNOWLEDGED,
        acknowledged_at=now - timedelta(minutes=1),
    )
    SOSRequest.objects.create(
        patient=ben.patient, raised_by=ben, status=SOSRequest.Status.RESOLVED, closed_at=now
    )

    body = client_for(ada).get(URL).content.decode()

    region = _region(body, "ops-sos")
    assert _figure(body, "sos-open") == 2
    assert "2 open SOS requests" in region
    assert 'href="/cms/sos-requests/"' in region
    assert 'href="/sos/board/"' in region
    assert region.index(f"/sos/{older.public_id}/") < region.index(f"/sos/{newer.public_id}/")
    assert "ops-region-alert" in region


@pytest.mark.django_db
def test_the_sos_list_shows_the_five_waiting_longest_and_the_count_of_all(client_for, ada, amina):
    now = timezone.now()
    requests = [
        SOSRequest.objects.create(
            patient=amina.patient, raised_by=amina, created_at=now - timedelta(minutes=n)
        )
        for n in range(7)
    ]

    body = client_for(ada).get(URL).content.decode()

    region = _region(body, "ops-sos")
    assert _figure(body, "sos-open") == 7
    shown = [sos for sos in requests if f"/sos/{sos.public_id}/" in region]
    assert shown == requests[2:]  # the five oldest
    assert "All open requests on the SOS board" in region


@pytest.mark.django_db
def test_pending_doctor_applications_count_and_oldest(client_for, ada):
    applicants = []
    for n, days_ago in enumerate([1, 9, 4, 6]):
        user = DoctorUserFactory(first_name=f"Applicant{n}", last_name="Pending")
        doctor = make_doctor(user, status=Doctor.Status.PENDING)
        Doctor.objects.filter(pk=doctor.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )
        applicants.append(user)
    make_doctor(DoctorUserFactory(first_name="Verified"))

    body = client_for(ada).get(URL).content.decode()

    region = _region(body, "ops-applications")
    assert _figure(body, "applications-pending") == 4
    assert "4 doctor applications pending" in region
    assert 'href="/cms/doctor-applications/?status=pending"' in region
    # The three waiting longest, oldest first; the newest is only counted.
    names = [f"Applicant{n} Pending" for n in (1, 3, 2)]
    positions = [region.index(name) for name in names]
    assert positions == sorted(positions)
    assert "Applicant0" not in region
    assert "waiting 1\xa0week" in region


def _deliveries(doctor, patient_user, statuses) -> list[Delivery]:
    """One delivery per status, each of its own prescription (one open delivery each)."""
    address = Address.objects.create(
        owner=patient_user, recipient_name="R", line1="Hauptstr. 1", postal_code="1", city="B"
    )
    deliveries = []
    start = timezone.now() - timedelta(days=30)
    for n, status in enumerate(statuses):
        visit = make_appointment(
            doctor, patient_user.patient, start + timedelta(hours=n), status=Status.COMPLETED
        )
        prescription = Prescription.objects.create(
            patient=patient_user.patient, doctor=doctor, appointment=visit, issued_at=start
        )
        deliveries.append(
            Delivery.objects.create(
                prescription=prescription,
                address=address,
                address_text="Hauptstr. 1",
                requested_by=patient_user,
                status=status,
            )
        )
    return deliveries


@pytest.mark.django_db
def test_deliveries_in_progress_by_status(client_for, ada, clara, amina):
    D = Delivery.Status
    _deliveries(
        clara,
        amina,
        [D.REQUESTED, D.REQUESTED, D.PREPARING, D.DISPATCHED, D.DELIVERED, D.FAILED, D.CANCELLED],
    )

    body = client_for(ada).get(URL).content.decode()

    region = _region(body, "ops-deliveries")
    assert _figure(body, "deliveries-in-progress") == 4
    assert {s: _status_count(region, s) for s in ("requested", "preparing", "dispatched")} == {
        "requested": 2,
        "preparing": 1,
        "dispatched": 1,
    }
    assert 'data-status="delivered"' not in region
    assert 'href="/cms/deliveries/"' in region
    assert 'href="/cms/deliveries/?status=dispatched"' in region


@pytest.mark.django_db
def test_an_empty_day_shows_zeros_and_says_so(client_for, ada):
    body = client_for(ada).get(URL).content.decode()

    assert _figure(body, "appointments-today") == 0
    assert _figure(body, "sos-open") == 0
    assert _figure(body, "applications-pending") == 0
    assert _figure(body, "deliveries-in-progress") == 0
    assert "No open request." in body
    assert "No application awaits a decision." in body


# --- The page and its refresh --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_board_refreshes_itself_every_30_seconds_and_on_notifications(client_for, ada):
    body = client_for(ada).get(URL).content.decode()

    board = body[body.index('<section id="operations"') :]
    board = board[: board.index(">")]
    assert 'hx-get="/operations/"' in board
    assert 'hx-trigger="every 30s, notificationReceived from:body"' in board
    assert "X-Background-Refresh" in board
    assert 'hx-swap="outerHTML"' in board
    # The rest of the home stays: administration links and notifications.
    assert "Administration" in body and 'id="latest-notifications"' in body
    assert 'href="/static/css/operations.css"' in body


@pytest.mark.django_db
def test_the_htmx_refresh_returns_only_the_board_with_the_new_figure(client_for, ada, amina):
    client = client_for(ada)
    assert _figure(client.get(URL).content.decode(), "sos-open") == 0
    SOSRequest.objects.create(patient=amina.patient, raised_by=amina)

    response = client.get(URL, **htmx("operations", **{"X-Background-Refresh": "1"}))

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="operations"')
    assert "<html" not in body and "Administration" not in body
    assert _figure(body, "sos-open") == 1


@pytest.mark.django_db
@pytest.mark.parametrize("size", ["small", "large"])
def test_the_board_runs_a_fixed_number_of_queries(
    client_for, ada, clara, amina, ben, today, django_assert_num_queries, size
):
    many = size == "large"
    done = [Status.COMPLETED, Status.CANCELLED, Status.NO_SHOW]
    for n in range(12 if many else 1):
        make_appointment(
            clara,
            (amina if n % 2 else ben).patient,
            local(today, 7) + n * timedelta(minutes=30),
            status=Status.CONFIRMED if n < 2 else done[n % 3],
        )
    for _ in range(8 if many else 1):
        SOSRequest.objects.create(patient=amina.patient, raised_by=amina)
    for n in range(6 if many else 1):
        make_doctor(DoctorUserFactory(first_name=f"Applicant{n}"), status=Doctor.Status.PENDING)
    D = Delivery.Status
    _deliveries(
        clara, PatientUserFactory(), [D.REQUESTED, D.PREPARING, D.DISPATCHED] * (3 if many else 1)
    )
    client = client_for(ada)
    client.get(URL)  # warm-up: the session's rows exist afterwards

    # Session and user (2), user session and latest notifications (2), the board (4).
    with django_assert_num_queries(8):
        response = client.get(URL)
    # The board's refresh alone does not read the notifications.
    with django_assert_num_queries(7):
        partial = client.get(URL, **htmx("operations"))

    assert response.status_code == partial.status_code == 200
    assert _figure(partial.content.decode(), "sos-open") == (8 if many else 1)


def test_the_board_selector_is_four_queries(db):
    from clinic.selectors_operations import operations_board

    with CaptureQueriesContext(connection) as queries:
        operations_board()

    assert len(queries) == 4


# --- Nobody else --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)

    partial = client.get(URL, **htmx("operations"))
    assert "ops-appointments" not in partial.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["amina", "dr_clara", "eddie"])
def test_patients_doctors_and_editors_get_403(request, client_for, who, amina):
    SOSRequest.objects.create(patient=amina.patient, raised_by=amina)
    client = client_for(request.getfixturevalue(who))

    for response in (client.get(URL), client.get(URL, **htmx("operations"))):
        assert response.status_code == 403
        assert "ops-sos" not in response.content.decode()
        assert "open SOS request" not in response.content.decode()


@pytest.mark.django_db
def test_the_board_answers_only_get(client_for, ada):
    assert client_for(ada).post(URL).status_code == 405
