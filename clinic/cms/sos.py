"""CMS screen of the SOS requests with their response times.

Read-only for admins, who hold `clinic.view_sosrequest` and nothing more (the same way the audit
log is restricted): Wagtail offers listing, filtering, inspecting and export, no add, edit or
delete. Handling a request happens on the SOS board, not here.
"""

from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.ui.tables import Column
from wagtail.admin.views.generic.models import IndexView
from wagtail.admin.viewsets.model import ModelViewSet

from clinic.models import SOSRequest


def _seconds(start, end) -> str:
    if start is None or end is None:
        return "—"
    seconds = int((end - start).total_seconds())
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def time_to_acknowledge(sos: SOSRequest) -> str:
    return _seconds(sos.created_at, sos.acknowledged_at)


def time_to_close(sos: SOSRequest) -> str:
    return _seconds(sos.created_at, sos.closed_at)


def escalated(sos: SOSRequest) -> str:
    return str(_("Yes")) if sos.escalated_at else str(_("No"))


class SOSRequestIndexView(IndexView):
    def get_base_queryset(self):
        return (
            super()
            .get_base_queryset()
            .select_related("patient", "acknowledged_by", "closed_by", "raised_by")
        )


class SOSRequestViewSet(ModelViewSet):
    model = SOSRequest
    index_view_class = SOSRequestIndexView
    icon = "warning"
    menu_label = _("SOS requests")
    menu_order = 800
    add_to_admin_menu = True
    url_prefix = "sos-requests"
    list_display = [
        "patient",
        "status",
        "created_at",
        Column("time_to_acknowledge", label=_("Time to acknowledge"), accessor=time_to_acknowledge),
        "acknowledged_by",
        Column("time_to_close", label=_("Time to resolve or close"), accessor=time_to_close),
        Column("escalated", label=_("Escalated"), accessor=escalated),
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["patient__first_name", "patient__last_name", "place", "description"]
    search_backend_name = None
    ordering = ["-created_at"]
    inspect_view_enabled = True
    copy_view_enabled = False
    # Nobody may add or edit (no permission grants it); ModelViewSet always builds a form.
    form_fields = ["close_reason"]
    list_export = [
        "public_id",
        "patient",
        "status",
        "created_at",
        "acknowledged_at",
        "dispatched_at",
        "closed_at",
        "escalated_at",
        "close_reason",
    ]
    export_filename = "sos-requests"


@hooks.register("register_admin_viewset")
def register_sos_requests():
    return SOSRequestViewSet("sos_requests")
