"""The day picker and the chosen day's free slots, shared by the booking and reschedule pages
(templates/clinic/_slot_picker.html), and how those pages answer a refused slot."""

from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

from django.utils import timezone

from clinic.forms import SlotChoiceForm
from clinic.models import Appointment, Doctor
from clinic.scheduling import hospital_zone
from clinic.selectors import doctor_free_days
from clinic.services.appointments import SchedulingError, SlotTaken

# How many days with free slots the picker offers.
PICKER_DAYS = 14

T = TypeVar("T")


def day_chosen(value: str | None, days) -> date | None:
    """The day asked for (an ISO date) if it has free slots, else the first that has."""
    try:
        day = date.fromisoformat(value or "")
    except ValueError:
        day = None
    if day in days:
        return day
    return next(iter(days), None)


def local_day_value(start_at: datetime) -> str:
    """The picker's ?day= value for a slot start: its date in the hospital's zone."""
    return start_at.astimezone(hospital_zone()).date().isoformat()


def slot_picker(
    form: SlotChoiceForm,
    doctor: Doctor,
    *,
    day_value: str | None,
    moving: Appointment | None = None,
) -> dict:
    """Offer the chosen day's free slots on the form; returns the picker's context (`days`
    with their slot counts, the chosen `day`). When `moving` an appointment its own time
    counts as free and is marked, so it blocks none of its neighbours."""
    free_days = doctor_free_days(
        doctor,
        timezone.now(),
        limit=PICKER_DAYS,
        ignore_appointment_id=moving.pk if moving else None,
    )
    day = day_chosen(day_value, free_days)
    form.slots_offer(free_days.get(day, []), current=moving.start_at if moving else None)
    return {"days": [(free_day, len(slots)) for free_day, slots in free_days.items()], "day": day}


def slot_attempt(form: SlotChoiceForm, book: Callable[[], T]) -> tuple[T | None, int]:
    """Run a booking service for the form's chosen slot. A refusal becomes the form's error next
    to the slot choice; returns (result or None, the status to answer with): 409 when the slot
    was just taken, 400 for any other refusal."""
    try:
        return book(), 200
    except SlotTaken as error:
        form.add_error("start_at", error.message)
        return None, 409
    except SchedulingError as error:
        form.add_error("start_at", error.message)
        return None, 400
