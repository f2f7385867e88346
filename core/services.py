"""Writes for users, roles, audit and notifications. Each is atomic and audited; side effects
(WebSocket pushes, emails) run on commit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.db import models, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from core.models import (
    EMAIL_ALWAYS_KINDS,
    EMAIL_OFF_BY_DEFAULT_KINDS,
    AuditEvent,
    Notification,
    NotificationKind,
    NotificationPreference,
    Role,
)

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


def notification_email_wanted(user: User, kind: NotificationKind | str) -> bool:
    """Whether a notification of this kind should also reach the user by email.

    Safety kinds always do; otherwise the user's own choice, or the default for the kind (on,
    except the few that are noise by email). An inactive login or one without an address
    gets no email at all."""
    if not user.is_active or not user.email:
        return False
    if kind in EMAIL_ALWAYS_KINDS:
        return True
    chosen = (
        NotificationPreference.objects.filter(user=user, kind=kind)
        .values_list("email", flat=True)
        .first()
    )
    if chosen is not None:
        return chosen
    return kind not in EMAIL_OFF_BY_DEFAULT_KINDS


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
    it also goes out by email (on commit, too). `email=False` is for callers that send their
    own, richer email (an appointment with its calendar file) and check
    `notification_email_wanted` themselves."""
    notification = Notification.objects.create(
        recipient=recipient, title=title[:200], body=body, link=link, kind=kind
    )
    transaction.on_commit(lambda: _notification_push(notification.pk))
    if email:
        # Robust: a mail server that is down never undoes or breaks what was committed.
        transaction.on_commit(lambda: _notification_email(notification.pk), robust=True)
    return notification


def _notification_email(notification_id: int) -> None:
    """Email one notification if its recipient wants that kind by email: the title as subject,
    the body and a link back to the site."""
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    recipient = notification.recipient
    if not notification_email_wanted(recipient, notification.kind):
        return
    site_url = settings.SITE_URL.rstrip("/")
    # Links are paths on this site; anything else falls back to the notification itself.
    link = notification.link
    if not (link.startswith("/") and url_has_allowed_host_and_scheme(link, allowed_hosts=None)):
        link = notification.get_absolute_url()
    context = {
        "notification": notification,
        "recipient": recipient,
        "link": site_url + link,
        "settings_link": site_url + reverse("notification_settings"),
        "always": notification.kind in EMAIL_ALWAYS_KINDS,
        "hospital_name": settings.HOSPITAL_NAME,
        "emergency_number": settings.EMERGENCY_NUMBER,
    }
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{notification.title}",
        message=render_to_string("core/email/notification.txt", context),
        from_email=None,
        recipient_list=[recipient.email],
    )


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


def _notification_unread_push(user_id: int) -> None:
    """Send the user's open pages (every tab, every device) their new unread count."""
    unread = Notification.objects.filter(recipient_id=user_id).unread().count()
    async_to_sync(get_channel_layer().group_send)(
        notification_group_name(user_id),
        {
            "type": "notification.unread",
            "html": render_to_string(
                "core/notifications.html#unread_badge", {"unread_count": unread}
            ),
        },
    )


@transaction.atomic
def notification_mark_read(*, notification: Notification) -> Notification:
    """Mark one notification read; reading it again changes nothing. The user's other open
    pages get the new unread count."""
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        user_id = notification.recipient_id
        transaction.on_commit(lambda: _notification_unread_push(user_id), robust=True)
    return notification


@transaction.atomic
def notification_mark_all_read(*, user: User) -> int:
    """Mark every unread notification of the user read; returns how many changed. The user's
    other open pages get the new unread count."""
    changed = Notification.objects.filter(recipient=user).unread().update(read_at=timezone.now())
    if changed:
        user_id = user.pk
        transaction.on_commit(lambda: _notification_unread_push(user_id), robust=True)
    return changed


# Which kinds of notification reach each role: the settings page offers a row for each.
NOTIFICATION_KINDS_BY_ROLE: dict[str, tuple[NotificationKind, ...]] = {
    Role.PATIENT: (
        NotificationKind.APPOINTMENT,
        NotificationKind.REMINDER,
        NotificationKind.WAITLIST,
        NotificationKind.RECORD,
        NotificationKind.PRESCRIPTION,
        NotificationKind.DELIVERY,
        NotificationKind.CHAT,
        NotificationKind.SOS,
        NotificationKind.FAMILY,
        NotificationKind.EMERGENCY_ACCESS,
        # A patient may apply as a doctor and hears back about it.
        NotificationKind.ACCOUNT,
        NotificationKind.GENERAL,
    ),
    Role.DOCTOR: (
        NotificationKind.APPOINTMENT,
        NotificationKind.PRESCRIPTION,
        NotificationKind.CHAT,
        NotificationKind.SOS,
        NotificationKind.ARTICLE,
        NotificationKind.ACCOUNT,
        NotificationKind.GENERAL,
    ),
    Role.ADMIN: (
        NotificationKind.ACCOUNT,
        NotificationKind.DELIVERY,
        NotificationKind.SOS,
        NotificationKind.EMERGENCY_ACCESS,
        NotificationKind.GENERAL,
    ),
    Role.EDITOR: (
        NotificationKind.ARTICLE,
        NotificationKind.ACCOUNT,
        NotificationKind.GENERAL,
    ),
}


def notification_kinds_for(user: User) -> tuple[NotificationKind, ...]:
    """The kinds of notification a user of this role receives, in the order pages show them."""
    return NOTIFICATION_KINDS_BY_ROLE.get(user.role, (NotificationKind.GENERAL,))


@transaction.atomic
def notification_preferences_set(
    *,
    user: User,
    email_kinds: Iterable[NotificationKind | str],
    request: HttpRequest | None = None,
) -> list[str]:
    """Save which kinds the user wants by email: on for `email_kinds`, off for the other kinds
    of their role. Safety kinds are always on and are never stored off, whatever is posted.
    Audited; returns the kinds whose choice changed."""
    wanted = {str(kind) for kind in email_kinds}
    current = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "email"))
    changed: list[str] = []
    for kind in notification_kinds_for(user):
        if kind in EMAIL_ALWAYS_KINDS:
            continue
        email = kind.value in wanted
        before = current.get(kind.value, kind not in EMAIL_OFF_BY_DEFAULT_KINDS)
        if current.get(kind.value) != email:
            NotificationPreference.objects.update_or_create(
                user=user, kind=kind.value, defaults={"email": email}
            )
        if email != before:
            changed.append(kind.value)
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=user,
        request=request,
        target=user,
        details={
            "notification_email": sorted(
                kind.value
                for kind in notification_kinds_for(user)
                if kind in EMAIL_ALWAYS_KINDS or kind.value in wanted
            ),
            "changed": changed,
        },
    )
    return changed


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


# --- managing users from the CMS --------------------------------------------------------------


class UserActionError(Exception):
    """An admin's action on a user that the rules refuse; `message` is fit to show the admin."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _require_user_admin(by: User) -> None:
    from django.core.exceptions import PermissionDenied

    if not (getattr(by, "is_authenticated", False) and by.is_active and by.role == Role.ADMIN):
        raise PermissionDenied


def _lock_user_row(user: User) -> User:
    from core.models import User as UserModel

    return UserModel.objects.select_for_update().get(pk=user.pk)


def _doctor_profile(user: User):
    """The user's doctor profile when they are a doctor (applicants keep their own role)."""
    if user.role != Role.DOCTOR:
        return None
    from clinic.models import Doctor

    return Doctor.objects.select_related("user").filter(user=user).first()


def user_sessions_end(*, user_id: int) -> None:
    """Sign a user out everywhere: end every login session and close their live sockets.

    An inactive login is refused on its next request anyway; this also stops pages that are
    open already from receiving anything more."""
    from allauth.usersessions.models import UserSession

    for session in UserSession.objects.filter(user_id=user_id):
        session_sockets_close(session_key=session.session_key)
        session.end()


@transaction.atomic
def user_deactivate(
    *, user: User, by: User, reason: str, request: HttpRequest | None = None
) -> User:
    """An admin switches a login off: it can no longer sign in and is signed out everywhere.

    Nothing is deleted: records, appointments and the audit trail stay. A doctor goes through
    `doctor_deactivate`, which also takes them out of the directory. An admin cannot
    deactivate themselves (they would lock themselves out)."""
    from django.utils.translation import gettext as _

    _require_user_admin(by)
    reason = (reason or "").strip()
    if not reason:
        raise UserActionError(_("Give a reason for the deactivation."))
    if user.pk == by.pk:
        raise UserActionError(_("You cannot deactivate your own account."))
    doctor = _doctor_profile(user)
    if doctor is not None:
        from clinic.services.doctors import DoctorApplicationError, doctor_deactivate

        try:
            doctor_deactivate(doctor=doctor, by=by, reason=reason, request=request)
        except DoctorApplicationError as error:
            raise UserActionError(error.message) from error
        user.is_active = False
        return user
    locked = _lock_user_row(user)
    if not locked.is_active:
        raise UserActionError(_("This account is already deactivated."))
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=locked,
        reason=reason,
        details={"user_active": False},
    )
    user_id = locked.pk
    transaction.on_commit(lambda: user_sessions_end(user_id=user_id))
    user.is_active = False
    return user


@transaction.atomic
def user_reactivate(
    *, user: User, by: User, reason: str = "", request: HttpRequest | None = None
) -> User:
    """An admin lets a deactivated login sign in again (a doctor through `doctor_reactivate`,
    listed again if still verified). Audited."""
    from django.utils.translation import gettext as _

    _require_user_admin(by)
    doctor = _doctor_profile(user)
    if doctor is not None:
        from clinic.services.doctors import DoctorApplicationError, doctor_reactivate

        try:
            doctor_reactivate(doctor=doctor, by=by, reason=reason, request=request)
        except DoctorApplicationError as error:
            raise UserActionError(error.message) from error
        user.is_active = True
        return user
    locked = _lock_user_row(user)
    if locked.is_active:
        raise UserActionError(_("This account is already active."))
    locked.is_active = True
    locked.save(update_fields=["is_active"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=locked,
        reason=(reason or "").strip(),
        details={"user_active": True},
    )
    user.is_active = True
    return user


@transaction.atomic
def user_mfa_reset(*, user: User, by: User, reason: str, request: HttpRequest | None = None) -> int:
    """An admin removes a user's two-factor methods (authenticator app, recovery codes, security
    keys), for a lost phone say: staff are asked to set it up again at their next request,
    patients may. The user is told. Returns how many methods were removed.

    Not for one's own account: that goes through the account's two-factor page, which asks
    for the current code first."""
    from allauth.mfa.models import Authenticator
    from django.utils.translation import gettext as _

    _require_user_admin(by)
    reason = (reason or "").strip()
    if not reason:
        raise UserActionError(_("Give a reason for resetting two-factor authentication."))
    if user.pk == by.pk:
        raise UserActionError(
            _("Manage your own two-factor authentication from your account's security page.")
        )
    _lock_user_row(user)
    authenticators = Authenticator.objects.filter(user=user)
    kinds = sorted(set(authenticators.values_list("type", flat=True)))
    if not kinds:
        raise UserActionError(_("This account has no two-factor authentication to reset."))
    removed, _by_model = authenticators.delete()
    audit_record(
        action=AuditEvent.Action.MFA_REMOVED,
        actor=by,
        request=request,
        target=user,
        reason=reason,
        details={"reset_by_admin": True, "removed": kinds},
    )
    notification_create(
        recipient=user,
        title=_("Your two-factor authentication was reset"),
        body=_(
            "An administrator removed your two-factor methods. Set up your authenticator app "
            "again when you next sign in. If you did not ask for this, contact the hospital."
        ),
        link=reverse("mfa_index"),
        kind=NotificationKind.ACCOUNT,
    )
    return removed


# Roles an admin may give from the CMS: a doctor's role comes only with verification.
ROLES_ASSIGNABLE_IN_CMS = (Role.PATIENT, Role.EDITOR, Role.ADMIN)


@transaction.atomic
def user_role_change(
    *, user: User, by: User, role: Role | str, request: HttpRequest | None = None
) -> User:
    """An admin changes a user's role (patient, editor or admin) through `user_set_role`.

    Refused: making someone a doctor (doctors come through the verification of their
    application), changing the role of a doctor or an applicant (their profile, articles and
    appointments hang on it: deactivate instead), and changing one's own role (the last admin
    could lock everyone out). A new staff role asks for two-factor set-up at the next request."""
    from django.utils.translation import gettext as _

    _require_user_admin(by)
    try:
        role = Role(role)
    except ValueError:
        raise UserActionError(_("Choose a role.")) from None
    if role not in ROLES_ASSIGNABLE_IN_CMS:
        raise UserActionError(
            _("Doctors join through a verified application, not by a change of role.")
        )
    if user.pk == by.pk:
        raise UserActionError(_("You cannot change your own role."))
    locked = _lock_user_row(user)
    from clinic.models import Doctor

    if locked.role == Role.DOCTOR or Doctor.objects.filter(user=locked).exists():
        raise UserActionError(
            _(
                "This user is a doctor or has applied as one; their role follows the "
                "application. Deactivate the account instead."
            )
        )
    if locked.role == role:
        raise UserActionError(_("This user already has that role."))
    user_set_role(user=locked, role=role, actor=by, request=request)
    user.role = role
    return user
