"""The patient's appointment pages: list, detail, cancel and calendar file. Each is tried by
the participant, the outsider, the wrong role and the anonymous visitor."""

import pytest
from guardian.shortcuts import assign_perm
from icalendar import Calendar

from clinic.models import Appointment, Patient
from core.models import AuditEvent
from tests.conftest import htmx
from tests.factories import local_datetime, make_appointment, make_doctor


def _book(doctor, patient, booked_by, days=3, hour=10, status="confirmed") -> Appointment:
    return make_appointment(
        doctor,
        patient,
        local_datetime(days, hour),
        booked_by=booked_by,
        status=status,
        location="Building B",
        reason="Palpitations",
    )


@pytest.fixture
def clara(dr_clara):
    return make_doctor(dr_clara)


@pytest.fixture
def child(amina):
    noah = Patient.objects.create(first_name="Noah", last_name="Okafor")
    assign_perm("clinic.book_for_patient", amina, noah)
    return noah


@pytest.fixture
def own(clara, amina):
    return _book(clara, amina.patient, amina)


@pytest.mark.django_db
def test_list_shows_her_own_and_her_childs_appointments_and_nobody_elses(
    client_for, amina, ben, clara, child, own
):
    for_child = _book(clara, child, amina, days=4)
    bens = _book(clara, ben.patient, ben, days=5)

    page = client_for(amina).get("/appointments/").content.decode()

    assert str(own.public_id) in page
    assert str(for_child.public_id) in page and "for Noah Okafor" in page
    assert str(bens.public_id) not in page


@pytest.mark.django_db
def test_list_is_for_patients_only(client, client_for, dr_clara):
    assert client_for(dr_clara).get("/appointments/").status_code == 403
    assert client.get("/appointments/")["Location"] == "/accounts/login/?next=/appointments/"


@pytest.mark.django_db
def test_list_htmx_request_gets_only_the_upcoming_region(client_for, amina, own):
    response = client_for(amina).get("/appointments/", **htmx("upcoming-appointments"))

    body = response.content.decode()
    assert body.lstrip().startswith('<section id="upcoming-appointments"')
    assert "<html" not in body


@pytest.mark.django_db
def test_detail_for_participants_and_404_for_everyone_else(
    client, client_for, amina, ben, dr_clara, dr_omar, own
):
    url = f"/appointments/{own.public_id}/"
    make_doctor(dr_omar)

    assert client_for(amina).get(url).status_code == 200
    assert client_for(dr_clara).get(url).status_code == 200
    assert client_for(ben).get(url).status_code == 404
    assert client.get(url)["Location"] == f"/accounts/login/?next={url}"
    assert client_for(amina).post(url).status_code == 405
    viewed = AuditEvent.objects.filter(action="view", target_id=str(own.public_id))
    assert viewed.count() == 2


@pytest.mark.django_db
def test_unknown_appointment_is_404(client_for, amina):
    response = client_for(amina).get("/appointments/00000000-0000-0000-0000-000000000000/")

    assert response.status_code == 404


@pytest.mark.django_db
def test_cancel_with_a_reason_frees_the_slot_and_keeps_the_row(client_for, amina, own):
    response = client_for(amina).post(
        f"/appointments/{own.public_id}/cancel/", {"reason": "Feeling better"}
    )

    assert response.status_code == 302
    own.refresh_from_db()
    assert own.status == "cancelled"
    assert own.cancellation_reason == "Feeling better"
    assert own.cancelled_by == amina
    assert Appointment.objects.filter(pk=own.pk).exists()


@pytest.mark.django_db
def test_cancel_without_a_reason_says_so_next_to_the_field(client_for, amina, own):
    response = client_for(amina).post(f"/appointments/{own.public_id}/cancel/", {"reason": " "})

    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    own.refresh_from_db()
    assert own.status == "confirmed"


@pytest.mark.django_db
def test_cancelling_twice_is_refused_with_a_message(client_for, amina, own):
    client = client_for(amina)
    client.post(f"/appointments/{own.public_id}/cancel/", {"reason": "Feeling better"})

    again = client.post(f"/appointments/{own.public_id}/cancel/", {"reason": "Again"})

    assert again.status_code == 400
    assert "cannot be cancelled" in again.content.decode()


@pytest.mark.django_db
def test_an_outsider_cannot_cancel_and_get_does_nothing(client_for, ben, amina, own):
    url = f"/appointments/{own.public_id}/cancel/"

    assert client_for(ben).post(url, {"reason": "Mischief"}).status_code == 404
    assert client_for(amina).get(url).status_code == 405
    own.refresh_from_db()
    assert own.status == "confirmed"


@pytest.mark.django_db
def test_htmx_cancel_navigates_with_hx_location_and_fires_the_event(client_for, amina, own):
    response = client_for(amina).post(
        f"/appointments/{own.public_id}/cancel/", {"reason": "Feeling better"}, **htmx("main")
    )

    assert response["HX-Location"] == f"/appointments/{own.public_id}/"
    assert response["HX-Trigger"] == "appointmentCancelled"


@pytest.mark.django_db
def test_calendar_file_for_participants_only(client_for, amina, ben, own):
    url = f"/appointments/{own.public_id}/calendar.ics"

    response = client_for(amina).get(url)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert response["Content-Disposition"] == 'attachment; filename="appointment.ics"'
    assert response["Cache-Control"] == "no-store"
    (event,) = Calendar.from_ical(response.content).walk("VEVENT")
    assert event["uid"] == f"appointment-{own.public_id}@hospital"
    assert "Palpitations" not in response.content.decode()
    assert client_for(ben).get(url).status_code == 404
    assert AuditEvent.objects.filter(action="export", target_id=str(own.public_id)).exists()
