"""CMS screen of users: list and search by role, deactivate, reactivate, reset MFA, change role.

It replaces Wagtail's own Users screen (`core.wagtail_users.HospitalUsersAppConfig` points
`user_viewset` here), at the same address, `/cms/users/`. Admins hold `core.view_user` and
`core.change_user`: they list users and open a user's page, where every change goes through a
service of `core.services` (audited, with a reason where it matters). Wagtail's own user form
(passwords, groups, superuser flag), adding, deleting and the bulk actions are closed: nobody
edits a password here, nobody is deleted, and a role is more than a group membership.
"""

from __future__ import annotations

import django_filters
from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail import hooks
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import BooleanColumn, Column, DateColumn, TitleColumn
from wagtail.admin.views import generic
from wagtail.admin.widgets.boolean_radio_select import BooleanRadioSelect
from wagtail.users.views.users import IndexView as WagtailUserIndexView
from wagtail.users.views.users import UserViewSet

from core.models import AuditEvent, Role, User
from core.services import (
    ROLES_ASSIGNABLE_IN_CMS,
    UserActionError,
    user_deactivate,
    user_mfa_reset,
    user_reactivate,
    user_role_change,
)

# An app or a security key counts as two-factor; recovery codes alone do not.
MFA_METHODS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def with_mfa_flag(users):
    """Annotate `mfa_enabled` in the same query (no query per row)."""
    return users.annotate(
        mfa_enabled=Exists(Authenticator.objects.filter(user=OuterRef("pk"), type__in=MFA_METHODS))
    )


# --- shared by the CMS screens whose changes go through services -------------------------------


def inspect_instead_of_edit(viewset):
    """A view for the viewset's edit address that sends to the inspect page.

    The admins hold the model's change permission for the actions on the inspect page; the
    generic edit form would let them change fields behind the services' backs."""

    def edit_redirect(request, pk):
        if not viewset.permission_policy.user_has_any_permission(request.user, {"view", "change"}):
            raise PermissionDenied
        return redirect(viewset.get_url_name("inspect"), pk)

    return edit_redirect


class EveryWordSearchMixin:
    """Search where each word typed must match one of the search fields, so "Amina Okafor"
    finds her although no single field holds both names (Wagtail matches the whole string)."""

    def search_queryset(self, queryset):
        if not self.is_searching:
            return queryset
        for word in self.search_query.split():
            query = Q()
            for field in self.search_fields or []:
                query |= Q(**{f"{field}__icontains": word})
            queryset = queryset.filter(query)
        return queryset


class ActionsInspectView(generic.InspectView):
    """An inspect page that also takes the object's actions as plain POSTs.

    `actions` maps the posted `action` to a method name; each runs only for users holding the
    model's change permission, and ends in a message and a redirect back to the page."""

    actions: dict[str, str] = {}
    action_error_classes: tuple[type[Exception], ...] = ()

    def post(self, request, *args, **kwargs):
        if not self.user_has_permission("change"):
            raise PermissionDenied
        method_name = self.actions.get(request.POST.get("action", ""))
        if method_name is None:
            messages.error(request, _("Unknown action."))
            return redirect(request.path)
        try:
            success = getattr(self, method_name)(request.POST)
        except self.action_error_classes as error:
            messages.error(request, getattr(error, "message", str(error)))
        else:
            messages.success(request, success)
        return redirect(request.path)

    def get_edit_url(self):
        return None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_act"] = self.user_has_permission("change")
        return context


# --- the users screen ---------------------------------------------------------------------------


class UserRoleFilterSet(WagtailFilterSet):
    role = django_filters.ChoiceFilter(label=gettext_lazy("Role"), choices=Role.choices)
    is_active = django_filters.BooleanFilter(
        label=gettext_lazy("Active"), widget=BooleanRadioSelect
    )

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None, is_searching=False):
        # Wagtail's user index passes `is_searching` for its group filter, which this one drops.
        super().__init__(data, queryset, request=request, prefix=prefix)

    class Meta:
        model = User
        fields = []


class UserIndexView(EveryWordSearchMixin, WagtailUserIndexView):
    add_item_label = None

    @cached_property
    def columns(self):
        name_column_class = self._get_title_column_class(TitleColumn)
        return [
            name_column_class(
                "name",
                accessor=lambda user: user.get_full_name() or "—",
                label=gettext_lazy("Name"),
                sort_key="name",
                get_url=self.get_inspect_url,
            ),
            Column("email", label=gettext_lazy("Email"), sort_key="email"),
            Column("role", label=gettext_lazy("Role"), accessor="get_role_display"),
            BooleanColumn("is_active", label=gettext_lazy("Active"), sort_key="is_active"),
            BooleanColumn("mfa_enabled", label=gettext_lazy("MFA on")),
            DateColumn("last_login", label=gettext_lazy("Last login"), sort_key="last_login"),
            DateColumn("date_joined", label=gettext_lazy("Joined"), sort_key="date_joined"),
        ]

    def get_base_queryset(self):
        return with_mfa_flag(super().get_base_queryset())

    def get_list_buttons(self, instance):
        # Wagtail's own "Edit"/"Delete" menu is for its own form; the user's page is the name.
        return []


class UserManageView(ActionsInspectView):
    """A user's page: who they are, their recent audit trail, and the admin's actions."""

    template_name = "core/cms/user_manage.html"
    page_title = gettext_lazy("User")
    fields = ["email", "role", "is_active", "last_login", "date_joined"]
    actions = {
        "deactivate": "deactivate",
        "reactivate": "reactivate",
        "mfa_reset": "mfa_reset",
        "role": "change_role",
    }
    action_error_classes = (UserActionError,)

    def get_object(self, queryset=None):
        return get_object_or_404(with_mfa_flag(User.objects.select_related("doctor")), pk=self.pk)

    def get_page_subtitle(self):
        return str(self.object)

    def deactivate(self, data) -> str:
        user_deactivate(
            user=self.object,
            by=self.request.user,
            reason=data.get("reason", ""),
            request=self.request,
        )
        return _("%(user)s is deactivated and signed out everywhere.") % {"user": self.object}

    def reactivate(self, data) -> str:
        user_reactivate(
            user=self.object,
            by=self.request.user,
            reason=data.get("reason", ""),
            request=self.request,
        )
        return _("%(user)s can sign in again.") % {"user": self.object}

    def mfa_reset(self, data) -> str:
        user_mfa_reset(
            user=self.object,
            by=self.request.user,
            reason=data.get("reason", ""),
            request=self.request,
        )
        return _("Two-factor authentication of %(user)s is reset; they were told.") % {
            "user": self.object
        }

    def change_role(self, data) -> str:
        user_role_change(
            user=self.object,
            by=self.request.user,
            role=data.get("role", ""),
            request=self.request,
        )
        return _("%(user)s is now: %(role)s.") % {
            "user": self.object,
            "role": self.object.get_role_display(),
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.object
        doctor = getattr(user, "doctor", None)
        context.update(
            {
                "managed_user": user,
                "doctor": doctor,
                "is_self": user.pk == self.request.user.pk,
                "assignable_roles": [(role.value, role.label) for role in ROLES_ASSIGNABLE_IN_CMS],
                "role_changeable": user.role != Role.DOCTOR and doctor is None,
                "history": self.get_history(user, doctor),
            }
        )
        return context

    def get_history(self, user, doctor) -> list[AuditEvent]:
        """The latest audit lines about this login (and a doctor's profile): what was done to
        it, by whom, and why."""
        about = Q(target_type=User._meta.label_lower, target_id=str(user.public_id))
        if doctor is not None:
            about |= Q(target_type=doctor._meta.label_lower, target_id=str(doctor.public_id))
        return list(AuditEvent.objects.filter(about).select_related("actor")[:20])


class HospitalUserViewSet(UserViewSet):
    """Wagtail's Users screen made ours: role and MFA columns, a role filter, and a page per
    user whose actions are our audited services."""

    index_view_class = UserIndexView
    inspect_view_class = UserManageView
    inspect_view_enabled = True
    filterset_class = UserRoleFilterSet
    ordering = ["last_name", "first_name", "email"]
    add_to_settings_menu = False
    add_to_admin_menu = True
    menu_order = 700

    def get_common_view_kwargs(self, **kwargs):
        # Links go to the user's page, never to Wagtail's user form.
        return super().get_common_view_kwargs(**{"edit_url_name": None, **kwargs})

    @property
    def edit_view(self):
        return inspect_instead_of_edit(self)


@hooks.register("before_bulk_action")
def refuse_bulk_user_changes(request, action_type, objects, action_class_instance):
    """Wagtail's bulk actions on users (activate, assign a role, delete) bypass the services:
    closed. Each change is made on the user's own page, with its reason and audit line."""
    if getattr(action_class_instance, "model", None) is User:
        return HttpResponseForbidden(_("Change users one at a time from their page."))
    return None
