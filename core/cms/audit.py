"""CMS screen of the audit log.

The audit log is read-only for everyone: admins hold `core.view_auditevent` and nothing more,
so Wagtail offers listing, filtering, inspecting and export but no add, edit or delete.
"""

from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.viewsets.model import ModelViewSet

from core.models import AuditEvent


class AuditEventViewSet(ModelViewSet):
    model = AuditEvent
    icon = "list-ul"
    menu_label = _("Audit log")
    menu_order = 900
    add_to_admin_menu = True
    url_prefix = "audit-log"
    list_display = [
        "at",
        "actor",
        "actor_label",
        "action",
        "target_label",
        "patient_label",
        "acting_for_patient",
        "ip_address",
    ]
    # Filter by a patient's public id (the CMS has no patient picker) and by proxy actions.
    list_filter = ["action", "at", "patient_public_id", "acting_for_patient"]
    search_fields = ["actor__email", "actor_label", "target_label", "target_id", "patient_label"]
    search_backend_name = None
    inspect_view_enabled = True
    copy_view_enabled = False
    # No one may add or edit entries (no permission grants it); the form exists only because
    # ModelViewSet always builds one.
    form_fields = ["reason"]
    list_export = [
        "at",
        "actor",
        "actor_label",
        "action",
        "target_type",
        "target_id",
        "patient_public_id",
        "patient_label",
        "acting_for_patient",
        "ip_address",
        "reason",
    ]
    export_filename = "audit-log"


@hooks.register("register_admin_viewset")
def register_audit_log():
    return AuditEventViewSet("audit_log")
