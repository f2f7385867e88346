"""Public signup through allauth: patients only, verified email required, no account enumeration."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from clinic.models import Patient
from core.models import AuditEvent, Role, User

NEW_PASSWORD = "Sunflower-Meadow-1987"


def _signup(client, email: str):
    return client.post(
        "/accounts/signup/",
        {"email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )


def _confirmation_link(message) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


@pytest.mark.django_db
def test_signup_creates_a_patient_with_a_clinic_record_and_sends_a_verification_email(client):
    response = _signup(client, "Noor.New@Example.test")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(email__iexact="noor.new@example.test")
    assert user.role == Role.PATIENT
    assert list(user.groups.values_list("name", flat=True)) == [Role.PATIENT]
    assert Patient.objects.filter(user=user).count() == 1
    assert not user.is_staff and not user.is_superuser
    address = EmailAddress.objects.get(user=user)
    assert address.primary and not address.verified
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert "/accounts/confirm-email/" in mail.outbox[0].body
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SIGNED_UP, actor=user).exists()
    # Mandatory verification: signing up does not sign in.
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_unverified_user_cannot_sign_in_until_the_email_is_confirmed(client):
    _signup(client, "noor@example.test")
    link = _confirmation_link(mail.outbox[0])
    mail.outbox.clear()

    response = client.post(
        "/accounts/login/", {"login": "noor@example.test", "password": NEW_PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session
    assert client.get("/patient/").status_code == 302  # still anonymous
    # The email is not sent again at once: at most one verification email per 3 minutes.
    assert mail.outbox == []

    confirm = client.post(link)
    assert confirm.status_code == 302
    assert EmailAddress.objects.get(email="noor@example.test").verified

    login = client.post(
        "/accounts/login/", {"login": "noor@example.test", "password": NEW_PASSWORD}
    )
    assert login.status_code == 302
    assert client.get(login["Location"], follow=True).redirect_chain[-1][0] == "/patient/"
    assert client.get("/patient/").status_code == 200


def _normalised_page(response, email: str) -> str:
    """The page with what legitimately differs between two visitors blanked out: the CSRF
    token and the address the visitor typed (echoed back in "confirmation email sent to")."""
    html = response.content.decode()
    html = re.sub(r'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+', r"\1TOKEN", html)
    return html.replace(email, "EMAIL")


@pytest.mark.django_db
def test_signup_with_an_existing_email_looks_the_same_as_a_new_one(amina):
    new_visitor, prober = Client(), Client()

    new = _signup(new_visitor, "somebody.new@example.test")
    taken = _signup(prober, amina.email)

    assert taken.status_code == new.status_code == 302
    assert taken["Location"] == new["Location"]
    # The page the visitor lands on reads the same too.
    new_page = new_visitor.get(new["Location"])
    taken_page = prober.get(taken["Location"])
    assert new_page.status_code == taken_page.status_code == 200
    assert _normalised_page(new_page, "somebody.new@example.test") == _normalised_page(
        taken_page, amina.email
    )
    # No second account; the owner of the address is told by email instead.
    assert User.objects.filter(email__iexact=amina.email).count() == 1
    assert "_auth_user_id" not in prober.session
    assert [m.to for m in mail.outbox] == [["somebody.new@example.test"], [amina.email]]
    assert "already" in mail.outbox[1].subject.lower()


@pytest.mark.django_db
def test_signup_with_a_weak_password_is_refused_with_a_field_error(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "weak@example.test", "password1": "password", "password2": "password"},
    )

    assert response.status_code == 200
    assert b'aria-invalid="true"' in response.content
    assert not User.objects.filter(email="weak@example.test").exists()
    assert mail.outbox == []
