from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class SuperuserAdminSite(admin.AdminSite):
    site_header = "Hospital — Django admin (superusers only)"

    def has_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser


class HospitalAdminConfig(AdminConfig):
    """The Django admin, for superusers only (everyone else works in the Wagtail CMS)."""

    default_site = "core.admin_site.SuperuserAdminSite"
