from django.urls import path

from clinic.consumers.chat import ChatConsumer
from clinic.consumers.sos import SOSStaffConsumer, SOSStatusConsumer
from core.consumers import NotificationConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    path("ws/chat/<uuid:public_id>/", ChatConsumer.as_asgi()),
    path("ws/sos/staff/", SOSStaffConsumer.as_asgi()),
    path("ws/sos/<uuid:public_id>/", SOSStatusConsumer.as_asgi()),
]
