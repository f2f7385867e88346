"""django-q2 tasks. Each takes ids (or nothing), is idempotent, and may run late or twice."""

from importlib import import_module

from django.conf import settings


def sessions_clear_expired() -> None:
    """Delete expired sessions from the session store; running it twice changes nothing."""
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore.clear_expired()
