"""The doctor directory, the doctor's profile and booking from it. Each page is tried by a
patient, by the wrong roles and by the anonymous visitor; the booking form with hostile input."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import assign_perm

from clinic.models import Appointment, ConsultationMode, Doctor, Language, Patient, Specialty
from clinic.scheduling import hospital_zone
from tests.conftest import htmx
from tests.factories import DoctorUserFactory
from tests.scheduling_fixtures import EVERY_DAY, make_doctor, time_off, weekly

DAY = timezone.localdate() + timedelta(days=3)


def local(day, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=hospital_zone())


def start_value(day, hhmm: str) -> str:
    """The radio value the booking page offers for a local time: the UTC instant in ISO."""
    return local(day, hhmm).astimezone(UTC).isoformat()


@pytest.fixture
def clara(dr_clara) -> Doctor:
    """A verified cardiologist in building B who speaks German, working 09:00-12:00 daily."""
    doctor = make_doctor(dr_clara, location="Cardiology, building B", bio="Heart rhythm.")
    doctor.languages.add(Language.objects.get(code="de"))
    weekly(doctor, EVERY_DAY, "09:00", "12:00")
    return doctor


@pytest.fixture
def omar(dr_omar) -> Doctor:
    """A verified paediatrician in the children's clinic who speaks Arabic, with no hours."""
    doctor = make_doctor(dr_omar, location="Children's clinic")
    doctor.specialty = Specialty.objects.get(slug="pediatrics")
    doctor.save()
    doctor.languages.add(Language.objects.get(code="ar"))
    return doctor


@pytest.fixture
def child(amina) -> Patient:
    noah = Patient.objects.create(first_name="Noah", last_name="Okafor")
    assign_perm("clinic.book_for_patient", amina, noah)
    return noah


@pytest.fixture
def bens_child(ben) -> Patient:
    mia = Patient.objects.create(first_name="Mia", last_name="Keller")
    assign_perm("clinic.book_for_patient", ben, mia)
    return mia


def _names(response) -> str:
    return response.content.decode()


# Directory


@pytest.mark.django_db
def test_directory_lists_verified_active_doctors_only(client_for, amina, clara, omar):
    pending = make_doctor(DoctorUserFactory(last_name="Pending"), status=Doctor.Status.PENDING)
    rejected = make_doctor(DoctorUserFactory(last_name="Rejected"), status=Doctor.Status.REJECTED)
    gone = make_doctor(DoctorUserFactory(last_name="Gone"))
    gone.user.is_active = False
    gone.user.save()

    page = _names(client_for(amina).get("/doctors/"))

    assert "Weiss" in page and "Haddad" in page
    for doctor in (pending, rejected, gone):
        assert str(doctor.public_id) not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("q=clara", "Weiss", "Haddad"),
        ("q=HADDAD", "Haddad", "Weiss"),
        ("specialty=pediatrics", "Haddad", "Weiss"),
        ("location=building+b", "Weiss", "Haddad"),
        ("language=ar", "Haddad", "Weiss"),
    ],
)
def test_each_filter_narrows_the_list(client_for, amina, clara, omar, query, shown, hidden):
    page = _names(client_for(amina).get(f"/doctors/?{query}"))

    assert shown in page and hidden not in page


@pytest.mark.django_db
def test_free_before_keeps_doctors_with_a_free_slot_by_then(client_for, amina, clara, omar):
    weekly(omar, EVERY_DAY, "09:00", "10:00")
    for days in range(0, 6):
        time_off(omar, timezone.localdate() + timedelta(days=days))
    soon = timezone.localdate() + timedelta(days=2)

    page = _names(client_for(amina).get(f"/doctors/?free_before={soon.isoformat()}"))

    assert "Weiss" in page and "Haddad" not in page
    later = timezone.localdate() + timedelta(days=8)
    assert "Haddad" in _names(client_for(amina).get(f"/doctors/?free_before={later}"))


@pytest.mark.django_db
def test_each_doctor_shows_the_next_free_slot_or_none(client_for, amina, clara, omar):
    taken = local(timezone.localdate() + timedelta(days=1), "09:00")
    tomorrow = taken.date()
    for hhmm in ("09:00", "09:30"):
        start = local(tomorrow, hhmm)
        Appointment.objects.create(
            doctor=clara,
            patient=Patient.objects.create(first_name=hhmm),
            booked_by=amina,
            start_at=start,
            end_at=start + timedelta(minutes=30),
            local_date=tomorrow,
            mode=ConsultationMode.IN_PERSON,
            status=Appointment.Status.CONFIRMED,
        )

    page = _names(client_for(amina).get("/doctors/"))

    # Today may still have slots past the notice period; otherwise tomorrow 10:00 is next.
    today_slots = timezone.localtime().hour < 9
    assert "Next free slot:" in page
    if not today_slots:
        assert f"{tomorrow:%a %-d %b}, 10:00" in page
    assert "No free slots in the next 14 days." in page  # Dr Omar has no hours


@pytest.mark.django_db
def test_htmx_filter_request_gets_only_the_results(client_for, amina, clara, omar):
    response = client_for(amina).get("/doctors/?q=weiss", **htmx("results"))

    page = response.content.decode()
    assert page.lstrip().startswith('<section id="results"')
    assert "<html" not in page and "Weiss" in page and "Haddad" not in page


@pytest.mark.django_db
def test_directory_paginates(client_for, amina):
    for _ in range(12):
        make_doctor(DoctorUserFactory())

    first = _names(client_for(amina).get("/doctors/"))
    second = _names(client_for(amina).get("/doctors/?page=2"))

    assert "12 doctors" in first and "Page 1 of 2" in first and "Page 2 of 2" in second


@pytest.mark.django_db
def test_directory_query_count_does_not_grow_with_doctors(
    client_for, amina, django_assert_num_queries
):
    client = client_for(amina)
    for _ in range(3):
        doctor = make_doctor(DoctorUserFactory())
        weekly(doctor, EVERY_DAY, "09:00", "11:00")
        doctor.languages.add(Language.objects.get(code="en"))
    client.get("/doctors/")
    with CaptureQueriesContext(connection) as with_three:
        client.get("/doctors/")
    for _ in range(9):
        doctor = make_doctor(DoctorUserFactory())
        weekly(doctor, EVERY_DAY, "09:00", "11:00")
        doctor.languages.add(Language.objects.get(code="en"))
    with django_assert_num_queries(len(with_three)):
        response = client.get("/doctors/")
    assert response.context["page"].paginator.count == 12


@pytest.mark.django_db
def test_directory_with_free_before_has_a_fixed_query_count_too(client_for, amina):
    client = client_for(amina)
    url = f"/doctors/?free_before={timezone.localdate() + timedelta(days=5)}"

    def add(count):
        for _ in range(count):
            doctor = make_doctor(DoctorUserFactory())
            weekly(doctor, EVERY_DAY, "09:00", "11:00")

    add(3)
    client.get(url)
    with CaptureQueriesContext(connection) as with_three:
        client.get(url)
    add(9)
    with CaptureQueriesContext(connection) as with_twelve:
        client.get(url)
    assert len(with_twelve) == len(with_three)


@pytest.mark.django_db
def test_directory_is_for_patients(client, client_for, dr_clara, ada):
    assert client_for(dr_clara).get("/doctors/").status_code == 403
    assert client_for(ada).get("/doctors/").status_code == 403
    assert client.get("/doctors/")["Location"] == "/accounts/login/?next=/doctors/"


@pytest.mark.django_db
def test_directory_ignores_a_bad_filter_value(client_for, amina, clara):
    response = client_for(amina).get("/doctors/?free_before=soon&specialty=nope&page=x")

    assert response.status_code == 200 and "Weiss" in response.content.decode()


@pytest.mark.django_db
def test_directory_is_get_only(client_for, amina):
    assert client_for(amina).post("/doctors/").status_code == 405


# Profile


@pytest.mark.django_db
def test_profile_shows_the_doctor_and_free_days(client_for, amina, clara):
    page = _names(client_for(amina).get(f"/doctors/{clara.public_id}/"))

    assert "Dr Clara Weiss" in page and "Heart rhythm." in page and "German" in page
    assert "Cardiology, building B" in page
    assert f"/doctors/{clara.public_id}/book/?day={DAY.isoformat()}" in page
    assert page.count("free slots</li>") + page.count("free slot</li>") == 7


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Doctor.Status.PENDING, Doctor.Status.REJECTED])
def test_profile_of_an_unlisted_doctor_is_404(client_for, amina, dr_clara, status):
    doctor = make_doctor(dr_clara, status=status)

    assert client_for(amina).get(f"/doctors/{doctor.public_id}/").status_code == 404
    assert client_for(amina).get(f"/doctors/{doctor.public_id}/book/").status_code == 404


@pytest.mark.django_db
def test_profile_of_a_deactivated_doctor_is_404(client_for, amina, clara):
    clara.user.is_active = False
    clara.user.save()

    assert client_for(amina).get(f"/doctors/{clara.public_id}/").status_code == 404


# Booking


@pytest.mark.django_db
def test_booking_page_offers_days_slots_and_whom(client_for, amina, clara, child):
    page = _names(client_for(amina).get(f"/doctors/{clara.public_id}/book/?day={DAY}"))

    assert f'value="{start_value(DAY, "09:00")}"' in page
    assert f'value="{start_value(DAY, "11:30")}"' in page
    assert "Myself" in page and "Noah Okafor" in page
    assert f'value="{child.public_id}"' in page and f'value="{amina.patient.public_id}"' in page


@pytest.mark.django_db
def test_htmx_day_request_gets_only_the_slots(client_for, amina, clara):
    response = client_for(amina).get(f"/doctors/{clara.public_id}/book/?day={DAY}", **htmx("slots"))

    page = response.content.decode()
    assert page.lstrip().startswith('<div id="slots">') and "<html" not in page
    assert start_value(DAY, "10:00") in page


def _post(client, doctor, patient, start, **extra):
    data = {"patient": str(patient.public_id), "start_at": start, "reason": "Check", **extra}
    return client.post(f"/doctors/{doctor.public_id}/book/", data)


@pytest.mark.django_db
def test_booking_for_herself(client_for, amina, clara):
    response = _post(client_for(amina), clara, amina.patient, start_value(DAY, "10:00"))

    appointment = Appointment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/appointments/{appointment.public_id}/"
    assert response["HX-Trigger"] == "appointmentBooked"
    assert appointment.patient == amina.patient and appointment.booked_by == amina
    assert appointment.start_at == local(DAY, "10:00") and appointment.reason == "Check"


@pytest.mark.django_db
def test_booking_for_her_child(client_for, amina, clara, child):
    response = _post(client_for(amina), clara, child, start_value(DAY, "10:00"))

    assert response.status_code == 302
    assert Appointment.objects.get().patient == child


@pytest.mark.django_db
def test_htmx_booking_answers_with_hx_location(client_for, amina, clara):
    response = client_for(amina).post(
        f"/doctors/{clara.public_id}/book/",
        {"patient": str(amina.patient.public_id), "start_at": start_value(DAY, "10:00")},
        **htmx("main"),
    )

    assert response.status_code == 204 and "HX-Location" in response
    assert response["HX-Trigger"] == "appointmentBooked"


@pytest.mark.django_db
def test_she_cannot_book_for_someone_elses_child(client_for, amina, clara, bens_child):
    response = _post(client_for(amina), clara, bens_child, start_value(DAY, "10:00"))

    assert response.status_code == 400
    assert "Choose someone you may book for." in response.content.decode()
    assert not Appointment.objects.exists()


@pytest.mark.django_db
def test_unknown_patient_id_is_a_form_error(client_for, amina, clara):
    client = client_for(amina)
    for value in ("not-a-uuid", "00000000-0000-0000-0000-000000000000", ""):
        response = client.post(
            f"/doctors/{clara.public_id}/book/",
            {"patient": value, "start_at": start_value(DAY, "10:00")},
        )
        assert response.status_code == 400
    assert not Appointment.objects.exists()


@pytest.mark.django_db
def test_a_taken_slot_is_409_with_the_message(client_for, amina, ben, clara):
    start = start_value(DAY, "10:00")
    assert _post(client_for(ben), clara, ben.patient, start).status_code == 302

    response = _post(client_for(amina), clara, amina.patient, start)

    assert response.status_code == 409
    assert "This slot was just taken" in response.content.decode()
    assert Appointment.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "start",
    [
        "garbage",
        "",
        "2026-13-45T99:00:00+00:00",
        "9999-12-31T23:59:59-12:00",
        "0001-01-01T00:00:00+14:00",
        "2030-01-01T10:00:00",  # no zone
        "1" * 5000,
    ],
)
def test_garbage_start_is_400(client_for, amina, clara, start):
    response = _post(client_for(amina), clara, amina.patient, start)

    assert response.status_code == 400
    assert not Appointment.objects.exists()


@pytest.mark.django_db
def test_off_grid_past_and_out_of_hours_starts_are_400(client_for, amina, clara, omar):
    client = client_for(amina)
    yesterday = timezone.localdate() - timedelta(days=1)
    for start in (
        start_value(DAY, "10:10"),  # off the grid
        start_value(DAY, "15:00"),  # outside the hours
        start_value(yesterday, "10:00"),  # past
    ):
        response = _post(client, clara, amina.patient, start)
        assert response.status_code == 400, start
        assert response.content.decode().count('role="alert"') >= 1
    # Dr Clara's slot time is no slot of Dr Omar, who has no hours.
    assert _post(client, omar, amina.patient, start_value(DAY, "10:00")).status_code == 400
    assert not Appointment.objects.exists()


@pytest.mark.django_db
def test_too_long_reason_is_400(client_for, amina, clara):
    response = _post(
        client_for(amina), clara, amina.patient, start_value(DAY, "10:00"), reason="x" * 501
    )

    assert response.status_code == 400 and not Appointment.objects.exists()


@pytest.mark.django_db
def test_booking_is_for_patients(client, client_for, ada, clara):
    url = f"/doctors/{clara.public_id}/book/"
    for user in (DoctorUserFactory(), ada):
        assert client_for(user).get(url).status_code == 403
        assert (
            client_for(user).post(url, {"start_at": start_value(DAY, "10:00")}).status_code == 403
        )
    assert client.get(url)["Location"] == f"/accounts/login/?next={url}"
    assert client.post(url).status_code == 302
    assert not Appointment.objects.exists()


@pytest.mark.django_db
def test_booking_rejects_other_methods(client_for, amina, clara):
    assert client_for(amina).put(f"/doctors/{clara.public_id}/book/").status_code == 405
    assert client_for(amina).post(f"/doctors/{clara.public_id}/").status_code == 405
