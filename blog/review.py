"""Reads of the editorial review queue: articles in the "Medical review" workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from wagtail.models import Page, WorkflowState

from blog.models import ArticlePage


@dataclass(frozen=True)
class ArticleAwaitingReview:
    """One article in the queue: what it is, who wrote it, since when it waits."""

    title: str
    author_name: str
    waiting_since: datetime
    review_url: str

    @property
    def waiting_label(self) -> str:
        """'waiting 3 days' (or hours, or minutes; 'submitted just now' within the minute)."""
        seconds = max(0, int((timezone.now() - self.waiting_since).total_seconds()))
        days, hours, minutes = seconds // 86400, seconds // 3600, seconds // 60
        if days:
            return ngettext("waiting %(count)d day", "waiting %(count)d days", days) % {
                "count": days
            }
        if hours:
            return ngettext("waiting %(count)d hour", "waiting %(count)d hours", hours) % {
                "count": hours
            }
        if minutes:
            return ngettext("waiting %(count)d minute", "waiting %(count)d minutes", minutes) % {
                "count": minutes
            }
        return _("submitted just now")


def _author_name(article: ArticlePage, requested_by) -> str:
    if article.author_id is not None:
        return str(article.author)
    if requested_by is not None:
        return requested_by.get_full_name() or requested_by.email
    return ""


def articles_awaiting_review(limit: int = 50) -> list[ArticleAwaitingReview]:
    """Articles in the "Medical review" workflow waiting for an editor, oldest first.

    Waiting since the current review step started (a resubmission starts a new one). Two
    queries whatever the length: the workflow states with their current step and submitter,
    then the articles with their authors."""
    states = list(
        WorkflowState.objects.filter(
            status=WorkflowState.STATUS_IN_PROGRESS,
            base_content_type=ContentType.objects.get_for_model(Page),
            content_type=ContentType.objects.get_for_model(ArticlePage),
            current_task_state__isnull=False,
        )
        .select_related("current_task_state", "requested_by")
        .order_by("current_task_state__started_at", "pk")[:limit]
    )
    articles = ArticlePage.objects.select_related("author__user").in_bulk(
        [int(state.object_id) for state in states]
    )
    queue = []
    for state in states:
        article = articles.get(int(state.object_id))
        if article is None:
            continue
        queue.append(
            ArticleAwaitingReview(
                title=article.get_admin_display_title(),
                author_name=_author_name(article, state.requested_by),
                waiting_since=state.current_task_state.started_at,
                review_url=reverse("wagtailadmin_pages:edit", args=[article.pk]),
            )
        )
    return queue
