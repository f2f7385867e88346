"""`{% chat_link appointment as chat %}`: the way into an online appointment's chat, for pages
that list or show appointments."""

from django import template
from django.urls import reverse
from django.utils import timezone

from clinic.models import ConsultationMode
from clinic.permissions import CHAT_STATUSES, chat_is_open, chat_participant, chat_window

register = template.Library()


@register.simple_tag(takes_context=True)
def chat_link(context, appointment) -> dict | None:
    """The chat's URL and state for the signed-in user, or None when the appointment has no
    chat or the user does not take part in it (an admin, a proxy without the records scope).
    `state` is "open" (send now), "upcoming" (opens at `opens_at`) or "transcript" (ended).
    No query for in-person visits or for the appointment's doctor; one for a delegate."""
    if appointment.mode != ConsultationMode.ONLINE:
        return None
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if user is None or chat_participant(user, appointment) is None:
        return None
    now = timezone.now()
    opens_at, _closes_at = chat_window(appointment)
    if chat_is_open(appointment, now):
        state = "open"
    elif (
        now < opens_at
        and appointment.status in CHAT_STATUSES
        and appointment.chat_closed_at is None
    ):
        state = "upcoming"
    else:
        state = "transcript"
    return {
        "url": reverse("appointment_chat", args=[appointment.public_id]),
        "state": state,
        "opens_at": opens_at,
    }
