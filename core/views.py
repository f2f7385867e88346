from uuid import UUID

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.static import serve as serve_file

from blog.review import articles_awaiting_review
from blog.selectors import articles_latest
from clinic.selectors import appointments_upcoming_for_user, doctor_agenda
from clinic.selectors_operations import operations_board
from core.htmx import render_page
from core.models import Role
from core.permissions import get_notification_for_user, role_required
from core.selectors import (
    notification_preferences_for,
    notifications_for_user,
    notifications_latest,
)
from core.services import (
    notification_kinds_for,
    notification_mark_all_read,
    notification_mark_read,
    notification_preferences_set,
)

ROLE_HOMES = {
    Role.PATIENT: "patient_home",
    Role.DOCTOR: "doctor_home",
    Role.ADMIN: "admin_home",
    Role.EDITOR: "editor_home",
}


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    return render_page(request, "core/landing.html", {"articles": articles_latest(limit=3)})


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect(ROLE_HOMES[request.user.role])


# Each home is one page of named partials (widgets); later issues fill them.
@require_GET
@role_required(Role.PATIENT)
def patient_home(request: HttpRequest) -> HttpResponse:
    context = {
        "patient": getattr(request.user, "patient", None),
        "appointments": appointments_upcoming_for_user(request.user),
        "articles": articles_latest(limit=3),
        "notifications": notifications_latest(request.user),
    }
    return render_page(
        request,
        "core/home_patient.html",
        context,
        partials={"care-overview": "care_overview", "latest-notifications": "latest_notifications"},
    )


@require_GET
@role_required(Role.DOCTOR)
def doctor_home(request: HttpRequest) -> HttpResponse:
    doctor = getattr(request.user, "doctor", None)
    context = {
        "doctor": doctor,
        "agenda": list(doctor_agenda(doctor, timezone.localdate())) if doctor else [],
        "notifications": notifications_latest(request.user),
        "duty_next": "home",
    }
    return render_page(
        request,
        "core/home_doctor.html",
        context,
        partials={"day-at-work": "day_at_work", "latest-notifications": "latest_notifications"},
    )


@require_GET
@role_required(Role.ADMIN)
def admin_home(request: HttpRequest) -> HttpResponse:
    """The operations board: today's appointments, open SOS requests, pending doctor
    applications and deliveries in progress, each region linking to its CMS screen; the board
    refreshes itself as one HTMX region."""
    context = {
        "board": operations_board(),
        "notifications": notifications_latest(request.user),
    }
    return render_page(
        request,
        "core/home_admin.html",
        context,
        partials={"operations": "operations", "latest-notifications": "latest_notifications"},
    )


@require_GET
@role_required(Role.EDITOR)
def editor_home(request: HttpRequest) -> HttpResponse:
    context = {
        "awaiting_review": articles_awaiting_review(),
        "notifications": notifications_latest(request.user),
    }
    return render_page(
        request,
        "core/home_editor.html",
        context,
        partials={"review-queue": "review_queue", "latest-notifications": "latest_notifications"},
    )


@require_GET
@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(notifications_for_user(request.user), 20).get_page(request.GET.get("page"))
    return render_page(
        request,
        "core/notifications.html",
        {"page": page},
        partials={"notification-list": "notification_list"},
    )


@require_GET
@login_required
def notification_open(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Follow a notification's link, marking it read on the way."""
    notification = get_notification_for_user(request, public_id)
    notification_mark_read(notification=notification)
    link = notification.link
    if link and url_has_allowed_host_and_scheme(
        link, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(link)
    return redirect("notification_list")


@require_POST
@login_required
def notification_read(request: HttpRequest, public_id: UUID) -> HttpResponse:
    notification = get_notification_for_user(request, public_id)
    notification_mark_read(notification=notification)
    if request.htmx:
        return render_page(
            request,
            "core/notifications.html#notification_item_marked",
            {"notification": notification},
        )
    return redirect("notification_list")


@require_POST
@login_required
def notification_read_all(request: HttpRequest) -> HttpResponse:
    notification_mark_all_read(user=request.user)
    if request.htmx:
        page = Paginator(notifications_for_user(request.user), 20).get_page(1)
        response = render_page(
            request, "core/notifications.html#notification_list_marked", {"page": page}
        )
        response["HX-Trigger"] = "notificationsRead"
        return response
    return redirect("notification_list")


class NotificationSettingsForm(forms.Form):
    """The kinds of notification (of the user's role) that should also come by email."""

    email = forms.MultipleChoiceField(required=False)

    def __init__(self, *args, kinds=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].choices = [(kind.value, kind.label) for kind in kinds]


def _notification_settings_page(
    request: HttpRequest, *, form: NotificationSettingsForm | None = None, status: int = 200
) -> HttpResponse:
    rows = notification_preferences_for(request.user)
    if form is not None:
        # Show what was posted next to the error, not what is stored.
        posted = set(form.data.getlist("email"))
        rows = [{**row, "email": row["always"] or row["kind"] in posted} for row in rows]
    return render_page(
        request,
        "core/notification_settings.html",
        {"rows": rows, "form": form},
        partials={"notification-settings": "notification_settings"},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    """Which notifications also come by email, one choice per kind the user's role receives;
    safety notices always do."""
    if request.method == "GET":
        return _notification_settings_page(request)
    form = NotificationSettingsForm(request.POST, kinds=notification_kinds_for(request.user))
    if not form.is_valid():
        return _notification_settings_page(request, form=form, status=400)
    notification_preferences_set(
        user=request.user, email_kinds=form.cleaned_data["email"], request=request
    )
    messages.success(request, _("Saved."))
    if request.htmx and not request.htmx.boosted:
        return _notification_settings_page(request)
    return redirect("notification_settings")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """For the platform's health check: the process answers and the database does too."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")


@require_http_methods(["GET", "POST"])
def admin_login_redirect(request: HttpRequest) -> HttpResponse:
    """The Wagtail and Django admin logins: everyone signs in through allauth (with MFA).

    A signed-in user with access to that admin goes on to where they were headed; one
    without it gets 403 (sending them back to the admin would loop).
    """
    admin_root = request.path.rsplit("login/", 1)[0]
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = admin_root
    if request.user.is_authenticated:
        if admin_root.startswith("/django-admin/"):
            has_access = request.user.is_active and request.user.is_superuser
        else:
            has_access = request.user.has_perm("wagtailadmin.access_admin")
        if not has_access:
            raise PermissionDenied
        return redirect(next_url)
    return redirect_to_login(next_url)


@require_GET
def article_image_file(request: HttpRequest, path: str) -> HttpResponse:
    """An article image (Wagtail original or rendition) from MEDIA_ROOT: as public as the
    articles. The URL pattern admits only those two folders."""
    return serve_file(request, path, document_root=settings.MEDIA_ROOT)
