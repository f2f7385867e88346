"""Periodic jobs of the articles section."""

from __future__ import annotations

import logging

from django.apps import apps
from django.db import transaction
from django.utils import timezone
from wagtail.models import DraftStateMixin, Page, Revision

logger = logging.getLogger(__name__)


def _models_with_draft_state() -> list[type]:
    return [Page] + [
        model
        for model in apps.get_models()
        if issubclass(model, DraftStateMixin) and not issubclass(model, Page)
    ]


def _unpublish_expired(now) -> int:
    unpublished = 0
    for model in _models_with_draft_state():
        for pk in list(
            model.objects.filter(live=True, expire_at__lt=now)
            .order_by("expire_at")
            .values_list("pk", flat=True)
        ):
            with transaction.atomic():
                # Locked and checked again: a second worker running late finds nothing to do.
                obj = (
                    model.objects.select_for_update()
                    .filter(pk=pk, live=True, expire_at__lt=now)
                    .first()
                )
                if obj is None:
                    continue
                obj.unpublish(set_expired=True, log_action="wagtail.unpublish.scheduled")
                unpublished += 1
    return unpublished


def _publish_due(now) -> int:
    published = 0
    due = (
        Revision.objects.filter(approved_go_live_at__lt=now)
        .order_by("approved_go_live_at")
        .values_list("pk", flat=True)
    )
    for pk in list(due):
        with transaction.atomic():
            revision = (
                Revision.objects.select_for_update()
                .filter(pk=pk, approved_go_live_at__lt=now)
                .first()
            )
            if revision is None:
                continue
            # The go-live time has passed, so publishing makes it live now (and clears
            # `approved_go_live_at`, which keeps a second run from publishing it again).
            revision.publish(log_action="wagtail.publish.scheduled")
            published += 1
    return published


def articles_publish_scheduled() -> dict[str, int]:
    """Publish approved articles whose go-live time has come, and unpublish expired ones.

    What Wagtail's `publish_scheduled` command does, made safe to run twice or late (the
    django-q2 schedule runs it every minute): each item is locked and checked again before it
    changes, so each goes live or expires exactly once. Returns how many of each."""
    now = timezone.now()
    result = {"unpublished": _unpublish_expired(now), "published": _publish_due(now)}
    if any(result.values()):
        logger.info(
            "Scheduled publishing: %(published)d published, %(unpublished)d expired", result
        )
    return result
