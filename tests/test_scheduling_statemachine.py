"""Random sequences of book / cancel / reschedule / complete, checked against a plain model.

Two doctors with different slot lengths (so their slots overlap partly), three patients (one
a child booked by her guardian) and a handful of start times, some off the grid. After every
step the database must hold no two overlapping active appointments for one doctor or one
patient, agree with the model on every appointment's status, and every refusal must have been
a SchedulingError that the model expected, never any other exception.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from guardian.shortcuts import assign_perm
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from clinic.models import Appointment, Patient
from clinic.services.appointments import (
    SchedulingError,
    SlotTaken,
    appointment_book,
    appointment_cancel,
    appointment_complete,
    appointment_reschedule,
)
from tests.scheduling_fixtures import (
    BERLIN,
    NOW,
    TOMORROW,
    clara_fixture,  # noqa: F401
    omar_fixture,  # noqa: F401
    overlapping_active,
    utc,
    weekly,
)

WEDNESDAY, THURSDAY = TOMORROW, TOMORROW + timedelta(days=1)
ACTIVE = {Appointment.Status.PENDING, Appointment.Status.CONFIRMED}


@dataclass
class Booked:
    """The model's view of one appointment."""

    doctor: str
    patient: str
    start: datetime
    end: datetime
    status: str

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@pytest.mark.django_db
def test_random_booking_sequences_never_double_book(clara, omar, amina, ben):
    # Dr Clara: 30-minute slots on Wednesday and Thursday mornings, confirmed at once.
    weekly(clara, [WEDNESDAY.weekday(), THURSDAY.weekday()], "09:00", "11:00")
    # Dr Omar: 45-minute slots on Wednesday, confirmed by him (pending first).
    omar.slot_minutes = 45
    omar.requires_confirmation = True
    omar.save()
    weekly(omar, WEDNESDAY.weekday(), "09:00", "11:15")
    noah = Patient.objects.create(first_name="Noah", last_name="Okafor")
    assign_perm("clinic.book_for_patient", amina, noah)

    doctors = {"clara": clara, "omar": omar}
    # Who books for each patient, and the patient record.
    patients = {"amina": (amina, amina.patient), "ben": (ben, ben.patient), "noah": (amina, noah)}
    # The slots each doctor's rules give (start -> end): the grid the model books against.
    grid = {
        "clara": {
            utc(day, hhmm): utc(day, hhmm) + timedelta(minutes=30)
            for day in (WEDNESDAY, THURSDAY)
            for hhmm in ("09:00", "09:30", "10:00", "10:30")
        },
        "omar": {
            utc(WEDNESDAY, hhmm): utc(WEDNESDAY, hhmm) + timedelta(minutes=45)
            for hhmm in ("09:00", "09:45", "10:30")
        },
    }
    off_grid = [utc(WEDNESDAY, "09:10"), utc(WEDNESDAY, "11:00"), utc(THURSDAY, "09:45")]
    starts = sorted({start for slots in grid.values() for start in slots} | set(off_grid))

    class Scheduling(RuleBasedStateMachine):
        appointments = Bundle("appointments")

        def __init__(self):
            super().__init__()
            # Every example starts from the same empty schedule and leaves nothing behind.
            self.savepoint = transaction.savepoint()
            assert not Appointment.objects.exists()
            self.model: dict[int, Booked] = {}

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        # --- the model's answer ------------------------------------------------------------

        def expected_refusal(self, doctor, patient, start, ignore=None) -> type | None:
            """The error the rules call for, or None when the booking must succeed."""
            if start not in grid[doctor]:
                return SchedulingError
            end = grid[doctor][start]
            for pk, other in self.model.items():
                if pk == ignore or not other.active:
                    continue
                overlaps = other.start < end and start < other.end
                same_day = other.start.astimezone(BERLIN).date() == start.astimezone(BERLIN).date()
                if (other.doctor == doctor and overlaps) or (
                    other.patient == patient and (overlaps or (other.doctor == doctor and same_day))
                ):
                    return SlotTaken
            return None

        def record(self, appointment, doctor, patient):
            expected_status = (
                Appointment.Status.PENDING if doctor == "omar" else Appointment.Status.CONFIRMED
            )
            assert appointment.status == expected_status
            assert appointment.start_at in grid[doctor]
            assert appointment.end_at == grid[doctor][appointment.start_at]
            self.model[appointment.pk] = Booked(
                doctor, patient, appointment.start_at, appointment.end_at, appointment.status
            )

        # --- steps -------------------------------------------------------------------------

        @rule(
            target=appointments,
            doctor=st.sampled_from(sorted(doctors)),
            patient=st.sampled_from(sorted(patients)),
            start=st.sampled_from(starts),
        )
        def book(self, doctor, patient, start):
            expected = self.expected_refusal(doctor, patient, start)
            booker, record = patients[patient]
            try:
                appointment = appointment_book(
                    booked_by=booker,
                    patient=record,
                    doctor=doctors[doctor],
                    start_at=start,
                    now=NOW,
                )
            except SchedulingError as refusal:
                assert expected is not None, f"refused a free slot: {refusal.message}"
                assert isinstance(refusal, expected)
                return multiple()
            assert expected is None, "booked a slot the rules refuse"
            self.record(appointment, doctor, patient)
            return appointment.pk

        @rule(pk=appointments, by_doctor=st.booleans())
        def cancel(self, pk, by_doctor):
            booked = self.model[pk]
            by = doctors[booked.doctor].user if by_doctor else patients[booked.patient][0]
            appointment = Appointment.objects.get(pk=pk)
            try:
                appointment_cancel(appointment=appointment, by=by, reason="Changed plans", now=NOW)
            except SchedulingError:
                assert not booked.active, "refused to cancel an active appointment"
                return
            assert booked.active, "cancelled an appointment that was not active"
            booked.status = Appointment.Status.CANCELLED

        @rule(target=appointments, pk=appointments, start=st.sampled_from(starts))
        def reschedule(self, pk, start):
            booked = self.model[pk]
            expected = (
                self.expected_refusal(booked.doctor, booked.patient, start, ignore=pk)
                if booked.active
                else SchedulingError
            )
            appointment = Appointment.objects.get(pk=pk)
            try:
                successor = appointment_reschedule(
                    appointment=appointment,
                    by=patients[booked.patient][0],
                    new_start_at=start,
                    now=NOW,
                )
            except SchedulingError as refusal:
                assert expected is not None, f"refused a free slot: {refusal.message}"
                assert isinstance(refusal, expected)
                return multiple()
            assert expected is None, "moved an appointment the rules refuse to move"
            booked.status = Appointment.Status.RESCHEDULED
            self.record(successor, booked.doctor, booked.patient)
            assert Appointment.objects.get(pk=pk).rescheduled_to_id == successor.pk
            return successor.pk

        @rule(pk=appointments)
        def complete(self, pk):
            booked = self.model[pk]
            appointment = Appointment.objects.get(pk=pk)
            try:
                appointment_complete(
                    appointment=appointment, by=doctors[booked.doctor].user, now=booked.end
                )
            except SchedulingError:
                assert not booked.active, "refused to complete an active visit after it"
                return
            assert booked.active, "completed an appointment that was not active"
            booked.status = Appointment.Status.COMPLETED

        # --- after every step --------------------------------------------------------------

        @invariant()
        def no_overlapping_active_appointments(self):
            assert overlapping_active("doctor") == []
            assert overlapping_active("patient") == []

        @invariant()
        def database_agrees_with_the_model(self):
            stored = dict(Appointment.objects.values_list("pk", "status"))
            assert stored == {pk: booked.status for pk, booked in self.model.items()}

    run_state_machine_as_test(
        Scheduling,
        settings=settings(
            max_examples=30,
            stateful_step_count=15,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
