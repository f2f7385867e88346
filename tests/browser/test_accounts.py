"""Signing up, signing in to each role's home, the CMS door, and signing out, in a real browser."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.browser.conftest import NAV_TIMEOUT_MS, SHOTS, UI_TIMEOUT_MS, log_in, url_path_re

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CONFIRM_LINK = re.compile(r"https?://[^\s/]+/accounts/confirm-email/[^\s/]+/")


def test_signup_verify_email_then_sign_in_lands_on_patient_home(live_asgi, tab):
    page = tab.page
    email = "new.patient@example.test"
    password = "Harbour-Violet-Compass-58"

    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password:", exact=True).fill(password)
    page.get_by_label("Password (again)").fill(password)
    page.locator("main").get_by_role("button", name="Sign Up").click()

    # Verification is mandatory: no way in yet, the site says to check the inbox.
    expect(page).to_have_url(url_path_re("/accounts/confirm-email/"), timeout=NAV_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Verify Your Email Address", timeout=NAV_TIMEOUT_MS
    )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [email]
    link = CONFIRM_LINK.search(message.body)
    assert link, message.body
    assert link.group(0).startswith(live_asgi.url)

    page.goto(link.group(0))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Confirm Email Address", timeout=NAV_TIMEOUT_MS
    )
    expect(page.locator("main")).to_contain_text(email, timeout=UI_TIMEOUT_MS)
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(url_path_re("/accounts/login/"), timeout=NAV_TIMEOUT_MS)
    expect(page.locator("#messages")).to_contain_text(
        f"You have confirmed {email}.", timeout=UI_TIMEOUT_MS
    )
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.locator("main").get_by_role("button", name="Sign In").click()

    expect(page).to_have_url(url_path_re("/patient/"), timeout=NAV_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(r"^Hello, "), timeout=NAV_TIMEOUT_MS
    )
    expect(page.get_by_role("heading", name="Care overview")).to_be_visible(timeout=UI_TIMEOUT_MS)


@pytest.mark.parametrize(
    ("role", "heading"),
    [
        ("doctor", "Good day, Dr Doctor Lindqvist"),
        ("admin", "Operations overview"),
        ("editor", "Editorial review"),
    ],
)
def test_staff_sign_in_to_their_own_home_and_open_the_cms(
    live_asgi, make_account, tab, role, heading
):
    account = make_account(role, role.title(), "Lindqvist")
    page = tab.page

    log_in(page, account)

    expect(page).to_have_url(url_path_re(account.home), timeout=NAV_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading, timeout=UI_TIMEOUT_MS)
    # Every page of the site after sign-in shows who is signed in, in the account menu.
    expect(page.locator("details.dropdown > summary")).to_have_text(
        role.title(), timeout=UI_TIMEOUT_MS
    )
    # /home/ (where sign-in lands) sends each role to its own home, never another's.
    page.goto("/home/")
    expect(page).to_have_url(url_path_re(account.home), timeout=NAV_TIMEOUT_MS)

    # The CMS link in the site's navigation leads to the Wagtail dashboard.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="CMS").click()

    expect(page).to_have_url(url_path_re("/cms/"), timeout=NAV_TIMEOUT_MS)
    expect(page).to_have_title(re.compile(r"^Dashboard"), timeout=NAV_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "St. Mary's Hospital", timeout=UI_TIMEOUT_MS
    )
    expect(page.get_by_role("main")).to_contain_text(
        f"{role.title()} Lindqvist", timeout=UI_TIMEOUT_MS
    )
    # The site's strict policy and the admin's relaxed one both held: nothing was refused.
    assert tab.csp_violations() == []
    assert tab.errors == []


def test_patient_signs_in_to_patient_home_and_gets_no_cms(live_asgi, make_account, tab):
    account = make_account("patient", "Ben", "Keller")
    page = tab.page

    log_in(page, account)

    expect(page).to_have_url(url_path_re("/patient/"), timeout=NAV_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Ben", timeout=UI_TIMEOUT_MS)
    expect(page.locator("details.dropdown > summary")).to_have_text("Ben", timeout=UI_TIMEOUT_MS)
    page.goto("/home/")
    expect(page).to_have_url(url_path_re("/patient/"), timeout=NAV_TIMEOUT_MS)
    # Patients are not offered the CMS at all...
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="CMS")).to_have_count(0, timeout=UI_TIMEOUT_MS)

    # ...and typing its address shows the site's own "not allowed" page, not Wagtail.
    response = page.goto("/cms/")

    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "You cannot do that", timeout=UI_TIMEOUT_MS
    )
    expect(page).not_to_have_title(re.compile("Wagtail"), timeout=UI_TIMEOUT_MS)
    expect(page.locator("main")).to_contain_text("does not have permission", timeout=UI_TIMEOUT_MS)
    # Still signed in as themselves: the site's navigation, not a login form.
    expect(page.locator("details.dropdown > summary")).to_have_text("Ben", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_label("Password")).to_have_count(0, timeout=UI_TIMEOUT_MS)


def test_sign_out_from_the_account_menu(live_asgi, make_account, tab):
    account = make_account("patient", "Amina", "Okafor")
    page = tab.page
    log_in(page, account)
    expect(page).to_have_url(url_path_re("/patient/"), timeout=NAV_TIMEOUT_MS)

    sign_out = page.get_by_role("button", name="Sign out")
    # The button lives in the closed account menu: not visible until the menu opens.
    expect(sign_out).to_be_hidden(timeout=UI_TIMEOUT_MS)
    page.locator("details.dropdown > summary").click()
    expect(sign_out).to_be_visible(timeout=UI_TIMEOUT_MS)
    sign_out.click()

    # Back on the public landing page with the Sign in link instead of the account menu.
    expect(page).to_have_url(url_path_re("/"), timeout=NAV_TIMEOUT_MS)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Sign in")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.locator("details.dropdown")).to_have_count(0, timeout=UI_TIMEOUT_MS)

    page.goto("/patient/")
    expect(page).to_have_url(
        re.compile(r"/accounts/login/\?next=/patient/$"), timeout=NAV_TIMEOUT_MS
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign In", timeout=UI_TIMEOUT_MS)


def test_login_page_and_patient_home_look_like_the_site_under_the_csp(live_asgi, make_account, tab):
    """Screenshots for a person to look at, plus what makes them the site's pages, not allauth's."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = tab.page
    page.goto("/accounts/login/")
    # The site's header, footer and stylesheet frame allauth's form.
    expect(page.locator("header.site-header .brand")).to_contain_text(
        "St. Mary's Hospital", timeout=UI_TIMEOUT_MS
    )
    expect(page.locator("footer.site-footer")).to_contain_text(
        "In an emergency call", timeout=UI_TIMEOUT_MS
    )
    expect(page).to_have_title("Sign In · St. Mary's Hospital", timeout=UI_TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "login.png"), full_page=True)

    account = make_account("patient", "Amina", "Okafor")
    log_in(page, account)
    expect(page).to_have_url(url_path_re("/patient/"), timeout=NAV_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Emergency")).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "patient_home.png"), full_page=True)
    # Nothing on either page (htmx, its ws extension, the site's script and styles) broke the
    # strict CSP: no inline script or style was refused.
    assert tab.csp_violations() == []
    assert tab.errors == []

    # The CSP really is enforced on these pages, and a violation would have been seen above:
    # an inline script that the page itself inserts is refused and reported on the console.
    with page.expect_console_message(
        lambda message: "Content Security Policy" in message.text, timeout=NAV_TIMEOUT_MS
    ):
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.__inlineRan = true;";
                document.body.appendChild(script);
            }"""
        )
    assert page.evaluate("() => window.__inlineRan === true") is False
    assert len(tab.csp_violations()) == 1
