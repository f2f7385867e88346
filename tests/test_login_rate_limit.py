"""Failed logins are rate limited per address (10 a minute) and per account (5 in 5 minutes)."""

import re

import pytest

from tests.factories import PASSWORD

WRONG = "not-the-password-1"
BAD_CREDENTIALS = "The email address and/or password you specified are not correct."
TOO_MANY = "Too many failed login attempts. Try again later."


def _form_errors(response) -> list[str]:
    html = response.content.decode()
    return [
        re.sub(r"<[^>]+>", "", item).strip()
        for block in re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)
        for item in re.findall(r"<li>(.*?)</li>", block, re.S)
    ]


def _login(client, email: str, password: str = WRONG, ip: str = "203.0.113.10"):
    return client.post("/accounts/login/", {"login": email, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_eleventh_failed_login_in_a_minute_from_one_address_is_refused(client, amina):
    # Ten different accounts, so the per-account limit (5) is never what trips.
    for number in range(10):
        response = _login(client, f"guess{number}@example.test")
        assert response.status_code == 200
        assert _form_errors(response) == [BAD_CREDENTIALS]

    refused = _login(client, "guess10@example.test")

    assert refused.status_code in (200, 429)
    assert _form_errors(refused) == [TOO_MANY]
    # Even the right password is refused from this address for now...
    assert _form_errors(_login(client, amina.email, PASSWORD)) == [TOO_MANY]
    assert "_auth_user_id" not in client.session
    # ...while another address is not affected.
    other = _login(client, amina.email, PASSWORD, ip="203.0.113.99")
    assert other.status_code == 302
    assert "_auth_user_id" in client.session


@pytest.mark.django_db
def test_sixth_failed_login_for_one_account_is_refused_from_any_address(client, amina):
    for number in range(5):
        response = _login(client, amina.email, ip=f"198.51.100.{number + 1}")
        assert response.status_code == 200
        assert _form_errors(response) == [BAD_CREDENTIALS]

    refused = _login(client, amina.email, ip="198.51.100.77")

    assert refused.status_code in (200, 429)
    assert _form_errors(refused) == [TOO_MANY]
    # The account is locked against guessing, including the right password for now...
    assert _form_errors(_login(client, amina.email, PASSWORD, ip="198.51.100.78")) == [TOO_MANY]
    assert "_auth_user_id" not in client.session
    # ...and the email's case does not give a fresh allowance.
    assert _form_errors(_login(client, amina.email.upper(), ip="198.51.100.79")) == [TOO_MANY]


@pytest.mark.django_db
def test_a_successful_login_does_not_use_up_the_allowance(client, amina):
    for _ in range(4):
        assert _form_errors(_login(client, amina.email)) == [BAD_CREDENTIALS]
    for _ in range(3):
        assert _login(client, amina.email, PASSWORD).status_code == 302
        client.post("/accounts/logout/")

    # Still the fifth failure, not a refusal: successful logins were not counted.
    assert _form_errors(_login(client, amina.email)) == [BAD_CREDENTIALS]
    assert _form_errors(_login(client, amina.email)) == [TOO_MANY]
