"""CMS oversight screens: appointments, deliveries and emergency (break-the-glass) access.

Admins only, through Wagtail's permission policy on the permissions `core/roles.py` grants:
- Appointments (`clinic.view_appointment`): read-only list, filters, inspect, CSV export. The
  export is bulk patient data, so each one is audited with the filter that chose the rows.
- Deliveries (`clinic.view_delivery`, `clinic.change_delivery`): list and a status update on
  the delivery's page through `delivery_advance` (its transitions, stamps and notices).
- Emergency access (`clinic.view_breakglassaccess`, `clinic.change_breakglassaccess`): the
  review queue, unreviewed first; the page shows the reason and what the doctor read (from the
  audit log), and takes the review through `break_glass_review`.
The generic edit forms are closed (their address leads to the inspect page): every change goes
through a service.
"""

from __future__ import annotations

import django_filters
from django.db.models import F
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail import hooks
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.ui.tables import Column
from wagtail.admin.views.generic.models import IndexView
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets.boolean_radio_select import BooleanRadioSelect

from clinic.models import Appointment, BreakGlassAccess, Delivery, Doctor
from clinic.services.break_glass import BreakGlassError, break_glass_review
from clinic.services.prescriptions import (
    DELIVERY_TRANSITIONS,
    PrescriptionError,
    delivery_advance,
)
from core.cms.users import ActionsInspectView, EveryWordSearchMixin, inspect_instead_of_edit
from core.models import AuditEvent
from core.services import audit_record


class ServiceOnlyViewSet(ModelViewSet):
    """A screen whose rows change only through services: no edit form, no copy, rows link to
    their inspect page."""

    inspect_view_enabled = True
    copy_view_enabled = False

    def get_common_view_kwargs(self, **kwargs):
        return super().get_common_view_kwargs(**{"edit_url_name": None, **kwargs})

    @property
    def edit_view(self):
        return inspect_instead_of_edit(self)


# --- appointments --------------------------------------------------------------------------------


class AppointmentFilterSet(WagtailFilterSet):
    doctor = django_filters.ModelChoiceFilter(
        label=gettext_lazy("Doctor"),
        queryset=Doctor.objects.select_related("user").order_by(
            "user__last_name", "user__first_name"
        ),
    )
    status = django_filters.ChoiceFilter(
        label=gettext_lazy("Status"), choices=Appointment.Status.choices
    )
    local_date = django_filters.DateFromToRangeFilter(
        label=gettext_lazy("Date"), widget=DateRangePickerWidget
    )

    class Meta:
        model = Appointment
        fields = []


class AppointmentIndexView(EveryWordSearchMixin, IndexView):
    def get_base_queryset(self):
        return (
            super()
            .get_base_queryset()
            .select_related("doctor__user", "patient__user", "booked_by", "cancelled_by")
        )

    def as_spreadsheet(self, queryset, spreadsheet_format):
        """Audit the export before it streams: bulk patient data, so who took which rows."""
        chosen = {
            key: self.request.GET.getlist(key)
            for key in self.request.GET
            if key not in {"export", "p"} and any(self.request.GET.getlist(key))
        }
        audit_record(
            action=AuditEvent.Action.EXPORT,
            actor=self.request.user,
            request=self.request,
            details={
                "export": "appointments",
                "format": spreadsheet_format,
                "filters": chosen,
                "search": self.search_query or "",
                "rows": queryset.count(),
            },
        )
        return super().as_spreadsheet(queryset, spreadsheet_format)


class AppointmentViewSet(ServiceOnlyViewSet):
    model = Appointment
    index_view_class = AppointmentIndexView
    filterset_class = AppointmentFilterSet
    icon = "date"
    menu_label = gettext_lazy("Appointments")
    menu_order = 710
    add_to_admin_menu = True
    url_prefix = "appointments"
    list_display = ["start_at", "patient", "doctor", "status", "mode"]
    search_fields = ["patient__first_name", "patient__last_name"]
    search_backend_name = None
    ordering = ["-start_at"]
    # Nobody may add or edit (no permission grants it); ModelViewSet always builds a form.
    form_fields = ["reason"]
    inspect_view_fields = [
        "public_id",
        "start_at",
        "end_at",
        "patient",
        "doctor",
        "booked_by",
        "mode",
        "location",
        "status",
        "reason",
        "created_at",
        "confirmed_at",
        "completed_at",
        "no_show_at",
        "cancelled_at",
        "cancelled_by",
        "cancellation_reason",
    ]
    list_export = [
        "public_id",
        "start_at",
        "end_at",
        "patient",
        "doctor",
        "mode",
        "status",
        "reason",
        "created_at",
        "cancelled_at",
        "cancellation_reason",
    ]
    export_filename = "appointments"


# --- deliveries ----------------------------------------------------------------------------------


def delivery_patient(delivery: Delivery) -> str:
    return str(delivery.prescription.patient)


class DeliveryIndexView(EveryWordSearchMixin, IndexView):
    def get_base_queryset(self):
        return (
            super()
            .get_base_queryset()
            .select_related("prescription__patient__user", "requested_by")
        )


class DeliveryInspectView(ActionsInspectView):
    """A delivery's page, with the next steps it may take."""

    template_name = "clinic/cms/oversight/delivery_inspect.html"
    page_title = gettext_lazy("Delivery")
    actions = {"advance": "advance"}
    action_error_classes = (PrescriptionError,)

    def get_object(self, queryset=None):
        return get_object_or_404(
            Delivery.objects.select_related("prescription__patient__user", "requested_by"),
            pk=self.pk,
        )

    def advance(self, data) -> str:
        status = data.get("status", "")
        delivery_advance(
            delivery=self.object,
            by=self.request.user,
            status=status,
            note=data.get("note", ""),
            request=self.request,
        )
        return _("The delivery is now: %(status)s. The patient was told.") % {
            "status": dict(Delivery.Status.choices).get(status, status)
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["next_statuses"] = [
            (status.value, status.label)
            for status in DELIVERY_TRANSITIONS.get(self.object.status, ())
        ]
        context["failed_status"] = Delivery.Status.FAILED.value
        return context


class DeliveryViewSet(ServiceOnlyViewSet):
    model = Delivery
    index_view_class = DeliveryIndexView
    inspect_view_class = DeliveryInspectView
    icon = "doc-full"
    menu_label = gettext_lazy("Deliveries")
    menu_order = 720
    add_to_admin_menu = True
    url_prefix = "deliveries"
    list_display = [
        "requested_at",
        Column("patient", label=gettext_lazy("Patient"), accessor=delivery_patient),
        "status",
        "requested_by",
        "dispatched_at",
        "delivered_at",
    ]
    list_filter = ["status", "requested_at"]
    search_fields = ["prescription__patient__first_name", "prescription__patient__last_name"]
    search_backend_name = None
    ordering = ["-requested_at"]
    form_fields = ["note"]
    inspect_view_fields = [
        "public_id",
        "prescription",
        "status",
        "requested_by",
        "requested_at",
        "address_text",
        "preparing_at",
        "dispatched_at",
        "delivered_at",
        "failed_at",
        "cancelled_at",
        "note",
    ]


# --- emergency (break-the-glass) access ----------------------------------------------------------


class BreakGlassFilterSet(WagtailFilterSet):
    reviewed = django_filters.BooleanFilter(
        label=gettext_lazy("Reviewed"),
        field_name="reviewed_at",
        lookup_expr="isnull",
        exclude=True,
        widget=BooleanRadioSelect,
    )
    started_at = django_filters.DateFromToRangeFilter(
        label=gettext_lazy("Started"), widget=DateRangePickerWidget
    )

    class Meta:
        model = BreakGlassAccess
        fields = []


def review_state(access: BreakGlassAccess) -> str:
    if access.reviewed_at is None:
        return str(_("Awaiting review"))
    return _("Reviewed by %(admin)s") % {"admin": access.reviewed_by}


class BreakGlassIndexView(EveryWordSearchMixin, IndexView):
    # The model's own plural ("break glass accesss") is not a title.
    page_title = gettext_lazy("Emergency access")

    def get_base_queryset(self):
        return (
            super()
            .get_base_queryset()
            .select_related("doctor__user", "patient__user", "reviewed_by")
        )

    def order_queryset(self, queryset):
        # The queue: unreviewed first, newest first, unless the admin sorts by a column.
        if not self.request.GET.get("ordering"):
            return queryset.order_by(F("reviewed_at").asc(nulls_first=True), "-started_at")
        return super().order_queryset(queryset)


class BreakGlassInspectView(ActionsInspectView):
    """An emergency access: the reason given, what the doctor read under it, and the review."""

    template_name = "clinic/cms/oversight/break_glass_inspect.html"
    page_title = gettext_lazy("Emergency access")
    actions = {"review": "review"}
    action_error_classes = (BreakGlassError,)

    def get_object(self, queryset=None):
        return get_object_or_404(
            BreakGlassAccess.objects.select_related("doctor__user", "patient__user", "reviewed_by"),
            pk=self.pk,
        )

    def get_breadcrumbs_items(self):
        index_url = reverse(self.index_url_name)
        return [
            {**item, "label": self.page_title} if item.get("url") == index_url else item
            for item in super().get_breadcrumbs_items()
        ]

    def review(self, data) -> str:
        break_glass_review(
            access=self.object,
            by=self.request.user,
            note=data.get("note", ""),
            request=self.request,
        )
        return _("The emergency access is reviewed.")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        access = self.object
        # What the doctor did with the patient's data while the access lasted.
        context["reads"] = list(
            AuditEvent.objects.filter(
                actor_id=access.doctor.user_id,
                patient_public_id=access.patient.public_id,
                at__gte=access.started_at,
                at__lte=access.expires_at,
            ).order_by("at")[:200]
        )
        return context


class BreakGlassViewSet(ServiceOnlyViewSet):
    model = BreakGlassAccess
    index_view_class = BreakGlassIndexView
    inspect_view_class = BreakGlassInspectView
    filterset_class = BreakGlassFilterSet
    icon = "warning"
    menu_label = gettext_lazy("Emergency access")
    menu_order = 730
    add_to_admin_menu = True
    url_prefix = "emergency-access"
    list_display = [
        "started_at",
        "doctor",
        "patient",
        "reason",
        "expires_at",
        Column("review", label=gettext_lazy("Review"), accessor=review_state),
    ]
    search_fields = [
        "patient__first_name",
        "patient__last_name",
        "doctor__user__first_name",
        "doctor__user__last_name",
    ]
    search_backend_name = None
    form_fields = ["review_note"]
    inspect_view_fields = [
        "doctor",
        "patient",
        "reason",
        "started_at",
        "expires_at",
        "reviewed_at",
        "reviewed_by",
        "review_note",
    ]


@hooks.register("register_admin_viewset")
def register_oversight():
    return [
        AppointmentViewSet("appointments"),
        DeliveryViewSet("deliveries"),
        BreakGlassViewSet("break_glass"),
    ]
