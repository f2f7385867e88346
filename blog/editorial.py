"""The editorial set-up: who may do what in the articles section, and the "Medical review"
workflow. Idempotent; run after every migrate and by `manage.py setup_roles`.

- Doctors hold `add_page` on the article index: Wagtail lets them create articles there and
  edit the ones they own, never publish, never edit another doctor's. Only verified, active
  doctors use it (`blog.permissions`).
- Editors hold add, change, publish, lock and unlock there: approving the last review step
  publishes, so reviewers must be allowed to publish.
- Images live in the root collection: doctors upload (and then edit their own) and choose,
  editors manage all of them.
- Every article is reviewed: the "Medical review" workflow with one group approval task owned
  by the editors is attached to the article index.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from wagtail.models import (
    Collection,
    GroupApprovalTask,
    GroupCollectionPermission,
    GroupPagePermission,
    Site,
    Workflow,
    WorkflowPage,
    WorkflowTask,
)

from core.models import Role

MEDICAL_REVIEW = "Medical review"

# Codenames of wagtailcore's page permissions each role holds on the article index.
ARTICLE_PAGE_PERMISSIONS: dict[str, set[str]] = {
    Role.DOCTOR: {"add_page"},
    Role.EDITOR: {"add_page", "change_page", "publish_page", "lock_page", "unlock_page"},
}
# Codenames of wagtailimages' permissions each role holds on the root collection.
IMAGE_PERMISSIONS: dict[str, set[str]] = {
    Role.DOCTOR: {"add_image", "choose_image"},
    Role.EDITOR: {"add_image", "change_image", "delete_image", "choose_image"},
}


def _permissions(app_label: str, codenames: set[str]) -> list[Permission]:
    return list(
        Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
    )


def _article_index():
    from blog.models import ArticleIndexPage

    return ArticleIndexPage.objects.first()


def _page_permissions_set(index, groups: dict[str, Group]) -> None:
    for role, codenames in ARTICLE_PAGE_PERMISSIONS.items():
        wanted = _permissions("wagtailcore", codenames)
        GroupPagePermission.objects.filter(group=groups[role], page=index).exclude(
            permission__in=wanted
        ).delete()
        for permission in wanted:
            GroupPagePermission.objects.get_or_create(
                group=groups[role], page=index, permission=permission
            )


def _image_permissions_set(groups: dict[str, Group]) -> None:
    root = Collection.get_first_root_node()
    if root is None:
        return
    for role, codenames in IMAGE_PERMISSIONS.items():
        wanted = _permissions("wagtailimages", codenames)
        GroupCollectionPermission.objects.filter(
            group=groups[role], collection=root, permission__content_type__app_label="wagtailimages"
        ).exclude(permission__in=wanted).delete()
        for permission in wanted:
            GroupCollectionPermission.objects.get_or_create(
                group=groups[role], collection=root, permission=permission
            )


def medical_review_workflow_setup(index, editors: Group) -> Workflow:
    """The "Medical review" workflow, its one editors' approval task, attached to the index."""
    workflow, _ = Workflow.objects.get_or_create(name=MEDICAL_REVIEW)
    if not workflow.active:
        workflow.active = True
        workflow.save(update_fields=["active"])
    task = GroupApprovalTask.objects.filter(name=MEDICAL_REVIEW).first()
    if task is None:
        task = GroupApprovalTask.objects.create(name=MEDICAL_REVIEW)
    elif not task.active:
        task.active = True
        task.save(update_fields=["active"])
    task.groups.set([editors])
    if not WorkflowTask.objects.filter(workflow=workflow, task=task).exists():
        WorkflowTask.objects.create(
            workflow=workflow, task=task, sort_order=workflow.workflow_tasks.count()
        )
    WorkflowPage.objects.update_or_create(page=index, defaults={"workflow": workflow})
    return workflow


@transaction.atomic
def editorial_setup() -> None:
    """Grant page and image permissions to the doctor and editor groups and attach the
    "Medical review" workflow to the article index.

    Sets exactly the permissions listed above for these groups on the index and the root
    collection; does nothing to pages before the article index exists (a partial migrate)."""
    groups = {role: Group.objects.get_or_create(name=role)[0] for role in ARTICLE_PAGE_PERMISSIONS}
    _image_permissions_set(groups)
    index = _article_index()
    if index is None:
        return
    _page_permissions_set(index, groups)
    medical_review_workflow_setup(index, groups[Role.EDITOR])
    # The CMS names the site of the pages one may explore: the hospital, not "localhost".
    Site.objects.filter(root_page=index, site_name="").update(site_name=settings.WAGTAIL_SITE_NAME)
