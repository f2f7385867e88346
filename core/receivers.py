"""Audit entries for authentication events that Django and allauth raise themselves.

Our own writes audit inside their services; these events happen inside the libraries, so a
receiver is the only place to see them.
"""

import time

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.dispatch import receiver

from core.models import AuditEvent
from core.services import audit_record, session_sockets_close
from core.session_policy import SESSION_LAST_SEEN_KEY, SESSION_STARTED_KEY


@receiver(auth_signals.user_logged_in, dispatch_uid="audit_login")
def _login(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        # Both clocks start at login: the idle limit holds even if only background
        # refreshes follow.
        now = time.time()
        request.session[SESSION_STARTED_KEY] = now
        request.session[SESSION_LAST_SEEN_KEY] = now
    audit_record(action=AuditEvent.Action.LOGIN, actor=user, request=request)


@receiver(auth_signals.user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    tried = str(credentials.get("email") or credentials.get("username") or "")
    audit_record(action=AuditEvent.Action.LOGIN_FAILED, actor_label=tried, request=request)


@receiver(auth_signals.user_logged_out, dispatch_uid="audit_logout")
def _logout(sender, request, user, **kwargs):
    if user is not None:
        audit_record(action=AuditEvent.Action.LOGOUT, actor=user, request=request)
    # Runs before Django flushes the session, so the key still names the session's sockets.
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        session_sockets_close(session_key=session_key)


@receiver(account_signals.user_signed_up, dispatch_uid="audit_signup")
def _signed_up(sender, request, user, **kwargs):
    audit_record(action=AuditEvent.Action.SIGNED_UP, actor=user, request=request, target=user)


@receiver(account_signals.password_changed, dispatch_uid="audit_password_changed")
def _password_changed(sender, request, user, **kwargs):
    audit_record(
        action=AuditEvent.Action.PASSWORD_CHANGED, actor=user, request=request, target=user
    )


@receiver(account_signals.password_reset, dispatch_uid="audit_password_reset")
def _password_reset(sender, request, user, **kwargs):
    audit_record(action=AuditEvent.Action.PASSWORD_RESET, actor=user, request=request, target=user)


@receiver(account_signals.email_changed, dispatch_uid="audit_email_changed")
def _email_changed(sender, request, user, from_email_address, to_email_address, **kwargs):
    audit_record(
        action=AuditEvent.Action.EMAIL_CHANGED,
        actor=user,
        request=request,
        target=user,
        details={
            "from": getattr(from_email_address, "email", None),
            "to": getattr(to_email_address, "email", None),
        },
    )


def _mfa_event(action):
    def handler(sender, request, authenticator, **kwargs):
        audit_record(
            action=action,
            actor=authenticator.user,
            request=request,
            target=authenticator.user,
            details={"type": authenticator.type},
        )

    return handler


_mfa_added = _mfa_event(AuditEvent.Action.MFA_ADDED)
_mfa_removed = _mfa_event(AuditEvent.Action.MFA_REMOVED)
_mfa_reset = _mfa_event(AuditEvent.Action.MFA_RESET)
mfa_signals.authenticator_added.connect(_mfa_added, dispatch_uid="audit_mfa_added")
mfa_signals.authenticator_removed.connect(_mfa_removed, dispatch_uid="audit_mfa_removed")
mfa_signals.authenticator_reset.connect(_mfa_reset, dispatch_uid="audit_mfa_reset")
