"""Reads for pages: querysets with the joins they need, so each page has a fixed query count."""

from django.db.models import QuerySet

from core.models import (
    EMAIL_ALWAYS_KINDS,
    EMAIL_OFF_BY_DEFAULT_KINDS,
    Notification,
    NotificationPreference,
)
from core.services import notification_kinds_for


def notifications_for_user(user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id")


def notifications_latest(user, limit: int = 5) -> list[Notification]:
    return list(notifications_for_user(user)[:limit])


def notification_preferences_for(user) -> list[dict]:
    """One row per kind of notification the user's role receives: its label, whether it comes
    by email (their choice, else the default) and whether it always does (safety notices)."""
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "email"))
    rows = []
    for kind in notification_kinds_for(user):
        always = kind in EMAIL_ALWAYS_KINDS
        email = always or chosen.get(kind.value, kind not in EMAIL_OFF_BY_DEFAULT_KINDS)
        rows.append({"kind": kind.value, "label": kind.label, "email": email, "always": always})
    return rows
