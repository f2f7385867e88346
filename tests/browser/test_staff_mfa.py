"""A doctor without an authenticator app is held at TOTP enrolment until they set one up."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import NAV_TIMEOUT_MS, UI_TIMEOUT_MS, log_in, totp_now, url_path_re

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ACTIVATE = "/accounts/2fa/totp/activate/"


def _totp_enrolled(user_id: int) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user_id=user_id, type=Authenticator.Type.TOTP).exists()


def test_doctor_without_mfa_must_enrol_totp_before_anything_else(live_asgi, make_account, tab):
    omar = make_account("doctor", "Omar", "Haddad", totp=False)
    page = tab.page

    # The password alone signs him in (there is no second factor yet)...
    log_in(page, omar)

    # ...and is sent towards authenticator enrolment, with the reason on the page. allauth
    # first asks for the password once more (enrolling a second factor needs a fresh
    # reauthentication; the sign-in itself does not count as one in allauth 65).
    expect(page).to_have_url(
        re.compile(r"/accounts/reauthenticate/\?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F$"),
        timeout=NAV_TIMEOUT_MS,
    )
    expect(page.locator("#messages")).to_contain_text(
        "Set up two-factor authentication to continue.", timeout=UI_TIMEOUT_MS
    )
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Confirm Access", timeout=UI_TIMEOUT_MS
    )
    page.get_by_label("Password").fill(omar.password)
    page.locator("main").get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(url_path_re(ACTIVATE), timeout=NAV_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Activate Authenticator App", timeout=UI_TIMEOUT_MS
    )

    # Nothing else opens first: his home, the CMS, the Django admin, his notifications.
    for path in ("/doctor/", "/cms/", "/django-admin/", "/notifications/"):
        page.goto(path)
        expect(page, f"{path} must end on TOTP enrolment").to_have_url(
            url_path_re(ACTIVATE), timeout=NAV_TIMEOUT_MS
        )
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Activate Authenticator App", timeout=UI_TIMEOUT_MS
        )
    assert not live_asgi.run(_totp_enrolled, omar.user.pk)

    # He types the secret shown on the page into his authenticator app and enters its code.
    secret = page.locator("#authenticator_secret").input_value()
    assert len(secret) >= 16
    page.get_by_label("Authenticator code").fill(totp_now(secret))
    page.locator("main").get_by_role("button", name="Activate").click()

    # allauth goes on to his recovery codes, then every page is open to him.
    expect(page).to_have_url(url_path_re("/accounts/2fa/recovery-codes/"), timeout=NAV_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Recovery Codes", timeout=UI_TIMEOUT_MS
    )
    assert live_asgi.run(_totp_enrolled, omar.user.pk)

    page.goto("/doctor/")
    expect(page).to_have_url(url_path_re("/doctor/"), timeout=NAV_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Good day, Dr Omar Haddad", timeout=UI_TIMEOUT_MS
    )
    page.goto("/cms/")
    expect(page).to_have_url(url_path_re("/cms/"), timeout=NAV_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "St. Mary's Hospital", timeout=UI_TIMEOUT_MS
    )

    # The enrolment page's QR code and forms load under the site's strict CSP.
    assert tab.csp_violations() == []
