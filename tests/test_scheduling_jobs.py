"""The scheduled jobs, called as the worker calls them: reminders go out exactly once (even when
the job runs twice or late), subjects carry no health details, and missed visits become no-shows."""

from datetime import time, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from clinic.models import Appointment, Doctor, Patient
from clinic.tasks import appointments_send_reminders, appointments_sweep_no_shows
from core.models import Notification
from tests.factories import local_datetime, make_appointment, make_doctor

REASON = "Chest pain when climbing stairs"


@pytest.fixture
def doctor(dr_clara) -> Doctor:
    return make_doctor(dr_clara)


def _appointment(doctor, patient: Patient, booked_by, start, status="confirmed") -> Appointment:
    return make_appointment(
        doctor,
        patient,
        start,
        booked_by=booked_by,
        status=status,
        location="Building B",
        reason=REASON,
    )


@pytest.mark.django_db
def test_the_jobs_are_registered_as_periodic_schedules():
    call_command("setup_schedules")
    call_command("setup_schedules")

    funcs = set(Schedule.objects.values_list("func", flat=True))
    assert {
        "clinic.tasks.appointments_send_reminders",
        "clinic.tasks.appointments_sweep_no_shows",
    } <= funcs
    assert Schedule.objects.count() == len(funcs)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_day_before_reminder_goes_out_once_even_if_the_job_runs_twice(doctor, amina):
    start = local_datetime(3, 10)
    appointment = _appointment(doctor, amina.patient, amina, start)

    with time_machine.travel(start - timedelta(hours=23), tick=False):
        assert appointments_send_reminders() == 1
        assert appointments_send_reminders() == 0

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [amina.email]
    assert "reminder" in message.subject.lower()
    # No health details where a lock screen or a shared inbox shows them.
    assert REASON not in message.subject
    assert "Cardiology" not in message.subject
    assert "Dr Clara Weiss" in message.body
    assert Notification.objects.filter(recipient=amina, title__startswith="Reminder").count() == 1
    appointment.refresh_from_db()
    assert appointment.reminder_24h_sent_at is not None
    assert appointment.reminder_2h_sent_at is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_hour_reminder_follows_and_a_late_run_sends_only_the_relevant_one(doctor, amina, ben):
    on_time = _appointment(doctor, amina.patient, amina, local_datetime(3, 10))
    late = _appointment(doctor, ben.patient, ben, local_datetime(3, 11))
    with time_machine.travel(
        local_datetime(2, 11), tick=False
    ):  # 24 h before `late`, 23 h before `on_time`
        appointments_send_reminders()
    assert len(mail.outbox) == 2

    # The worker was down until 90 minutes before `late`: one 2 h reminder each, nothing else.
    with time_machine.travel(local_datetime(3, 9, 30), tick=False):
        assert appointments_send_reminders() == 2
        assert appointments_send_reminders() == 0
    assert len(mail.outbox) == 4
    on_time.refresh_from_db()
    late.refresh_from_db()
    assert on_time.reminder_2h_sent_at and late.reminder_2h_sent_at


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_job_that_starts_inside_two_hours_skips_the_day_before_reminder(doctor, amina):
    start = local_datetime(3, 10)
    _appointment(doctor, amina.patient, amina, start)

    with time_machine.travel(start - timedelta(minutes=90), tick=False):
        assert appointments_send_reminders() == 1
    with time_machine.travel(start - timedelta(minutes=60), tick=False):
        assert appointments_send_reminders() == 0

    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_reminders_reach_the_parent_of_a_child_and_skip_inactive_appointments(doctor, amina):
    from guardian.shortcuts import assign_perm

    child = Patient.objects.create(first_name="Noah", last_name="Okafor")
    assign_perm("clinic.book_for_patient", amina, child)
    _appointment(doctor, child, amina, local_datetime(3, 10))
    _appointment(doctor, amina.patient, amina, local_datetime(3, 11), status="cancelled")

    with time_machine.travel(local_datetime(2, 10, 30), tick=False):
        assert appointments_send_reminders() == 1

    assert [message.to for message in mail.outbox] == [[amina.email]]
    assert "Noah Okafor" in mail.outbox[0].body


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_no_show_sweep_marks_only_confirmed_visits_half_an_hour_past_their_end(doctor, amina, ben):
    missed = _appointment(doctor, amina.patient, amina, local_datetime(1, 9))
    still_in_grace = _appointment(doctor, ben.patient, ben, local_datetime(1, 10))
    pending = _appointment(doctor, amina.patient, amina, local_datetime(2, 9), status="pending")
    completed = _appointment(doctor, ben.patient, ben, local_datetime(2, 10), status="completed")

    with time_machine.travel(
        local_datetime(1, 10, 45), tick=False
    ):  # missed ended 10:15 minus grace
        assert appointments_sweep_no_shows() == 1
        assert appointments_sweep_no_shows() == 0

    statuses = {
        row.pk: row.status
        for row in Appointment.objects.filter(
            pk__in=[missed.pk, still_in_grace.pk, pending.pk, completed.pk]
        )
    }
    assert statuses == {
        missed.pk: "no_show",
        still_in_grace.pk: "confirmed",
        pending.pk: "pending",
        completed.pk: "completed",
    }
    told = Notification.objects.filter(recipient=doctor.user, title__startswith="Marked as no-show")
    assert told.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_booking_and_cancelling_email_a_calendar_file_with_one_stable_uid(doctor, amina):
    from icalendar import Calendar

    from clinic.models import WeeklyAvailability
    from clinic.services.appointments import appointment_book, appointment_cancel

    day = timezone.localdate() + timedelta(days=3)
    WeeklyAvailability.objects.create(
        doctor=doctor, weekday=day.weekday(), start_time=time(9), end_time=time(12)
    )
    appointment = appointment_book(
        booked_by=amina,
        patient=amina.patient,
        doctor=doctor,
        start_at=local_datetime(3, 9),
        reason=REASON,
    )
    appointment_cancel(appointment=appointment, by=amina, reason="Feeling better")

    booked, cancelled = [message for message in mail.outbox if message.to == [amina.email]]
    # The doctor hears of both by her own notification email, with no calendar file.
    to_doctor = [message for message in mail.outbox if message.to == [doctor.user.email]]
    assert len(to_doctor) == 2 and not any(message.attachments for message in to_doctor)
    assert booked.subject.endswith(f"Appointment confirmed: {local_datetime(3, 9):%a %d %b, %H:%M}")
    assert "cancelled" in cancelled.subject.lower()
    events = []
    for message, method in ((booked, "REQUEST"), (cancelled, "CANCEL")):
        assert REASON not in message.subject
        ((name, content, mimetype),) = message.attachments
        assert name == "appointment.ics"
        assert mimetype == f"text/calendar; method={method}"
        calendar = Calendar.from_ical(content)
        assert calendar["method"] == method
        (event,) = calendar.walk("VEVENT")
        assert event.decoded("dtstart") == local_datetime(3, 9)
        assert REASON not in str(content)
        events.append(event)
    assert events[0]["uid"] == events[1]["uid"] == f"appointment-{appointment.public_id}@hospital"
    assert events[1]["status"] == "CANCELLED"
