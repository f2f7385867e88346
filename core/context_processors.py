from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from core.session_policy import idle_limit_for


def site(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    context = {
        "hospital_name": settings.HOSPITAL_NAME,
        "emergency_number": settings.EMERGENCY_NUMBER,
    }
    if user is not None and user.is_authenticated:
        # Lazy: only pages that show the navigation pay for the count.
        # The page reloads itself when the server-side idle limit passes, so a screen left
        # open on a shared workstation does not keep showing patient data.
        context["session_idle_seconds"] = idle_limit_for(user)
        context["unread_notifications"] = SimpleLazyObject(
            lambda: user.notifications.unread().count()
        )
    return context
