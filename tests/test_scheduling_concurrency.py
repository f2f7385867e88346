"""Many people clicking the same slot at the same moment, on PostgreSQL, with real connections.

The booking service locks the doctor's row and re-checks the slot; the exclusion constraints
back it up. The last test switches both off and shows the harness does see the double
bookings they prevent, so the first two passing means something.
"""

import importlib
import threading
import time

import pytest
from django.db import connection

import clinic.services.appointments
from clinic.models import Appointment, Doctor
from clinic.services.appointments import SlotTaken, appointment_book
from tests.factories import DoctorUserFactory, PatientUserFactory
from tests.scheduling_fixtures import (
    NOW,
    TOMORROW,
    make_doctor,
    overlapping_active,
    utc,
    weekly,
)

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)"),
    # serialized_rollback restores the migrations' data (specialties, role groups) after the flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CROWD = 50
NO_OVERLAP = importlib.import_module("clinic.migrations.0005_appointment_no_overlap")
CONSTRAINTS = ("appointment_no_doctor_overlap", "appointment_no_patient_overlap")


def race(calls) -> list:
    """Run every call in its own thread, all released at once; each thread gives its database
    connection back when done. Returns each call's result or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            # No database access before the barrier: the connection pool is smaller than the
            # crowd, so threads holding a connection while waiting here would starve the rest.
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as error:  # every outcome is inspected by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a booking thread hung"
    return results


def outcome(results) -> tuple[list[Appointment], list[SlotTaken], list[BaseException]]:
    booked = [result for result in results if isinstance(result, Appointment)]
    taken = [result for result in results if isinstance(result, SlotTaken)]
    other = [result for result in results if result not in booked and result not in taken]
    return booked, taken, other


def booking(user, patient, doctor, start_at):
    return lambda: appointment_book(
        booked_by=user, patient=patient, doctor=doctor, start_at=start_at, now=NOW
    )


@pytest.fixture
def crowd_for_one_slot(dr_clara):
    """Dr Clara's 09:00 tomorrow and fifty patients, each about to book it for themselves."""
    doctor = make_doctor(dr_clara)
    weekly(doctor, TOMORROW.weekday(), "09:00", "12:00")
    doctor = Doctor.objects.select_related("user").get(pk=doctor.pk)
    patients = [PatientUserFactory() for _ in range(CROWD)]
    for user in patients:
        user.patient  # noqa: B018 -- loaded here, not inside the race
    start_at = utc(TOMORROW, "09:00")
    return [booking(user, user.patient, doctor, start_at) for user in patients]


def test_fifty_patients_one_slot_exactly_one_booking(crowd_for_one_slot):
    results = race(crowd_for_one_slot)

    booked, taken, other = outcome(results)
    assert other == []
    assert len(booked) == 1
    assert len(taken) == CROWD - 1
    assert Appointment.objects.count() == 1
    assert overlapping_active("doctor") == []


def test_one_patient_many_doctors_same_time_exactly_one_booking(amina):
    doctors = []
    for _ in range(8):
        doctor = make_doctor(DoctorUserFactory(totp=False))
        weekly(doctor, TOMORROW.weekday(), "09:00", "12:00")
        doctors.append(Doctor.objects.select_related("user").get(pk=doctor.pk))
    patient = amina.patient
    start_at = utc(TOMORROW, "09:00")

    # Each doctor's lock is a different row: only the patient exclusion constraint can stop it.
    results = race([booking(amina, patient, doctor, start_at) for doctor in doctors])

    booked, taken, other = outcome(results)
    assert other == []
    assert len(booked) == 1
    assert len(taken) == len(doctors) - 1
    assert all("already has an appointment at that time" in error.message for error in taken)
    assert Appointment.objects.count() == 1
    assert overlapping_active("patient") == []


def _constraints_present() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conname = ANY(%s)", [list(CONSTRAINTS)]
        )
        return {name for (name,) in cursor.fetchall()}


def test_without_the_lock_and_the_constraints_the_race_double_books(
    crowd_for_one_slot, monkeypatch
):
    """The check-then-insert alone is not enough: with the doctor lock and the exclusion
    constraints switched off, the same fifty-thread race books the slot more than once."""
    assert _constraints_present() == set(CONSTRAINTS)

    monkeypatch.setattr(clinic.services.appointments, "_lock_doctor", lambda doctor: doctor)
    checked = clinic.services.appointments.slots_free

    def slow_slots_free(*args, **kwargs):
        # Widen the window between "the slot is free" and the insert. Without the sleep the
        # race still shows (2-3 bookings of the slot in trial runs), but only just; with 50 ms
        # every booking holding one of the pool's connections (about nine) gets through, and
        # the whole race still takes under a second.
        free = checked(*args, **kwargs)
        time.sleep(0.05)
        return free

    monkeypatch.setattr(clinic.services.appointments, "slots_free", slow_slots_free)
    with connection.cursor() as cursor:
        for statement in NO_OVERLAP.POSTGRES_BACKWARD:
            cursor.execute(statement)
    try:
        assert _constraints_present() == set()

        results = race(crowd_for_one_slot)

        booked, _taken, other = outcome(results)
        assert other == []
        assert len(booked) > 1
        assert Appointment.objects.count() == len(booked)
        assert len(overlapping_active("doctor")) == len(booked)
    finally:
        # The rows this test double-booked would stop the constraints from coming back.
        Appointment.objects.update(status=Appointment.Status.CANCELLED)
        with connection.cursor() as cursor:
            for statement in NO_OVERLAP.POSTGRES_FORWARD:
                cursor.execute(statement)
    assert _constraints_present() == set(CONSTRAINTS)
