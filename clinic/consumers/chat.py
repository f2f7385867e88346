from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    """Placeholder: the consultation chat is being built."""

    async def connect(self) -> None:
        await self.close(code=4403)
