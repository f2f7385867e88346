from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def site(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    context = {
        "hospital_name": settings.HOSPITAL_NAME,
        "emergency_number": settings.EMERGENCY_NUMBER,
    }
    if user is not None and user.is_authenticated:
        # Lazy: only pages that show the navigation pay for the count.
        context["unread_notifications"] = SimpleLazyObject(
            lambda: user.notifications.unread().count()
        )
    return context
