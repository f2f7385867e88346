"""Writes for users, roles, audit and notifications. Each is atomic and audited; side effects
(WebSocket pushes, emails) run on commit."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from core.models import AuditEvent, Notification, NotificationKind, Role

if TYPE_CHECKING:
    from core.models import User


def client_ip(request: HttpRequest | None) -> str | None:
    """The caller's address, honouring the trusted-proxy settings allauth uses for rate limits."""
    if request is None:
        return None
    from allauth.account.adapter import get_adapter

    try:
        return get_adapter(request).get_client_ip(request)
    except Exception:  # no address at all (a test client without REMOTE_ADDR)
        return None


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    request: HttpRequest | None = None,
    target: models.Model | None = None,
    actor_label: str = "",
    reason: str = "",
    details: dict[str, Any] | None = None,
    patient: models.Model | None = None,
    acting_for_patient: bool = False,
) -> AuditEvent:
    """Append one line to the audit log. The log is append-only: nothing updates or deletes it.

    `patient` is the patient whose clinical data this concerns; `acting_for_patient` says the
    actor is not that patient but someone acting for them (a parent, a proxy)."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    target_type = target_id = target_label = ""
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(getattr(target, "public_id", None) or target.pk)
        target_label = str(target)[:254]
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=actor_label[:254],
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        ip_address=client_ip(request),
        reason=reason,
        details=details or {},
        patient_public_id=getattr(patient, "public_id", None),
        patient_label=str(patient)[:254] if patient is not None else "",
        acting_for_patient=acting_for_patient,
    )


@transaction.atomic
def user_set_role(
    *, user: User, role: Role | str, actor: User | None = None, request: HttpRequest | None = None
) -> User:
    """Give a user exactly one role: the `role` field and membership of that role's group."""
    role = Role(role)
    previous = user.role
    user.role = role
    user.save(update_fields=["role"])
    role_groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*role_groups.exclude(name=role))
    user.groups.add(Group.objects.get(name=role))
    if previous != role or actor is not None:
        audit_record(
            action=AuditEvent.Action.ROLE_CHANGED,
            actor=actor,
            request=request,
            target=user,
            details={"from": previous, "to": role.value},
        )
    return user


def notification_group_name(user_id: int) -> str:
    """The channel-layer group that carries one user's live notifications."""
    return f"notifications.user.{user_id}"


def session_group_name(session_key: str) -> str:
    """The channel-layer group of the sockets opened under one login session."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def session_sockets_close(*, session_key: str) -> None:
    """Close the live sockets of one session, so a signed-out page receives nothing more."""
    async_to_sync(get_channel_layer().group_send)(
        session_group_name(session_key), {"type": "session.ended"}
    )


def notification_create(
    *,
    recipient: User,
    title: str,
    body: str = "",
    link: str = "",
    kind: NotificationKind | str = NotificationKind.GENERAL,
    email: bool = True,
) -> Notification:
    """Create an in-app notification and push it live to the recipient's open pages on commit.

    `kind` says what it is about; the recipient's preferences for that kind decide whether
    it also goes out by email. `email=False` is for callers that send their own, richer email
    (an appointment with its calendar file) and check `notification_email_wanted` themselves."""
    notification = Notification.objects.create(
        recipient=recipient, title=title[:200], body=body, link=link, kind=kind
    )
    transaction.on_commit(lambda: _notification_push(notification.pk))
    return notification


def _notification_push(notification_id: int) -> None:
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    unread = Notification.objects.filter(recipient_id=notification.recipient_id).unread().count()
    context = {"notification": notification, "unread_count": unread}
    async_to_sync(get_channel_layer().group_send)(
        notification_group_name(notification.recipient_id),
        {
            "type": "notification.push",
            # Badge and toast for every page; the list item only for pages that show the list
            # (htmx reports an error for an out-of-band target a page does not have).
            "html": render_to_string("core/notifications.html#live_push", context),
            "html_with_list": render_to_string(
                "core/notifications.html#live_push", {**context, "with_list": True}
            ),
        },
    )


def notification_mark_read(*, notification: Notification) -> Notification:
    """Mark one notification read; reading it again changes nothing."""
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notification_mark_all_read(*, user: User) -> int:
    """Mark every unread notification of the user read; returns how many changed."""
    return Notification.objects.filter(recipient=user).unread().update(read_at=timezone.now())


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    role: Role | str,
    first_name: str = "",
    last_name: str = "",
    email_verified: bool = False,
    actor: User | None = None,
) -> User:
    """Create a login with its role and its (optionally verified) primary email address."""
    from allauth.account.models import EmailAddress

    from core.models import User

    user = User.objects.create_user(
        email=email, password=password, first_name=first_name, last_name=last_name
    )
    user_set_role(user=user, role=role, actor=actor)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=email_verified)
    return user
