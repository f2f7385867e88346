"""'My patients': everyone with an appointment with the signed-in doctor, once each. Tried by
the doctor, another doctor, a patient, an editor, an admin and the anonymous visitor."""

from datetime import date

import pytest
from django.utils import timezone

from clinic.models import Patient
from core.models import AuditEvent
from tests.conftest import htmx
from tests.factories import DoctorUserFactory, local_datetime, make_appointment, make_doctor

URL = "/doctor/patients/"


@pytest.fixture
def clara(dr_clara):
    return make_doctor(dr_clara)


@pytest.fixture
def other_doctor(db):
    """A second doctor with an authenticator app, so the MFA gate lets her through."""
    return make_doctor(DoctorUserFactory(email="ines@example.test", first_name="Ines"))


def _rows(response) -> dict[str, Patient]:
    return {str(patient): patient for patient in response.context["page"].object_list}


def _born_years_ago(years: int) -> date:
    today = timezone.localdate()
    return today.replace(year=today.year - years)


@pytest.mark.django_db
def test_lists_her_patients_once_each_with_visits_last_and_next(
    client_for, clara, other_doctor, amina, ben
):
    amina.patient.date_of_birth = _born_years_ago(40)
    amina.patient.save(update_fields=["date_of_birth"])
    make_appointment(clara, amina.patient, local_datetime(-30, 9), status="completed")
    last = make_appointment(clara, amina.patient, local_datetime(-7, 9), status="completed")
    make_appointment(clara, amina.patient, local_datetime(-3, 9), status="no_show")
    make_appointment(clara, amina.patient, local_datetime(2, 9), status="cancelled")
    upcoming = make_appointment(clara, amina.patient, local_datetime(5, 9))
    make_appointment(clara, amina.patient, local_datetime(9, 9), status="pending")
    # Another doctor's visit with her counts for nothing here.
    make_appointment(other_doctor, amina.patient, local_datetime(-1, 9), status="completed")
    # Ben only ever cancelled: he is still her patient, with nothing to show.
    make_appointment(clara, ben.patient, local_datetime(4, 11), status="cancelled")

    response = client_for(clara.user).get(URL)

    assert response.status_code == 200
    rows = _rows(response)
    assert set(rows) == {"Amina Okafor", "Ben Keller"}
    amina_row, ben_row = rows["Amina Okafor"], rows["Ben Keller"]
    assert (amina_row.visit_count, amina_row.age) == (2, 40)
    assert amina_row.last_visit_id == last.public_id
    assert amina_row.next_appointment_id == upcoming.public_id
    assert (ben_row.visit_count, ben_row.age) == (0, None)
    assert ben_row.last_visit_id is None and ben_row.next_appointment_id is None
    body = response.content.decode()
    assert f'href="/appointments/{last.public_id}/"' in body
    assert f'href="/appointments/{upcoming.public_id}/"' in body
    assert AuditEvent.objects.filter(action="view", details__list="my_patients").exists()


@pytest.mark.django_db
def test_another_doctors_patient_never_appears(client_for, clara, other_doctor, amina, ben):
    make_appointment(clara, amina.patient, local_datetime(1, 9))
    make_appointment(other_doctor, ben.patient, local_datetime(1, 9))

    clara_page = client_for(clara.user).get(URL)
    other_page = client_for(other_doctor.user).get(URL, {"q": "Amina"})

    assert set(_rows(clara_page)) == {"Amina Okafor"}
    assert "Ben Keller" not in clara_page.content.decode()
    assert _rows(other_page) == {}
    assert "Amina" not in other_page.content.decode().split('id="patient-results"')[1]


@pytest.mark.django_db
def test_search_by_name_and_live_filter_partial(client_for, clara, amina, ben):
    make_appointment(clara, amina.patient, local_datetime(1, 9))
    make_appointment(clara, ben.patient, local_datetime(1, 10))
    client = client_for(clara.user)

    by_last_name = client.get(URL, {"q": "okaf"})
    by_both = client.get(URL, {"q": "ben keller"})
    live = client.get(URL, {"q": "Ben"}, **htmx("patient-results"))

    assert set(_rows(by_last_name)) == {"Amina Okafor"}
    assert set(_rows(by_both)) == {"Ben Keller"}
    body = live.content.decode()
    assert body.lstrip().startswith('<section id="patient-results"')
    assert "<html" not in body
    assert "Ben Keller" in body and "Amina" not in body


@pytest.mark.django_db
def test_paginates_by_25_and_keeps_the_search_in_the_links(client_for, clara, amina):
    for index in range(30):
        patient = Patient.objects.create(first_name=f"Pat{index:02d}", last_name="Zeller")
        make_appointment(
            clara, patient, local_datetime(1 + index, 9), booked_by=amina, status="completed"
        )
    client = client_for(clara.user)

    first = client.get(URL, {"q": "Zeller"})
    second = client.get(URL, {"q": "Zeller", "page": 2})

    assert len(_rows(first)) == 25
    assert len(_rows(second)) == 5
    assert 'href="/doctor/patients/?q=Zeller&amp;page=2"' in first.content.decode()
    assert "30 patients" in first.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 30])
def test_query_count_does_not_grow_with_patients(
    client_for, clara, amina, django_assert_num_queries, count
):
    for index in range(count):
        patient = Patient.objects.create(first_name=f"Pat{index:02d}", last_name="Zeller")
        make_appointment(clara, patient, local_datetime(-1 - index, 9), booked_by=amina)
        make_appointment(clara, patient, local_datetime(1 + index, 9), booked_by=amina)
    client = client_for(clara.user)
    client.get(URL)

    # user, TOTP check, doctor profile, count, the page's rows, the audit entry, unread badge
    with django_assert_num_queries(7):
        assert client.get(URL).status_code == 200


@pytest.mark.django_db
def test_other_roles_get_403_and_the_anonymous_visitor_the_login(
    client, client_for, amina, eddie, ada
):
    for user in (amina, eddie, ada):
        assert client_for(user).get(URL).status_code == 403
    assert client.get(URL)["Location"] == f"/accounts/login/?next={URL}"


@pytest.mark.django_db
def test_a_doctor_login_without_a_profile_gets_403(client_for, dr_clara):
    assert client_for(dr_clara).get(URL).status_code == 403


@pytest.mark.django_db
def test_post_is_405(client_for, clara):
    assert client_for(clara.user).post(URL).status_code == 405


@pytest.mark.django_db
def test_the_doctors_home_and_nav_link_here(client_for, clara):
    body = client_for(clara.user).get("/", follow=True).content.decode()

    assert 'href="/doctor/patients/"' in body
    assert 'href="/doctor/availability/"' in body
