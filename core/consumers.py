from channels.generic.websocket import AsyncWebsocketConsumer

from core.services import notification_group_name, session_group_name

# Close codes in the 4000-4999 range are ours to define.
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_ROOM_CLOSED = 4410


class NotificationConsumer(AsyncWebsocketConsumer):
    """Streams the signed-in user's own notifications as HTML fragments for htmx's ws extension.

    Anonymous sockets are closed with 4401; a user only ever joins the group of their own id,
    so nobody receives another person's notifications. Signing out (or a session timeout)
    closes the sockets of that session with 4401 too. When notifications are read anywhere
    (another tab, another device, a followed link) every open page gets the new unread count.
    """

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        self.groups_joined = [notification_group_name(user.pk)]
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if session_key:
            self.groups_joined.append(session_group_name(session_key))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        # The page says whether it shows the notification list (?regions=list).
        self.page_has_list = b"regions=list" in self.scope.get("query_string", b"")
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        # The socket is one-way: the server pushes, the client never writes.
        return

    async def notification_push(self, event: dict) -> None:
        await self.send(text_data=event["html_with_list"] if self.page_has_list else event["html"])

    async def notification_unread(self, event: dict) -> None:
        # Notifications were read somewhere (another tab, a link in an email): the new count.
        await self.send(text_data=event["html"])

    async def session_ended(self, event: dict) -> None:
        await self.close(code=CLOSE_NOT_AUTHENTICATED)
