"""Password reset does not tell a visitor whether an email address has an account."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.browser.conftest import NAV_TIMEOUT_MS, path_of, url_path_re

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

RESET_LINK = re.compile(r"https?://[^\s/]+/accounts/password/reset/key/\S+")


def _request_reset(tab, email: str) -> tuple[str, str, str]:
    """Ask for a reset in a fresh browser; returns (url path, title, main text) of the result."""
    page = tab.page
    page.goto("/accounts/password/reset/")
    page.get_by_label("Email").fill(email)
    page.locator("main").get_by_role("button", name="Reset My Password").click()
    expect(page).to_have_url(url_path_re("/accounts/password/reset/done/"), timeout=NAV_TIMEOUT_MS)
    return path_of(page.url), page.title(), page.locator("main").inner_text()


def test_reset_for_unknown_email_looks_exactly_like_for_known_email(
    live_asgi, make_account, new_tab
):
    known = make_account("patient", "Amina", "Okafor")
    unknown_email = "nobody.here@example.test"

    known_page = _request_reset(new_tab(), known.email)
    unknown_page = _request_reset(new_tab(), unknown_email)

    # What the visitor sees is identical, down to the address bar.
    assert unknown_page == known_page
    assert "We have sent you an email." in known_page[2]

    # Behind the scenes only the account holder gets a reset link. The unknown address gets
    # allauth's "no account with this address" note (enumeration prevention), with no link.
    by_recipient = {tuple(message.to): message for message in mail.outbox}
    assert sorted(by_recipient) == sorted([(known.email,), (unknown_email,)])
    assert len(mail.outbox) == 2
    assert RESET_LINK.search(by_recipient[(known.email,)].body)
    unknown_body = by_recipient[(unknown_email,)].body
    assert not RESET_LINK.search(unknown_body)
    assert "/accounts/password/reset/key/" not in unknown_body
    assert "we do not have any record of such an account" in unknown_body
