from channels.generic.websocket import AsyncWebsocketConsumer


class SOSStaffConsumer(AsyncWebsocketConsumer):
    """Placeholder: SOS is being built."""

    async def connect(self) -> None:
        await self.close(code=4403)


class SOSStatusConsumer(AsyncWebsocketConsumer):
    """Placeholder: SOS is being built."""

    async def connect(self) -> None:
        await self.close(code=4403)
