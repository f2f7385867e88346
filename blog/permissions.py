"""Who may author articles: the one gate in front of Wagtail's page and image permissions.

Doctors get their CMS rights from the doctor group (`blog.editorial.editorial_setup`), but the
role alone is not enough: a doctor whose application is pending or rejected, or whose account
is deactivated, holds the role too. Wagtail reads every page and image permission of a user
through its permission policy's `get_all_permissions_for_user` (explorer, add and edit views,
menus, reports, choosers), so the gate lives there: such a doctor has no page or image
permission at all, whatever their groups say.
"""

from __future__ import annotations

from django.db.models import Q
from wagtail.images import get_image_model
from wagtail.models import GroupCollectionPermission, GroupPagePermission
from wagtail.permission_policies.collections import CollectionOwnershipPermissionPolicy
from wagtail.permission_policies.pages import PagePermissionPolicy
from wagtail.permissions import register_permission_policy

from core.models import Role


def doctor_may_author(user) -> bool:
    """Whether this user may write articles as a doctor: an active account with a verified
    doctor profile. Users of other roles are not doctors and are not judged here."""
    if not (user.is_authenticated and user.is_active):
        return False
    doctor = getattr(user, "doctor", None)
    return doctor is not None and doctor.is_verified


def _barred_doctor(user) -> bool:
    return getattr(user, "role", None) == Role.DOCTOR and not doctor_may_author(user)


def others_unpublished_drafts(user) -> Q:
    """The pages a doctor may not know of: other authors' articles that are not published.
    Wagtail lets whoever may add pages somewhere explore everything there; for a doctor that
    would show colleagues' drafts (titles included) in search, site history and choosers."""
    return Q(articlepage__isnull=False, live=False) & ~Q(owner=user)


class ArticleAuthorPagePermissionPolicy(PagePermissionPolicy):
    """Wagtail's page policy, except that a doctor who may not author holds no page permission,
    and a doctor never explores another doctor's unpublished article."""

    def get_all_permissions_for_user(self, user):
        if _barred_doctor(user):
            return GroupPagePermission.objects.none()
        return super().get_all_permissions_for_user(user)

    def explorable_instances(self, user):
        pages = super().explorable_instances(user)
        if getattr(user, "role", None) == Role.DOCTOR:
            return pages.exclude(others_unpublished_drafts(user))
        return pages


class ArticleAuthorImagePermissionPolicy(CollectionOwnershipPermissionPolicy):
    """Wagtail's image policy, except that a doctor who may not author holds no image
    permission (no uploading or choosing images for articles they cannot write)."""

    def get_all_permissions_for_user(self, user):
        if _barred_doctor(user):
            return GroupCollectionPermission.objects.none()
        return super().get_all_permissions_for_user(user)


def article_permission_policies_register() -> None:
    """Put the gated policies in Wagtail's registry in place of its own (from `ready()`)."""
    from wagtail.models import AbstractPage

    register_permission_policy(AbstractPage, ArticleAuthorPagePermissionPolicy())
    register_permission_policy(
        get_image_model(),
        ArticleAuthorImagePermissionPolicy(
            get_image_model(),
            auth_model="wagtailimages.Image",
            owner_field_name="uploaded_by_user",
        ),
    )
