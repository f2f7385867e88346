"""CMS screen of doctor applications: filter, inspect, verify or reject. Admins only.

Access follows Wagtail's permission policy for `clinic.Doctor` (a `ModelPermissionPolicy`):
admins hold `clinic.view_doctor` (the listing and the inspect view) and `clinic.verify_doctor`
(the decisions), see `core/roles.py`. Nobody adds, edits, copies or deletes a doctor here: the
viewset has no such URLs. Every decision goes through the services in
`clinic/services/doctors.py`, which audit it and notify the applicant.
"""

import django_filters
from django import forms
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.defaults import permission_denied
from django.views.generic import View
from wagtail import hooks
from wagtail.admin import messages
from wagtail.admin.admin_url_finder import ModelAdminURLFinder
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import Column, StatusTagColumn, TitleColumn
from wagtail.admin.views.generic.models import IndexView, InspectView
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets.button import BaseButton, ListingButton
from wagtail.permissions import policy_registry

from clinic.models import Doctor, Specialty
from clinic.selectors_doctors import (
    DOCTOR_APPLICATIONS_ORDERING,
    doctor_application_detail,
    doctor_applications,
    doctor_decision_history,
)
from clinic.services.doctors import (
    DoctorApplicationError,
    doctor_deactivate,
    doctor_reactivate,
    doctor_reject,
    doctor_verify,
)

TEMPLATES = "clinic/cms/doctors"


# --- forms -------------------------------------------------------------------------------------


class DecisionReasonForm(forms.Form):
    """The reason an admin gives with a decision; it reaches the applicant or the audit log."""

    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, required: bool = True, required_message: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["reason"]
        field.required = required
        if required_message:
            field.error_messages["required"] = required_message


def reject_form(data=None) -> DecisionReasonForm:
    return DecisionReasonForm(
        data,
        auto_id="reject_%s",
        required_message=_("Give the applicant a reason for the rejection."),
    )


def deactivate_form(data=None) -> DecisionReasonForm:
    return DecisionReasonForm(
        data,
        auto_id="deactivate_%s",
        required_message=_("Give a reason for the deactivation."),
    )


def reactivate_form(data=None) -> DecisionReasonForm:
    return DecisionReasonForm(data, auto_id="reactivate_%s", required=False)


# --- listing -----------------------------------------------------------------------------------


class DoctorApplicationFilterSet(WagtailFilterSet):
    status = django_filters.ChoiceFilter(
        label=gettext_lazy("Status"), choices=Doctor.Status.choices, empty_label=None
    )
    specialty = django_filters.ModelChoiceFilter(
        label=gettext_lazy("Specialty"), queryset=Specialty.objects.all()
    )

    class Meta:
        model = Doctor
        fields = ["status", "specialty"]


class PostButton(BaseButton):
    """A row action that POSTs (with the CSRF token) instead of following a link."""

    template_name = f"{TEMPLATES}/post_button.html"

    def __init__(self, label: str, *, action_url: str, **kwargs):
        super().__init__(label=label, **kwargs)
        self.action_url = action_url
        self.attrs["type"] = "submit"

    def get_context_data(self, parent_context):
        context = super().get_context_data(parent_context)
        context["csrf_token"] = get_token(parent_context["request"])
        return context


def applicant_name(doctor: Doctor) -> str:
    return doctor.user.get_full_name() or doctor.user.email


def local_date(moment) -> str:
    if moment is None:
        return "—"
    return date_format(timezone.localtime(moment), "j M Y")


def decided_on(doctor: Doctor) -> str:
    if doctor.status == Doctor.Status.PENDING:
        return "—"
    return local_date(doctor.status_changed_at)


class DoctorApplicationIndexView(IndexView):
    # The header would otherwise read "Doctors".
    page_title = gettext_lazy("Doctor applications")
    verify_url_name = None

    def get_base_queryset(self):
        return doctor_applications()

    def search_queryset(self, queryset):
        """Every word must match the first or last name, the email or the licence number, so
        "Clara Weiss" finds Dr Clara Weiss."""
        if not self.is_searching:
            return queryset
        for word in self.search_query.split():
            match = Q()
            for field in self.search_fields:
                match |= Q(**{f"{field}__icontains": word})
            queryset = queryset.filter(match)
        return queryset

    @cached_property
    def columns(self):
        title_class = self._get_title_column_class(TitleColumn)
        return [
            title_class(
                "name",
                label=_("Name"),
                accessor=applicant_name,
                get_url=self.get_inspect_url,
                sort_key="user__last_name",
            ),
            Column("email", label=_("Email"), accessor="user.email", sort_key="user__email"),
            Column("specialty", label=_("Specialty"), sort_key="specialty__name"),
            Column("licence_number", label=_("Licence number"), sort_key="licence_number"),
            StatusTagColumn(
                "status",
                label=_("Status"),
                accessor="get_status_display",
                primary=lambda doctor: doctor.status == Doctor.Status.PENDING,
                sort_key="status",
            ),
            Column(
                "applied_on",
                label=_("Applied on"),
                accessor=lambda d: local_date(d.created_at),
                sort_key="created_at",
            ),
            Column(
                "decided_on",
                label=_("Decided on"),
                accessor=decided_on,
                sort_key="status_changed_at",
            ),
        ]

    def get_list_more_buttons(self, instance):
        buttons = super().get_list_more_buttons(instance)
        if instance.status == Doctor.Status.PENDING and self.user_has_permission("verify"):
            buttons += [
                PostButton(
                    _("Verify"),
                    action_url=reverse(self.verify_url_name, args=(instance.pk,)),
                    icon_name="check",
                    classname="button button-small",
                    attrs={"aria-label": _("Verify %(name)s") % {"name": applicant_name(instance)}},
                    priority=1,
                ),
                ListingButton(
                    _("Reject…"),
                    url=self.get_inspect_url(instance) + "#decision",
                    icon_name="cross",
                    attrs={"aria-label": _("Reject %(name)s") % {"name": applicant_name(instance)}},
                    priority=2,
                ),
            ]
        return buttons


# --- inspect and decide ------------------------------------------------------------------------


class DoctorApplicationInspectView(InspectView):
    """One application: the applicant's profile, licence and credential documents, its status
    and reason, the decision history and, for admins who may decide, the decision forms."""

    page_title = gettext_lazy("Doctor application")
    inspect_url_name = None
    verify_url_name = None
    reject_url_name = None
    deactivate_url_name = None
    reactivate_url_name = None

    def setup(self, request, *args, **kwargs):
        # Wagtail's InspectView loads the object here, before any permission check; this one
        # checks first, so someone without access learns nothing, not even that an id exists.
        View.setup(self, request, *args, **kwargs)
        self.pk = self.kwargs[self.pk_url_kwarg]
        self.fields = []

    def check_access(self) -> HttpResponse | None:
        if not self.user_has_any_permission(self.any_permission_required):
            raise PermissionDenied
        return None

    def dispatch(self, request, *args, **kwargs):
        refused = self.check_access()
        if refused is not None:
            return refused
        self.object = self.get_object()
        return super().dispatch(request, *args, **kwargs)

    def get_object(self, queryset=None):
        try:
            return doctor_application_detail(self.pk)
        except Doctor.DoesNotExist:
            raise Http404 from None

    def action_url(self, url_name: str) -> str:
        return reverse(url_name, args=(self.object.pk,))

    @cached_property
    def header_more_buttons(self):
        return []

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        doctor = self.object
        may_decide = self.user_has_permission("verify")
        is_pending = doctor.status == Doctor.Status.PENDING
        is_verified = doctor.status == Doctor.Status.VERIFIED
        context.update(
            {
                "doctor": doctor,
                "documents": list(doctor.documents.all()),
                "languages": list(doctor.languages.all()),
                "history": doctor_decision_history(doctor),
                "may_decide": may_decide,
                "is_pending": is_pending,
                "applied_on": doctor.created_at,
                "index_url": reverse(self.index_url_name),
            }
        )
        if may_decide and is_pending:
            context["verify_url"] = self.action_url(self.verify_url_name)
            context["reject_url"] = self.action_url(self.reject_url_name)
            context.setdefault("reject_form", reject_form())
        if may_decide and is_verified and doctor.user.is_active:
            context["deactivate_url"] = self.action_url(self.deactivate_url_name)
            context.setdefault("deactivate_form", deactivate_form())
        if may_decide and not doctor.user.is_active:
            context["reactivate_url"] = self.action_url(self.reactivate_url_name)
            context.setdefault("reactivate_form", reactivate_form())
        return context


class DoctorDecisionView(DoctorApplicationInspectView):
    """Base of the decision endpoints: POST only, and only for holders of
    `clinic.verify_doctor` (403 for anyone else who reaches the CMS)."""

    http_method_names = ["post"]

    def check_access(self) -> HttpResponse | None:
        if not self.user_has_permission("verify"):
            # Answered here: Wagtail would turn a raised PermissionDenied into a redirect.
            return permission_denied(self.request, PermissionDenied())
        return None

    def refused(self) -> HttpResponse:
        return permission_denied(self.request, PermissionDenied())

    def done(self, message: str) -> HttpResponse:
        messages.success(self.request, message)
        return redirect(self.index_url_name)

    def not_possible(self, error: DoctorApplicationError) -> HttpResponse:
        messages.error(self.request, error.message)
        return redirect(self.action_url(self.inspect_url_name))

    def form_invalid(self, **forms_context) -> HttpResponse:
        return self.render_to_response(self.get_context_data(**forms_context), status=400)


class DoctorVerifyView(DoctorDecisionView):
    """Verify a pending application: listed, bookable, a doctor's login from now on."""

    def post(self, request, *args, **kwargs):
        try:
            doctor = doctor_verify(doctor=self.object, by=request.user, request=request)
        except PermissionDenied:
            return self.refused()
        except DoctorApplicationError as error:
            return self.not_possible(error)
        return self.done(
            _("%(doctor)s is verified: listed and bookable once their hours are set.")
            % {"doctor": doctor}
        )


class DoctorReasonedDecisionView(DoctorDecisionView):
    """A decision taken with a reason from a form: the service's refusal of the reason shows
    next to the field (400, nothing written); any other refusal goes back as a message."""

    form_class = None  # builds the form from POST data
    form_name = ""  # its name in the inspect view's context
    service = None  # the decision service, called with doctor, by, reason and request
    success_message = ""  # "%(doctor)s …"

    def post(self, request, *args, **kwargs):
        form = type(self).form_class(request.POST)
        if form.is_valid():
            try:
                doctor = type(self).service(
                    doctor=self.object,
                    by=request.user,
                    reason=form.cleaned_data["reason"],
                    request=request,
                )
            except PermissionDenied:
                return self.refused()
            except DoctorApplicationError as error:
                if error.field != "reason":
                    return self.not_possible(error)
                form.add_error("reason", error.message)
            else:
                return self.done(self.success_message % {"doctor": doctor})
        return self.form_invalid(**{self.form_name: form})


class DoctorRejectView(DoctorReasonedDecisionView):
    """Reject a pending application; the reason is required and reaches the applicant."""

    form_class = reject_form
    form_name = "reject_form"
    service = doctor_reject
    success_message = gettext_lazy(
        "The application of %(doctor)s is rejected; they have been told why."
    )


class DoctorDeactivateView(DoctorReasonedDecisionView):
    """Deactivate a verified doctor's login, with a reason kept in the audit log."""

    form_class = deactivate_form
    form_name = "deactivate_form"
    service = doctor_deactivate
    success_message = gettext_lazy("%(doctor)s is deactivated: unlisted, not bookable, signed out.")


class DoctorReactivateView(DoctorReasonedDecisionView):
    """Let a deactivated doctor sign in again (the reason is optional)."""

    form_class = reactivate_form
    form_name = "reactivate_form"
    service = doctor_reactivate
    success_message = gettext_lazy("%(doctor)s can sign in again.")


# --- the viewset -------------------------------------------------------------------------------


class DoctorApplicationViewSet(ModelViewSet):
    model = Doctor
    index_view_class = DoctorApplicationIndexView
    inspect_view_class = DoctorApplicationInspectView
    icon = "clipboard-list"
    menu_label = gettext_lazy("Doctor applications")
    menu_order = 250
    add_to_admin_menu = True
    url_prefix = "doctor-applications"
    filterset_class = DoctorApplicationFilterSet
    search_fields = ["user__first_name", "user__last_name", "user__email", "licence_number"]
    search_backend_name = None
    ordering = DOCTOR_APPLICATIONS_ORDERING
    list_per_page = 25
    inspect_view_enabled = True
    copy_view_enabled = False
    # Saving a doctor must not write reference-index rows (extra queries on every booking
    # policy change); nothing links to doctors from Wagtail content.
    add_to_reference_index = False

    # Only these actions exist; the generic add, edit, delete, copy, history and usage views
    # are not routed at all, so no permission a superuser holds can reach them.
    decision_views = {
        "verify": DoctorVerifyView,
        "reject": DoctorRejectView,
        "deactivate": DoctorDeactivateView,
        "reactivate": DoctorReactivateView,
    }

    def get_common_view_kwargs(self, **kwargs):
        view_kwargs = super().get_common_view_kwargs(**kwargs)
        for name in ("add", "edit", "delete", "copy", "history", "usage"):
            view_kwargs[f"{name}_url_name"] = None
        return view_kwargs

    def decision_url_names(self) -> dict:
        return {f"{action}_url_name": self.get_url_name(action) for action in self.decision_views}

    def get_index_view_kwargs(self, **kwargs):
        return super().get_index_view_kwargs(verify_url_name=self.get_url_name("verify"), **kwargs)

    def get_inspect_view_kwargs(self, **kwargs):
        return super().get_inspect_view_kwargs(
            template_name=f"{TEMPLATES}/inspect.html", **self.decision_url_names(), **kwargs
        )

    def get_urlpatterns(self):
        urlpatterns = [
            path("", self.index_view, name="index"),
            path("results/", self.index_results_view, name="index_results"),
            path("inspect/<int:pk>/", self.inspect_view, name="inspect"),
        ]
        for action, view_class in self.decision_views.items():
            view = self.construct_view(view_class, **self.get_inspect_view_kwargs())
            urlpatterns.append(path(f"{action}/<int:pk>/", view, name=action))
        return urlpatterns

    @property
    def url_finder_class(self):
        # Links to a doctor from elsewhere in the CMS (the audit log, for one) open the
        # inspect view, as there is no edit view.
        inspect_url_name = self.get_url_name("inspect")

        class DoctorApplicationURLFinder(ModelAdminURLFinder):
            def construct_edit_url(self, instance):
                return reverse(inspect_url_name, args=(instance.pk,))

            def get_edit_url(self, instance):
                policy = policy_registry.get(instance)
                if self.user and not policy.user_has_permission(self.user, "view"):
                    return None
                return self.construct_edit_url(instance)

        return DoctorApplicationURLFinder

    def get_permissions_to_register(self):
        # The group editor offers what admins may hold on doctors: view and verify.
        return Permission.objects.filter(
            content_type__app_label="clinic", codename__in=["view_doctor", "verify_doctor"]
        )


@hooks.register("register_admin_viewset")
def register_doctor_applications():
    return DoctorApplicationViewSet("doctor_applications")
