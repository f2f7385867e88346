"""Calendar files for appointments (RFC 5545, written with the icalendar library).

The UID is derived from the appointment's public id, so every update of one appointment
(booking, then cancellation) is the same event to the patient's calendar program.
"""

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event, vCalAddress, vText

from clinic.models import Appointment


def _status_and_sequence(appointment: Appointment, method: str) -> tuple[str, int]:
    """Each later state outranks the earlier in the patient's calendar: a request awaiting
    the doctor is tentative (0), a confirmed one confirmed (1), a cancellation last (2)."""
    if method == "CANCEL":
        return "CANCELLED", 2
    if appointment.status == Appointment.Status.PENDING:
        return "TENTATIVE", 0
    return "CONFIRMED", 1


def appointment_uid(appointment: Appointment) -> str:
    return f"appointment-{appointment.public_id}@hospital"


def appointment_ics(appointment: Appointment, *, method: str = "REQUEST") -> bytes:
    """One VEVENT for the appointment. METHOD:REQUEST for a booking or an update,
    METHOD:CANCEL when it was cancelled. No health details: a calendar is widely shared."""
    calendar = Calendar()
    calendar.add("prodid", f"-//{settings.HOSPITAL_NAME}//Appointments//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", appointment_uid(appointment))
    event.add("dtstamp", timezone.now())
    event.add("dtstart", appointment.start_at)
    event.add("dtend", appointment.end_at)
    event.add("summary", f"Appointment with {appointment.doctor}")
    event.add("location", vText(appointment.location or appointment.get_mode_display()))
    status, sequence = _status_and_sequence(appointment, method)
    event.add("status", status)
    event.add("sequence", sequence)
    organizer = vCalAddress(f"mailto:{settings.DEFAULT_FROM_EMAIL.split('<')[-1].rstrip('>')}")
    organizer.params["cn"] = vText(settings.HOSPITAL_NAME)
    event.add("organizer", organizer)
    calendar.add_component(event)
    return calendar.to_ical()
