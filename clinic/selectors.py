"""Reads for pages: querysets with their joins, so a page's query count does not grow with data."""

from datetime import date

from django.db.models import QuerySet
from django.utils import timezone

from clinic.models import Appointment, Doctor
from clinic.permissions import appointments_visible_to


def doctor_applications_pending_count() -> int:
    return Doctor.objects.filter(status=Doctor.Status.PENDING).count()


def appointments_upcoming_for_user(user, limit: int = 5) -> list[Appointment]:
    """The next active appointments of the user and everyone they act for."""
    return list(
        appointments_visible_to(user)
        .active()
        .filter(end_at__gte=timezone.now())
        .select_related("doctor__user", "doctor__specialty", "patient")
        .order_by("start_at")[:limit]
    )


def doctor_agenda(doctor: Doctor, day: date) -> QuerySet[Appointment]:
    """One local day of the doctor's appointments, rescheduled ones left out (their successor
    shows instead)."""
    return (
        doctor.appointments.filter(local_date=day)
        .exclude(status=Appointment.Status.RESCHEDULED)
        .select_related("patient")
        .order_by("start_at")
    )


def appointments_for_patient_pages(user, *, now, limit: int = 50):
    """(upcoming, earlier) for the patient's appointment page: active ones still to come, then
    everything else (past visits, cancelled and rescheduled ones), newest first."""
    rows = appointments_visible_to(user).select_related(
        "doctor__user", "doctor__specialty", "patient"
    )
    upcoming = list(rows.active().filter(end_at__gte=now).order_by("start_at")[:limit])
    past = list(
        rows.exclude(pk__in=[appointment.pk for appointment in upcoming]).order_by("-start_at")[
            :limit
        ]
    )
    return upcoming, past
