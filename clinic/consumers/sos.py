"""Live SOS sockets: the staff board's alerts and one request's status page.

Both are one-way (the server pushes HTML fragments for htmx's ws extension, the browser never
writes) and close with 4401 for anonymous users and 4403 for anyone not allowed, unknown ids
included, so a socket never tells whether a request exists.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from clinic.models import SOSRequest
from clinic.permissions import sos_access
from clinic.services.sos import (
    STAFF_GROUP,
    sos_staff_user_group,
    sos_status_group,
    user_receives_sos_alerts,
)
from core.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_AUTHENTICATED
from core.services import session_group_name


class _OneWayConsumer(AsyncWebsocketConsumer):
    groups_joined: list[str]

    async def _join(self, *groups: str) -> None:
        self.groups_joined = list(groups)
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if session_key:
            # Signing out closes the sockets of that session.
            self.groups_joined.append(session_group_name(session_key))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        return

    async def session_ended(self, event: dict) -> None:
        await self.close(code=CLOSE_NOT_AUTHENTICATED)


class SOSStaffConsumer(_OneWayConsumer):
    """The staff board's alerts: every new SOS and every change, for doctors on duty and
    admins. A doctor off duty is refused (4403), and her open sockets close when she goes off
    duty."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        if not await database_sync_to_async(user_receives_sos_alerts)(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self._join(STAFF_GROUP, sos_staff_user_group(user.pk))

    async def sos_alert(self, event: dict) -> None:
        await self.send(text_data=event["html"])

    async def sos_off_duty(self, event: dict) -> None:
        await self.close(code=CLOSE_FORBIDDEN)


def _may_follow(user, public_id) -> bool:
    sos = SOSRequest.objects.select_related("patient__user").filter(public_id=public_id).first()
    if sos is None:
        return False
    access = sos_access(user, sos)
    return access is not None and (access.patient_side or access.staff)


class SOSStatusConsumer(_OneWayConsumer):
    """One request's status, live, for its status page: the patient's side (the patient and
    delegates with the SOS scope), admins, doctors on duty and the doctor who acknowledged it."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        public_id = self.scope["url_route"]["kwargs"]["public_id"]
        if not await database_sync_to_async(_may_follow)(user, public_id):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self._join(sos_status_group(public_id))

    async def sos_status(self, event: dict) -> None:
        await self.send(text_data=event["html"])
