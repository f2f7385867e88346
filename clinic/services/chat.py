"""Consultation chat: sending messages, read receipts and ending the chat.

Messages belong to the patient's record: stored first (atomic, audited), never edited or
purged, then pushed to the room's sockets on commit as HTML fragments for htmx's ws extension.
Every fragment is rendered from the chat page's template partials, so message text is
auto-escaped wherever it shows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from clinic.models import Appointment, ChatMessage, ChatReadMark
from clinic.permissions import (
    CHAT_STATUSES,
    chat_is_open,
    chat_participant,
    chat_participant_users,
    chat_window,
)
from clinic.selectors import (
    ChatLine,
    chat_display_name,
    chat_receipt_targets,
    chat_seen_key,
    chat_short_name,
)
from core.models import AuditEvent, Notification, NotificationKind, User
from core.services import audit_record, notification_create

TEMPLATE = "clinic/chat.html"
RATE_WINDOW = timedelta(seconds=60)


class ChatError(Exception):
    """A message the rules refuse; `code` says why (the socket closes the room on CLOSED)."""

    CLOSED = "closed"
    TOO_LONG = "too_long"
    RATE_LIMITED = "rate_limited"

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


def chat_group_name(appointment: Appointment) -> str:
    """The channel-layer group of one appointment's chat sockets."""
    return f"chat.{appointment.public_id.hex}"


def chat_state(appointment: Appointment, now: datetime | None = None) -> dict:
    """What the state line and the compose area need: open or not, and when it opens/ends."""
    now = now or timezone.now()
    opens_at, closes_at = chat_window(appointment)
    is_open = chat_is_open(appointment, now)
    not_yet_open = not is_open and now < opens_at and appointment.chat_closed_at is None
    return {
        "is_open": is_open,
        "opens_at": opens_at,
        "closes_at": closes_at,
        "not_yet_open": not_yet_open,
        # The page reloads itself when the room opens (chat.js), if that is soon.
        "opens_in_seconds": int((opens_at - now).total_seconds()) + 1 if not_yet_open else None,
        "called_off": appointment.status not in CHAT_STATUSES,
    }


@transaction.atomic
def chat_message_send(
    *,
    appointment: Appointment,
    sender: User,
    body: str,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> ChatMessage | None:
    """Store one message from a participant and push it to the room on commit.

    Blank text is ignored (None). Refused with ChatError: longer than CHAT_MESSAGE_MAX_LENGTH,
    the room not open (before its window, after it, ended by the doctor, visit called off),
    or more than CHAT_MESSAGES_PER_MINUTE from this sender in this room in the last 60 s.
    Nothing is stored when refused. Audited as CREATE with the patient."""
    # Browsers send a textarea's line breaks as CRLF; count and store them as one character.
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        return None
    if len(body) > settings.CHAT_MESSAGE_MAX_LENGTH:
        raise ChatError(
            _("Keep messages under %(count)d characters.")
            % {"count": settings.CHAT_MESSAGE_MAX_LENGTH},
            ChatError.TOO_LONG,
        )
    participant = chat_participant(sender, appointment)
    if participant is None:
        raise PermissionDenied
    now = now or timezone.now()
    # Lock the appointment so the doctor ending the chat and the rate count are seen exactly.
    locked = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if not chat_is_open(locked, now):
        raise ChatError(_("This chat is closed."), ChatError.CLOSED)
    recent = ChatMessage.objects.filter(
        appointment=locked, sender=sender, created_at__gt=now - RATE_WINDOW
    ).count()
    if recent >= settings.CHAT_MESSAGES_PER_MINUTE:
        raise ChatError(
            _("You are sending messages too fast. Wait a moment and try again."),
            ChatError.RATE_LIMITED,
        )
    message = ChatMessage.objects.create(
        appointment=locked,
        patient_id=locked.patient_id,
        sender=sender,
        body=body,
        created_at=now,
    )
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=sender,
        request=request,
        target=message,
        patient=appointment.patient,
        acting_for_patient=participant.acting_for_patient,
        details={"chat": str(appointment.public_id)},
    )
    _notify_others(appointment, sender)
    transaction.on_commit(lambda: _message_push(appointment, message))
    return message


def _notify_others(appointment: Appointment, sender: User) -> None:
    """A notification to the other participants, one at a time: nobody gets another for this
    chat while one is still unread. It names the sender, never the text (it may go by email)."""
    link = reverse("appointment_chat", args=[appointment.public_id])
    others = [user for user in chat_participant_users(appointment) if user.pk != sender.pk]
    waiting = set(
        Notification.objects.filter(
            recipient__in=others, kind=NotificationKind.CHAT, link=link, read_at__isnull=True
        ).values_list("recipient_id", flat=True)
    )
    sender_name = chat_display_name(sender, appointment)
    for user in others:
        if user.pk in waiting:
            continue
        notification_create(
            recipient=user,
            title=_("New message from %(sender)s") % {"sender": sender_name},
            body=_("In the chat of the online consultation on %(when)s.")
            % {"when": date_format(timezone.localtime(appointment.start_at), "j F, H:i")},
            link=link,
            kind=NotificationKind.CHAT,
        )


def _group_send(appointment: Appointment, event: dict) -> None:
    async_to_sync(get_channel_layer().group_send)(chat_group_name(appointment), event)


def message_fragment(appointment: Appointment, line: ChatLine, *, viewer_id: int | None) -> str:
    """A new message appended to the transcript, as `viewer_id` sees it (their own as "You",
    which also clears their error line)."""
    return render_to_string(
        f"{TEMPLATE}#new_message",
        {"appointment": appointment, "line": line, "viewer_id": viewer_id},
    )


def _message_push(appointment: Appointment, message: ChatMessage) -> None:
    line = ChatLine(message=message, sender_name=chat_display_name(message.sender, appointment))
    _group_send(
        appointment,
        {
            "type": "chat.message",
            "sender_id": message.sender_id,
            "message_pk": message.pk,
            "message_id": str(message.public_id),
            "html_mine": message_fragment(appointment, line, viewer_id=message.sender_id),
            "html_theirs": message_fragment(appointment, line, viewer_id=None),
        },
    )


def chat_mark_read(
    *,
    appointment: Appointment,
    user: User,
    message_public_id: UUID | str,
    now: datetime | None = None,
) -> bool:
    """Move the user's read mark forward to that message of this chat (never back). Returns
    whether it moved; when it did, the room learns who has seen what (on commit)."""
    if chat_participant(user, appointment) is None:
        raise PermissionDenied
    try:
        public_id = UUID(str(message_public_id))
    except ValueError:
        return False
    message = ChatMessage.objects.filter(appointment=appointment, public_id=public_id).first()
    if message is None:
        return False
    now = now or timezone.now()
    created = False
    with transaction.atomic():
        moved = ChatReadMark.objects.filter(
            appointment=appointment, user=user, last_read_id__lt=message.pk
        ).update(last_read=message, read_at=now)
        if not moved:
            if ChatReadMark.objects.filter(appointment=appointment, user=user).exists():
                return False
            try:
                with transaction.atomic():
                    ChatReadMark.objects.create(
                        appointment=appointment, user=user, last_read=message, read_at=now
                    )
                created = True
            except IntegrityError:
                # Another socket of the same user created it first: move it if it is behind.
                moved = ChatReadMark.objects.filter(
                    appointment=appointment, user=user, last_read_id__lt=message.pk
                ).update(last_read=message, read_at=now)
                if not moved:
                    return False
        transaction.on_commit(lambda: _receipt_push(appointment, user, first=created))
    return True


def receipt_fragment(
    appointment: Appointment, reader: User, target: ChatMessage, *, first: bool = False
) -> str:
    """Moves the reader's "Seen by …" line under the latest message they have seen. On their
    first read there is no earlier line to remove (htmx would log a missing target)."""
    return render_to_string(
        f"{TEMPLATE}#receipt_moved",
        {
            "first": first,
            "target": target,
            "key": chat_seen_key(appointment, reader.pk),
            "name": chat_short_name(reader, appointment),
        },
    )


def _receipt_push(appointment: Appointment, reader: User, *, first: bool) -> None:
    for mark, target_id in chat_receipt_targets(appointment):
        if mark.user_id != reader.pk or target_id is None:
            continue
        target = ChatMessage.objects.only("public_id").get(pk=target_id)
        _group_send(
            appointment,
            {
                "type": "chat.read",
                "reader_id": reader.pk,
                "html": receipt_fragment(appointment, reader, target, first=first),
            },
        )


@transaction.atomic
def chat_close(
    *,
    appointment: Appointment,
    by: User,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Appointment:
    """The doctor ends the chat: nobody sends any more, every open socket of the room gets the
    "chat ended" state and closes (4410). Ending it again changes nothing. Audited."""
    participant = chat_participant(by, appointment)
    if participant is None or not participant.is_doctor:
        raise PermissionDenied
    locked = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if locked.chat_closed_at is None:
        locked.chat_closed_at = now or timezone.now()
        locked.chat_closed_by = by
        locked.save(update_fields=["chat_closed_at", "chat_closed_by"])
        audit_record(
            action=AuditEvent.Action.UPDATE,
            actor=by,
            request=request,
            target=locked,
            patient=appointment.patient,
            details={"chat": "ended"},
        )
        transaction.on_commit(lambda: chat_room_closed_push(locked))
    appointment.chat_closed_at, appointment.chat_closed_by = locked.chat_closed_at, by
    return appointment


def closed_fragment(appointment: Appointment) -> str:
    """The state line and compose area of a chat that has ended (no form any more)."""
    return render_to_string(
        f"{TEMPLATE}#room_closed", {"appointment": appointment, **chat_state(appointment)}
    )


def chat_room_closed_push(appointment: Appointment) -> None:
    """Tell every socket of the room that the chat has ended, and close them (4410): after
    the doctor ends it, or when a message arrives after the window's end."""
    _group_send(appointment, {"type": "chat.closed", "html": closed_fragment(appointment)})
