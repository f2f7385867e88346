"""The doctor's agenda and the actions on a visit: confirm, completed, no-show. Tried by the
doctor, another doctor, the patient and the anonymous visitor."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from clinic.models import Appointment
from tests.conftest import htmx
from tests.factories import local_datetime, make_appointment, make_doctor


def _visit(doctor, patient, *, days=0, hour=10, minute=0, status="confirmed") -> Appointment:
    return make_appointment(
        doctor,
        patient,
        local_datetime(days, hour, minute),
        minutes=15,
        status=status,
        reason="Check-up",
    )


@pytest.fixture
def clara(dr_clara):
    return make_doctor(dr_clara)


@pytest.fixture
def omar(dr_omar, settings):
    settings.STAFF_MFA_REQUIRED = False  # Dr Omar has no authenticator in the cast
    return make_doctor(dr_omar)


@pytest.mark.django_db
def test_agenda_shows_the_doctors_day_and_week_only(client_for, clara, omar, amina, ben):
    mine = _visit(clara, amina.patient, days=1)
    theirs = _visit(omar, ben.patient, days=1)

    page = client_for(clara.user).get(f"/doctor/agenda/?day={mine.local_date}").content.decode()

    assert str(mine.public_id) in page
    assert str(theirs.public_id) not in page
    assert "Ben Keller" not in page
    assert mine.local_date.strftime("%A") in page


@pytest.mark.django_db
def test_agenda_is_for_doctors_only(client, client_for, amina, ada):
    assert client_for(amina).get("/doctor/agenda/").status_code == 403
    assert client_for(ada).get("/doctor/agenda/").status_code == 403
    assert client.get("/doctor/agenda/")["Location"] == "/accounts/login/?next=/doctor/agenda/"


@pytest.mark.django_db
def test_a_bad_day_parameter_falls_back_to_today(client_for, clara):
    response = client_for(clara.user).get("/doctor/agenda/?day=not-a-date")

    assert response.status_code == 200
    assert timezone.localdate().strftime("%A") in response.content.decode()


@pytest.mark.django_db
def test_agenda_htmx_refresh_gets_only_its_region(client_for, clara, amina):
    _visit(clara, amina.patient)

    response = client_for(clara.user).get("/doctor/agenda/", **htmx("agenda-day"))

    body = response.content.decode()
    assert body.lstrip().startswith('<section id="agenda-day"')
    assert "<html" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 30])
def test_agenda_query_count_does_not_grow(
    client_for, clara, amina, ben, django_assert_num_queries, count
):
    patients = [amina.patient, ben.patient]
    for index in range(count):
        _visit(clara, patients[index % 2], days=index // 2, hour=8 + (index % 2))
    client = client_for(clara.user)
    client.get("/doctor/agenda/")

    # user, unread badge, TOTP check, doctor profile, the day, the week
    with django_assert_num_queries(6):
        assert client.get("/doctor/agenda/").status_code == 200


@pytest.mark.django_db
def test_doctor_confirms_a_pending_booking_once(client_for, clara, amina):
    pending = _visit(clara, amina.patient, days=2, status="pending")
    client = client_for(clara.user)

    first = client.post(f"/appointments/{pending.public_id}/confirm/")
    again = client.post(f"/appointments/{pending.public_id}/confirm/")

    assert first.status_code == 302
    assert first["Location"] == f"/doctor/agenda/?day={pending.local_date}"
    pending.refresh_from_db()
    assert pending.status == "confirmed" and pending.confirmed_at
    assert again.status_code == 400
    assert "Only an appointment awaiting confirmation can be confirmed." in again.content.decode()


@pytest.mark.django_db
def test_completing_or_missing_a_visit_waits_until_it_starts(client_for, clara, amina, ben):
    visit = _visit(clara, amina.patient, days=1)
    other = _visit(clara, ben.patient, days=1, hour=11)
    client = client_for(clara.user)

    early = client.post(f"/appointments/{visit.public_id}/complete/")
    assert early.status_code == 400
    assert "cannot be completed before it starts" in early.content.decode()

    with time_machine.travel(visit.start_at + timedelta(minutes=5), tick=False):
        client = client_for(clara.user)
        assert client.post(f"/appointments/{visit.public_id}/complete/").status_code == 302
    with time_machine.travel(other.start_at + timedelta(minutes=20), tick=False):
        client = client_for(clara.user)
        assert client.post(f"/appointments/{other.public_id}/no-show/").status_code == 302

    visit.refresh_from_db()
    other.refresh_from_db()
    assert (visit.status, other.status) == ("completed", "no_show")


@pytest.mark.django_db
def test_actions_on_someone_elses_visit(client, client_for, clara, omar, amina):
    visit = _visit(clara, amina.patient, days=1, status="pending")
    url = f"/appointments/{visit.public_id}/confirm/"

    assert client_for(omar.user).post(url).status_code == 404  # another doctor's patient
    assert client_for(amina).post(url).status_code == 403  # the patient cannot confirm
    assert client.post(url)["Location"].startswith("/accounts/login/")
    assert client_for(clara.user).get(url).status_code == 405
    visit.refresh_from_db()
    assert visit.status == "pending"


@pytest.mark.django_db
def test_htmx_action_navigates_back_to_the_day_and_signals_the_change(client_for, clara, amina):
    pending = _visit(clara, amina.patient, days=2, status="pending")

    response = client_for(clara.user).post(
        f"/appointments/{pending.public_id}/confirm/", **htmx("main")
    )

    assert response["HX-Location"] == f"/doctor/agenda/?day={pending.local_date}"
    assert response["HX-Trigger"] == "appointmentChanged"


@pytest.mark.django_db
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "2026-02-30"])
def test_days_at_the_edge_of_the_calendar_fall_back_to_today(client_for, clara, day):
    response = client_for(clara.user).get(f"/doctor/agenda/?day={day}")

    assert response.status_code == 200
    assert timezone.localdate().strftime("%A") in response.content.decode()


@pytest.mark.django_db
def test_confirming_tells_the_booker_and_updates_their_calendar(
    client_for, clara, amina, mailoutbox, django_capture_on_commit_callbacks
):
    pending = _visit(clara, amina.patient, days=2, status="pending")

    with django_capture_on_commit_callbacks(execute=True):
        client_for(clara.user).post(f"/appointments/{pending.public_id}/confirm/")

    assert amina.notifications.filter(title__contains="confirmed the appointment").exists()
    (message,) = mailoutbox
    assert message.to == [amina.email]
    assert "Appointment confirmed:" in message.subject
    ics = message.attachments[0][1]  # text/calendar: Django keeps it as text
    assert "METHOD:REQUEST" in ics
    assert "STATUS:CONFIRMED" in ics and "SEQUENCE:1" in ics


@pytest.mark.django_db
def test_a_booking_awaiting_confirmation_is_tentative_in_the_calendar(clara, amina):
    from clinic.calendar import appointment_ics

    pending = _visit(clara, amina.patient, days=2, status="pending")

    ics = appointment_ics(pending).decode()
    cancelled = appointment_ics(pending, method="CANCEL").decode()

    assert "STATUS:TENTATIVE" in ics and "SEQUENCE:0" in ics
    assert "STATUS:CANCELLED" in cancelled and "SEQUENCE:2" in cancelled


@pytest.mark.django_db
def test_agenda_links_a_current_visit_to_the_patients_records(client_for, clara, amina, ben):
    current = _visit(clara, amina.patient, days=1)
    _visit(clara, ben.patient, days=1, hour=11, status="cancelled")
    client = client_for(clara.user)

    page = client.get(f"/doctor/agenda/?day={current.local_date}").content.decode()

    records = f"/patients/{amina.patient.public_id}/records/"
    assert records in page
    assert f"/patients/{ben.patient.public_id}/records/" not in page  # no care relationship
    assert client.get(records).status_code == 200
