"""Reads for pages: querysets with the joins they need, so each page has a fixed query count."""

from django.db.models import QuerySet

from core.models import Notification


def notifications_for_user(user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id")


def notifications_latest(user, limit: int = 5) -> list[Notification]:
    return list(notifications_for_user(user)[:limit])
