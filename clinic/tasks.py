"""django-q2 tasks for scheduling. Each may run late, twice, or in two clusters at once and
still does its work once: the services they call claim each row with a conditional UPDATE."""

from datetime import timedelta

from django.utils import timezone

from clinic.models import Appointment
from clinic.services.appointments import (
    NO_SHOW_GRACE,
    appointment_mark_no_show_if_missed,
    appointment_remind,
)
from clinic.services.patients import minors_access_end
from clinic.services.waitlist import waitlist_offers_expire


def appointments_send_reminders() -> int:
    """Reminders 24 h and 2 h before. A run that comes late sends only the reminder still
    relevant: inside the last 2 hours the 24 h one is skipped."""
    now = timezone.now()
    sent = 0
    active = Appointment.objects.active().filter(start_at__gt=now)
    for appointment_id in active.filter(
        start_at__lte=now + timedelta(hours=2), reminder_2h_sent_at__isnull=True
    ).values_list("pk", flat=True):
        sent += appointment_remind(appointment_id=appointment_id, which="2h", now=now)
        # Too late for the day-before reminder: mark it as done without sending.
        Appointment.objects.filter(pk=appointment_id, reminder_24h_sent_at__isnull=True).update(
            reminder_24h_sent_at=now
        )
    for appointment_id in active.filter(
        start_at__lte=now + timedelta(hours=24), reminder_24h_sent_at__isnull=True
    ).values_list("pk", flat=True):
        sent += appointment_remind(appointment_id=appointment_id, which="24h", now=now)
    return sent


def appointments_sweep_no_shows() -> int:
    """Confirmed appointments whose end plus 30 minutes has passed become no-shows."""
    now = timezone.now()
    missed = Appointment.objects.filter(
        status=Appointment.Status.CONFIRMED, end_at__lte=now - NO_SHOW_GRACE
    ).values_list("pk", flat=True)
    return sum(
        appointment_mark_no_show_if_missed(appointment_id=appointment_id, now=now)
        for appointment_id in missed
    )


def waitlist_expire_offers() -> int:
    """Every minute: open waitlist offers whose 15-minute hold has lapsed expire and their
    slots go to the next in line; entries whose last day has passed end. A second run finds
    nothing left to claim."""
    return waitlist_offers_expire(now=timezone.now())


def minors_access_end_daily() -> int:
    """Daily: a guardian's access to a dependent ends on the dependent's 18th birthday. A run
    that comes late catches up; a second run the same day finds nothing left to end."""
    return minors_access_end(now=timezone.now())


def sos_escalate(sos_id: int) -> bool:
    """The one-off job scheduled when an SOS is raised: escalate it to every admin if nobody
    has acknowledged it in time. Running it again (or after the minute job) does nothing."""
    from clinic.services.sos import sos_escalate as escalate

    return escalate(sos_id=sos_id)


def sos_escalate_overdue() -> int:
    """Every minute: the backstop for a lost one-off job. Escalates each overdue open SOS
    request once; a second run finds nothing left to claim."""
    from clinic.services.sos import sos_escalate_overdue as escalate_overdue

    return escalate_overdue()
