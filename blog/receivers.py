"""The author of an article hears how its review went: each moderation step approved, or changes
requested, with the reviewer's comment; and an approved article carries its review stamp.
Connected in `BlogConfig.ready`.

Wagtail sends these signals from inside the approval's transaction; the notification is pushed
and emailed (as the author prefers) once that commits."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from wagtail.models import Page, TaskState, WorkflowState

from core.models import NotificationKind
from core.services import notification_create


def _reviewer_name(user) -> str:
    if user is None:
        return _("The reviewer")
    return user.get_full_name() or user.email


def _body(task_state: TaskState, reviewer) -> str:
    comment = (task_state.comment or "").strip()
    if not comment:
        return _("%(reviewer)s left no comment.") % {"reviewer": _reviewer_name(reviewer)}
    return _("%(reviewer)s wrote: %(comment)s") % {
        "reviewer": _reviewer_name(reviewer),
        "comment": comment,
    }


def _author_and_page(task_state: TaskState, reviewer):
    """The submitter and the page under review, or (None, None) when nobody is to be told:
    not a page, nobody recorded as submitter, or the reviewers' own submission."""
    workflow_state = task_state.workflow_state
    author = workflow_state.requested_by
    page = workflow_state.content_object
    if author is None or not author.is_active or not isinstance(page, Page):
        return None, None
    if reviewer is not None and reviewer.pk == author.pk:
        return None, None
    return author, page.specific


def _edit_link(page: Page) -> str:
    return reverse("wagtailadmin_pages:edit", args=[page.pk])


def article_task_approved(sender, instance: TaskState, user=None, **kwargs) -> None:
    """A review step was approved: the last one publishes the article (Wagtail has done so by
    the time this runs), an earlier one passes it to the next step."""
    author, page = _author_and_page(instance, user)
    if author is None:
        return
    workflow_state = instance.workflow_state
    # Whether this was the last step: the state as saved, whichever copy Wagtail updated.
    workflow_state.refresh_from_db(fields=["status"])
    title = page.get_admin_display_title()
    if workflow_state.status == WorkflowState.STATUS_APPROVED:
        page.refresh_from_db(fields=["live", "url_path"])
        if page.live:
            heading = _('Your article "%(title)s" was approved and published')
            link = page.get_url() or _edit_link(page)
        else:
            heading = _('Your article "%(title)s" was approved')
            link = _edit_link(page)
    else:
        heading = _('Your article "%(title)s" passed the review step "%(task)s"')
        link = _edit_link(page)
    notification_create(
        recipient=author,
        title=heading % {"title": title, "task": instance.task.name},
        body=_body(instance, user),
        link=link,
        kind=NotificationKind.ARTICLE,
    )


def article_task_rejected(sender, instance: TaskState, user=None, **kwargs) -> None:
    """A reviewer sent the article back: the author gets the comment and the way to the editor."""
    author, page = _author_and_page(instance, user)
    if author is None:
        return
    notification_create(
        recipient=author,
        title=_('Changes requested on your article "%(title)s"')
        % {"title": page.get_admin_display_title()},
        body=_body(instance, user),
        link=_edit_link(page),
        kind=NotificationKind.ARTICLE,
    )


def article_review_stamp(sender, instance: TaskState, created: bool = False, **kwargs) -> None:
    """An editor approved a review step of an article: stamp today's date (the hospital's) and
    the editor into the revision that the approval is about to publish.

    Wagtail saves the approved task state first and only then moves the workflow on, which
    publishes the latest revision when this was the last step (`TaskState.approve` →
    `WorkflowState.update` → `finish` → `publish_workflow_state`); `task_approved` is sent
    after the publishing, too late. So this runs on that save and edits the very revision
    object the publishing reads (the workflow state's cached page and its latest revision),
    and the database row: the live page shows the stamp, and later drafts, made from the
    latest revision, keep it until the next approval."""
    from blog.models import ArticlePage

    if created or instance.status != TaskState.STATUS_APPROVED or instance.finished_by_id is None:
        return
    workflow_state = instance.workflow_state
    if workflow_state.status != WorkflowState.STATUS_IN_PROGRESS:
        return
    page = workflow_state.content_object
    if not isinstance(page, Page):
        return
    revision = page.get_latest_revision()
    if revision is None:
        return
    model = ContentType.objects.get_for_id(revision.content_type_id).model_class()
    if model is None or not issubclass(model, ArticlePage):
        return
    revision.content["medically_reviewed_on"] = timezone.localdate().isoformat()
    revision.content["medical_reviewer"] = instance.finished_by_id
    revision.save(update_fields=["content"])
