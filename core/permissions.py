"""Access helpers. Views never hand-roll access checks; they call these."""

from collections.abc import Callable
from functools import wraps
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from core.models import Notification, Role


def role_required(*roles: Role) -> Callable:
    """The view is for users of these roles; any other signed-in user gets 403."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            if request.user.role not in roles:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def get_notification_for_user(request: HttpRequest, public_id: UUID) -> Notification:
    """The signed-in user's own notification, or 404: nobody learns of anyone else's."""
    try:
        return Notification.objects.get(public_id=public_id, recipient=request.user)
    except Notification.DoesNotExist:
        raise Http404 from None
