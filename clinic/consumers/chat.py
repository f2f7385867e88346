import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.template.loader import render_to_string

from clinic.permissions import chat_is_open, chat_room_for
from clinic.selectors import chat_transcript
from clinic.services.chat import (
    TEMPLATE,
    ChatError,
    chat_group_name,
    chat_mark_read,
    chat_message_send,
    closed_fragment,
)
from core.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_AUTHENTICATED, CLOSE_ROOM_CLOSED
from core.models import AuditEvent
from core.services import audit_record, session_group_name


class ChatConsumer(AsyncWebsocketConsumer):
    """The live chat of one online appointment, for its participants while the room is open.

    Protocol: the client sends JSON text frames, `{"body": text}` to send a message (other
    keys, such as htmx's HEADERS, are ignored) and `{"read": message_public_id}` to mark read
    up to that message. The server sends HTML fragments for htmx's ws extension: on connect
    the latest messages replacing the transcript (marked read), then each new message appended
    to `#chat-transcript`, read receipts, and errors for the sender only.

    The socket is accepted first and then closed with a code the browser sees: 4401 not signed
    in, 4403 not a participant (also for unknown or in-person appointments: existence is never
    revealed), 4410 the room is closed (also sent to every socket when the doctor ends the
    chat, or when a message arrives after the window's end). Signing out closes it with 4401.
    """

    async def connect(self) -> None:
        # Accept before closing: a socket refused during the handshake reaches the browser as
        # 1006 with no code, so the page could not tell "sign in again" from "chat ended".
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        room = await database_sync_to_async(chat_room_for)(
            user, self.scope["url_route"]["kwargs"]["public_id"]
        )
        if room is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        self.appointment, self.participant = room
        if not chat_is_open(self.appointment):
            await self.close(code=CLOSE_ROOM_CLOSED)
            return
        self.groups_joined = [chat_group_name(self.appointment)]
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if session_key:
            self.groups_joined.append(session_group_name(session_key))
        # Join before reading the backlog, so a message stored meanwhile is not missed (and
        # one already in the backlog is not sent twice: see chat_message).
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        html, self.backlog_last_pk = await database_sync_to_async(self._backlog)()
        await self.send(text_data=html)

    def _backlog(self) -> tuple[str, int]:
        lines, has_earlier = chat_transcript(self.appointment, viewer=self.user)
        audit_record(
            action=AuditEvent.Action.VIEW,
            actor=self.user,
            target=self.appointment,
            patient=self.appointment.patient,
            acting_for_patient=self.participant.acting_for_patient,
            details={"chat": "transcript", "channel": "websocket"},
        )
        last_pk = 0
        if lines:
            last = lines[-1].message
            last_pk = last.pk
            chat_mark_read(
                appointment=self.appointment, user=self.user, message_public_id=last.public_id
            )
        html = render_to_string(
            f"{TEMPLATE}#backlog",
            {
                "appointment": self.appointment,
                "lines": lines,
                "has_earlier": has_earlier,
                "viewer_id": self.user.pk,
                "oob": True,
            },
        )
        return html, last_pk

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if not text_data or not hasattr(self, "groups_joined"):
            return
        try:
            data = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        try:
            if isinstance(data.get("body"), str):
                await self._send_message(data["body"])
            elif isinstance(data.get("read"), str):
                await database_sync_to_async(chat_mark_read)(
                    appointment=self.appointment, user=self.user, message_public_id=data["read"]
                )
        except PermissionDenied:
            # The user stopped being a participant (a proxy's access was revoked).
            await self.close(code=CLOSE_FORBIDDEN)

    async def _send_message(self, body: str) -> None:
        try:
            await database_sync_to_async(chat_message_send)(
                appointment=self.appointment, sender=self.user, body=body
            )
        except ChatError as refusal:
            if refusal.code == ChatError.CLOSED:
                html = await database_sync_to_async(self._closed_html)()
                await self.channel_layer.group_send(
                    chat_group_name(self.appointment), {"type": "chat.closed", "html": html}
                )
                return
            html = render_to_string(f"{TEMPLATE}#error", {"error": refusal.message, "oob": True})
            await self.send(text_data=html)

    def _closed_html(self) -> str:
        self.appointment.refresh_from_db(fields=["status", "chat_closed_at", "chat_closed_by"])
        return closed_fragment(self.appointment)

    async def chat_message(self, event: dict) -> None:
        if event["message_pk"] <= self.backlog_last_pk:
            return
        mine = event["sender_id"] == self.user.pk
        await self.send(text_data=event["html_mine"] if mine else event["html_theirs"])

    async def chat_read(self, event: dict) -> None:
        # Readers do not need their own receipt; everyone else in the room sees it.
        if event["reader_id"] != self.user.pk:
            await self.send(text_data=event["html"])

    async def chat_closed(self, event: dict) -> None:
        await self.send(text_data=event["html"])
        await self.close(code=CLOSE_ROOM_CLOSED)

    async def session_ended(self, event: dict) -> None:
        await self.close(code=CLOSE_NOT_AUTHENTICATED)
