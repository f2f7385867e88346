"""Staff must enrol TOTP before anything else; the Wagtail and Django admins stay closed to
everyone without access, and their own login pages only hand over to allauth."""

import time

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.test import Client
from django.utils import timezone

from core.models import AuditEvent
from tests.conftest import htmx
from tests.factories import PASSWORD

ACTIVATE = "/accounts/2fa/totp/activate/"
STAFF_PAGES = ["/doctor/", "/notifications/", "/cms/", "/django-admin/", "/home/"]


def _totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


@pytest.mark.django_db
@pytest.mark.parametrize("path", STAFF_PAGES)
def test_doctor_without_totp_is_sent_to_enrol_first(client_for, dr_omar, path):
    response = client_for(dr_omar).get(path)

    assert response.status_code == 302
    assert response["Location"] == ACTIVATE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "target"),
    [("/doctor/", "day-at-work"), ("/notifications/", "notification-list"), ("/cms/", None)],
)
def test_htmx_request_of_a_doctor_without_totp_reloads_to_enrolment(
    client_for, dr_omar, path, target
):
    response = client_for(dr_omar).get(path, **htmx(target))

    assert response.status_code == 200
    assert response["HX-Redirect"] == ACTIVATE
    assert b"Good day" not in response.content
    assert b"<html" not in response.content


@pytest.mark.django_db
def test_doctor_without_totp_can_reach_enrolment_and_sign_out(client_for, dr_omar):
    client = client_for(dr_omar)

    enrol = client.get(ACTIVATE)
    # Enrolling first asks for the password again; that page is not blocked either.
    assert enrol.status_code == 302
    assert enrol["Location"] == f"/accounts/reauthenticate/?next={ACTIVATE.replace('/', '%2F')}"
    assert client.get(enrol["Location"]).status_code == 200

    logout = client.post("/accounts/logout/")
    assert logout.status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/doctor/", "/notifications/", "/cms/"])
def test_doctor_without_totp_gets_through_when_the_policy_is_off(
    settings, client_for, dr_omar, path
):
    settings.STAFF_MFA_REQUIRED = False

    response = client_for(dr_omar).get(path)

    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"), [("/patient/", 200), ("/notifications/", 200), ("/home/", 302)]
)
def test_patient_without_mfa_is_never_sent_to_enrol(client_for, amina, path, status):
    client = client_for(amina)

    response = client.get(path)
    partial = client.get(path, **htmx("notification-list"))

    assert response.status_code == status
    assert response.get("Location") != ACTIVATE
    assert "HX-Redirect" not in partial
    assert partial.get("HX-Location") != ACTIVATE


@pytest.mark.django_db
def test_doctor_with_totp_reaches_his_pages(client_for, dr_clara):
    client = client_for(dr_clara)

    assert client.get("/doctor/").status_code == 200
    assert client.get("/cms/").status_code == 200


@pytest.mark.django_db
def test_enrolling_totp_through_the_real_flow_opens_the_staff_pages(
    dr_omar, django_capture_on_commit_callbacks
):
    # Time stands still, so the code typed is still the current one when the server checks it.
    with time_machine.travel(timezone.now(), tick=False):
        _enrol_totp_through_the_pages(dr_omar, django_capture_on_commit_callbacks)


def _enrol_totp_through_the_pages(dr_omar, django_capture_on_commit_callbacks):
    client = Client()
    login = client.post(
        "/accounts/login/", {"login": dr_omar.email, "password": PASSWORD}, REMOTE_ADDR="192.0.2.5"
    )
    assert login.status_code == 302
    assert client.get("/doctor/")["Location"] == ACTIVATE

    # Enrolling asks for the password once more; that page is open to him despite no TOTP.
    reauth = client.get(ACTIVATE)
    assert reauth.status_code == 302
    assert reauth["Location"].startswith("/accounts/reauthenticate/")
    confirmed = client.post(reauth["Location"], {"password": PASSWORD})
    assert confirmed.status_code == 302
    assert confirmed["Location"] == ACTIVATE
    form = client.get(ACTIVATE)
    assert form.status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    wrong = client.post(ACTIVATE, {"code": "000000"}, REMOTE_ADDR="192.0.2.5")
    assert wrong.status_code == 200  # the form again, with an error
    with django_capture_on_commit_callbacks(execute=True):  # allauth signals on commit
        done = client.post(ACTIVATE, {"code": _totp_code(secret)}, REMOTE_ADDR="192.0.2.5")

    assert done.status_code == 302
    assert Authenticator.objects.filter(user=dr_omar, type=Authenticator.Type.TOTP).exists()
    assert client.get("/doctor/").status_code == 200
    event = AuditEvent.objects.get(
        action=AuditEvent.Action.MFA_ADDED, details__type=Authenticator.Type.TOTP
    )
    assert event.actor == dr_omar
    assert event.ip_address == "192.0.2.5"


@pytest.mark.django_db
def test_staff_cannot_remove_the_required_authenticator(client_for, dr_clara):
    from allauth.mfa.adapter import get_adapter

    totp = Authenticator.objects.get(user=dr_clara, type=Authenticator.Type.TOTP)

    assert not get_adapter().can_delete_authenticator(totp)


# --- The admins' own login pages ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("login_url", "next_path"),
    [("/cms/login/", "/cms/"), ("/django-admin/login/", "/django-admin/")],
)
def test_admin_login_pages_send_anonymous_visitors_to_allauth(client, login_url, next_path):
    response = client.get(login_url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={next_path}"


@pytest.mark.django_db
def test_admin_login_page_keeps_a_safe_next_and_drops_a_foreign_one(client):
    safe = client.get("/cms/login/", {"next": "/cms/pages/"})
    foreign = client.get("/cms/login/", {"next": "https://evil.example/"})

    assert safe["Location"] == "/accounts/login/?next=/cms/pages/"
    assert foreign["Location"] == "/accounts/login/?next=/cms/"


@pytest.mark.django_db
@pytest.mark.parametrize("login_url", ["/cms/login/", "/django-admin/login/"])
def test_admin_login_pages_refuse_a_signed_in_user_without_access(client_for, amina, login_url):
    response = client_for(amina).get(login_url)

    assert response.status_code == 403


@pytest.mark.django_db
def test_anonymous_visitor_of_the_cms_ends_at_the_allauth_login(client):
    response = client.get("/cms/", follow=True)

    assert response.redirect_chain[-1][0] == "/accounts/login/?next=/cms/"
    assert response.status_code == 200


@pytest.mark.django_db
def test_patient_gets_no_cms(client_for, amina):
    response = client_for(amina).get("/cms/", follow=True)

    assert response.status_code == 403
    assert b"wagtail" not in response.content.lower()
    assert b"Dashboard" not in response.content


@pytest.mark.django_db
def test_editor_with_totp_gets_the_wagtail_dashboard(client_for, eddie):
    response = client_for(eddie).get("/cms/")

    assert response.status_code == 200
    assert b"wagtail" in response.content.lower()


@pytest.mark.django_db
def test_admin_role_without_superuser_gets_no_django_admin(client_for, ada):
    response = client_for(ada).get("/django-admin/", follow=True)

    assert response.status_code == 403
    assert b"Django admin" not in response.content
    assert b"Site administration" not in response.content


@pytest.mark.django_db
def test_superuser_gets_the_django_admin(client_for, root):
    response = client_for(root).get("/django-admin/")

    assert response.status_code == 200
    assert b"Django admin (superusers only)" in response.content


@pytest.mark.django_db
def test_admin_login_page_sends_a_signed_in_user_with_access_on_to_next(client_for, eddie, root):
    # A bookmarked /cms/login/?next=... must not dead-end a user who may use the CMS.
    assert client_for(eddie).get("/cms/login/", {"next": "/cms/pages/"})["Location"] == (
        "/cms/pages/"
    )
    assert client_for(root).get("/django-admin/login/")["Location"] == "/django-admin/"
    # An editor may use the CMS but not the Django admin.
    assert client_for(eddie).get("/django-admin/login/").status_code == 403
