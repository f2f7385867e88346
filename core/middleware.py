from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from allauth.usersessions.models import UserSession
from csp.middleware import CSPMiddleware, PolicyParts
from csp.utils import default_config
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_htmx.http import HttpResponseClientRedirect

from core.models import AuditEvent
from core.services import audit_record, client_ip
from core.session_policy import idle_limit_for, session_expiry_reason, session_touch


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """The strict policy everywhere, except the admin screens that need inline code."""

    def get_policy_parts(self, request, response, report_only=False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if (
            not report_only
            and parts.config is None
            and request.path_info.startswith(settings.CSP_ADMIN_PATH_PREFIXES)
        ):
            parts.config = default_config(settings.CONTENT_SECURITY_POLICY_ADMIN["DIRECTIVES"])
        return parts


def _to_login(request: HttpRequest) -> HttpResponse:
    if request.htmx:
        # A partial must not swap a login form into a widget: reload the whole page instead.
        response = HttpResponseClientRedirect(reverse("account_login"))
    else:
        response = redirect_to_login(request.get_full_path())
    # Answered before HtmxResponseMiddleware sees the request, so add its Vary here.
    patch_vary_headers(response, ("HX-Request",))
    return response


class SessionTimeoutMiddleware:
    """Signs a user out after the idle limit of their role or the absolute session lifetime."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            reason = session_expiry_reason(request.session, user)
            if reason is not None:
                audit_record(
                    action=AuditEvent.Action.SESSION_TIMEOUT,
                    actor=user,
                    request=request,
                    details={"reason": reason},
                )
                logout(request)
                if reason == "idle":
                    minutes = idle_limit_for(user) // 60
                    messages.info(
                        request,
                        ngettext(
                            "You were signed out after %(minutes)d minute without activity.",
                            "You were signed out after %(minutes)d minutes without activity.",
                            minutes,
                        )
                        % {"minutes": minutes},
                    )
                else:
                    messages.info(request, _("Your session has ended. Please sign in again."))
                return _to_login(request)
            # Widgets that poll on their own are not the user being active.
            if "X-Background-Refresh" not in request.headers and session_touch(request.session):
                # "Last seen" on the user's Sessions page, at the same once-a-minute pace
                # (allauth's own tracking would write the row on every request).
                UserSession.objects.filter(session_key=request.session.session_key).update(
                    last_seen_at=timezone.now(), ip=client_ip(request)
                )
        return self.get_response(request)


# Pages a staff member without an authenticator may still open: enrolment and leaving.
MFA_SETUP_URL_NAMES = frozenset(
    {
        "mfa_activate_totp",
        "mfa_index",
        "mfa_view_recovery_codes",
        "mfa_generate_recovery_codes",
        "mfa_download_recovery_codes",
        "account_reauthenticate",
        "mfa_reauthenticate",
        "account_logout",
        "healthz",
    }
)


class StaffMFARequiredMiddleware:
    """Doctors, admins and editors enrol an authenticator app before they reach anything else.

    Runs for every resolved URL: site pages, partials, the Wagtail and Django admins.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        user = request.user
        if not (settings.STAFF_MFA_REQUIRED and user.is_authenticated and user.is_staff_role):
            return None
        if request.resolver_match.url_name in MFA_SETUP_URL_NAMES:
            return None
        if is_mfa_enabled(user, [Authenticator.Type.TOTP]):
            return None
        messages.warning(
            request,
            _("Set up two-factor authentication to continue. It is required for staff accounts."),
        )
        if request.htmx:
            return HttpResponseClientRedirect(reverse("mfa_activate_totp"))
        return redirect("mfa_activate_totp")


class HtmxResponseMiddleware:
    """HTMX plumbing for every view: Vary, redirects, and messages swapped out-of-band."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        if not request.htmx or request.htmx.boosted:
            return response
        if isinstance(response, HttpResponseRedirect):
            # A plain redirect would be followed by XHR and swapped into the target;
            # HX-Location navigates the page instead.
            location = HttpResponse(status=204)
            location["HX-Location"] = response["Location"]
            # Events the view fired (appointmentCancelled, ...) still reach the page.
            for header in ("HX-Trigger", "HX-Trigger-After-Settle", "HX-Trigger-After-Swap"):
                if header in response:
                    location[header] = response[header]
            patch_vary_headers(location, ("HX-Request",))
            return location
        storage = messages.get_messages(request)
        content_type = response.get("Content-Type", "")
        if (
            not storage.used
            and len(storage)
            and content_type.startswith("text/html")
            and not response.streaming
        ):
            response.content += render_to_string(
                "core/_messages.html", {"messages": storage, "oob": True}, request=request
            ).encode()
        return response
