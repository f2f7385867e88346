"""Authentication events leave an audit trail: who, what, from which address; never a password."""

import pytest
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.test import Client

from core.models import AuditEvent, Role
from core.services import user_set_role
from tests.factories import PASSWORD

IP = "203.0.113.44"


def _login(client, email, password):
    return client.post("/accounts/login/", {"login": email, "password": password}, REMOTE_ADDR=IP)


@pytest.mark.django_db
def test_login_is_audited_with_actor_and_address(client, amina):
    response = _login(client, amina.email, PASSWORD)

    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert event.actor == amina
    assert event.ip_address == IP


@pytest.mark.django_db
def test_failed_login_records_the_tried_email_but_never_the_password(client, amina):
    tried_password = "Guessing-Secret-777"

    _login(client, amina.email, tried_password)
    _login(client, "ghost@example.test", tried_password)

    events = AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED).order_by("id")
    assert [(e.actor, e.actor_label, e.ip_address) for e in events] == [
        (None, amina.email, IP),
        (None, "ghost@example.test", IP),
    ]
    for event in AuditEvent.objects.all():
        stored = " ".join(
            str(getattr(event, field.attname)) for field in AuditEvent._meta.concrete_fields
        )
        assert tried_password not in stored
        assert PASSWORD not in stored
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN).exists()


@pytest.mark.django_db
def test_logout_is_audited(client, amina):
    _login(client, amina.email, PASSWORD)

    response = client.post("/accounts/logout/", REMOTE_ADDR=IP)

    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGOUT)
    assert event.actor == amina
    assert event.ip_address == IP


@pytest.mark.django_db
def test_logout_by_get_does_not_sign_out(client, amina):
    _login(client, amina.email, PASSWORD)

    client.get("/accounts/logout/")

    assert "_auth_user_id" in client.session
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LOGOUT).exists()


@pytest.mark.django_db
def test_mfa_added_is_audited(rf, dr_clara):
    request = rf.post("/accounts/2fa/totp/activate/", REMOTE_ADDR=IP)
    request.user = dr_clara
    authenticator = Authenticator.objects.get(user=dr_clara, type=Authenticator.Type.TOTP)

    mfa_signals.authenticator_added.send(
        sender=Authenticator, request=request, user=dr_clara, authenticator=authenticator
    )

    event = AuditEvent.objects.get(action=AuditEvent.Action.MFA_ADDED)
    assert event.actor == dr_clara
    assert event.ip_address == IP
    assert event.details == {"type": Authenticator.Type.TOTP}
    # The stored secret never reaches the log.
    assert authenticator.data["secret"] not in str(event.details)


@pytest.mark.django_db
def test_mfa_removed_is_audited(rf, dr_clara):
    request = rf.post("/accounts/2fa/totp/deactivate/", REMOTE_ADDR=IP)
    authenticator = Authenticator.objects.get(user=dr_clara, type=Authenticator.Type.TOTP)

    mfa_signals.authenticator_removed.send(
        sender=Authenticator, request=request, user=dr_clara, authenticator=authenticator
    )

    event = AuditEvent.objects.get(action=AuditEvent.Action.MFA_REMOVED)
    assert (event.actor, event.ip_address) == (dr_clara, IP)


@pytest.mark.django_db
def test_role_change_is_audited_with_who_did_it_and_from_where(rf, ben, ada):
    request = rf.post("/cms/users/", REMOTE_ADDR=IP)
    request.user = ada

    user_set_role(user=ben, role=Role.DOCTOR, actor=ada, request=request)

    event = AuditEvent.objects.get(action=AuditEvent.Action.ROLE_CHANGED, target_id=ben.public_id)
    assert event.actor == ada
    assert event.ip_address == IP
    assert event.target_label == str(ben)
    assert event.details == {"from": "patient", "to": "doctor"}


@pytest.mark.django_db
def test_the_address_comes_from_the_connection_not_a_forged_header(ben):
    client = Client()
    client.post(
        "/accounts/login/",
        {"login": ben.email, "password": PASSWORD},
        REMOTE_ADDR=IP,
        HTTP_X_FORWARDED_FOR="10.9.8.7",
    )

    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert event.ip_address == IP
