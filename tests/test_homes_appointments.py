"""The patient's care overview and the doctor's day show real appointments, and their query
count is the same with 1 and with 500 appointments."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from clinic.models import Appointment, ConsultationMode, Doctor, Patient
from clinic.scheduling import hospital_zone
from tests.factories import make_doctor


def _appointments(doctor: Doctor, patients: list[Patient], booked_by, count: int, first_day):
    """`count` back-to-back 15-minute appointments from 08:00 local on `first_day` on, spread
    over the given patients (one per patient per day, as the rules demand)."""
    zone = hospital_zone()
    rows = []
    for index in range(count):
        day = first_day + timedelta(days=index // len(patients))
        start = datetime.combine(day, time(8), tzinfo=zone) + timedelta(
            minutes=15 * (index % len(patients))
        )
        rows.append(
            Appointment(
                doctor=doctor,
                patient=patients[index % len(patients)],
                booked_by=booked_by,
                start_at=start,
                end_at=start + timedelta(minutes=15),
                local_date=day,
                mode=ConsultationMode.IN_PERSON,
                status=Appointment.Status.CONFIRMED,
            )
        )
    Appointment.objects.bulk_create(rows)


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 500])
def test_patient_home_query_count_does_not_grow_with_appointments(
    client_for, amina, dr_clara, django_assert_num_queries, count
):
    from tests.test_pages import HOME_QUERIES

    doctor = make_doctor(dr_clara)
    child = Patient.objects.create(first_name="Noah", last_name="Okafor")
    assign_perm("clinic.book_for_patient", amina, child)
    _appointments(
        doctor, [amina.patient, child], amina, count, timezone.localdate() + timedelta(days=1)
    )
    client = client_for(amina)
    client.get("/patient/")

    with django_assert_num_queries(HOME_QUERIES["patient"]):
        response = client.get("/patient/")

    page = response.content.decode()
    assert page.count("Dr Clara Weiss") == min(count, 5)
    if count > 1:
        assert "for Noah Okafor" in page


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 500])
def test_doctor_home_query_count_does_not_grow_with_appointments(
    client_for, amina, ben, dr_clara, django_assert_num_queries, count
):
    doctor = make_doctor(dr_clara)
    patients = [amina.patient, ben.patient]
    # Today's agenda: at most one per patient; the rest fall on later days.
    _appointments(doctor, patients, amina, count, timezone.localdate())
    client = client_for(dr_clara)
    client.get("/doctor/")

    # The doctor home's fixed queries plus the doctor profile and today's agenda.
    with django_assert_num_queries(7):
        response = client.get("/doctor/")

    page = response.content.decode()
    assert "Amina Okafor" in page
    assert ("Ben Keller" in page) == (count > 1)
    assert "No appointments today." not in page


@pytest.mark.django_db
def test_other_patients_appointments_never_show_on_a_patient_home(client_for, amina, ben, dr_clara):
    doctor = make_doctor(dr_clara)
    _appointments(doctor, [ben.patient], ben, 3, timezone.localdate() + timedelta(days=1))

    page = client_for(amina).get("/patient/").content.decode()

    assert "Dr Clara Weiss" not in page
    assert "You have no upcoming appointments." in page
