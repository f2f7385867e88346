"""Wagtail's users app with our Users screen (`core.cms.users.HospitalUserViewSet`) in place of
its own: listed in `INSTALLED_APPS` instead of `"wagtail.users"`."""

from wagtail.users.apps import WagtailUsersAppConfig


class HospitalUsersAppConfig(WagtailUsersAppConfig):
    user_viewset = "core.cms.users.HospitalUserViewSet"
