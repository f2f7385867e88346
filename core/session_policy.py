"""Server-side session limits: an idle timeout per role and an absolute lifetime."""

import time

from django.conf import settings

SESSION_STARTED_KEY = "_hospital_session_started"
SESSION_LAST_SEEN_KEY = "_hospital_last_seen"
# Writing the session on every request costs a database write; a minute of slack is harmless
# against a 15-minute idle limit.
LAST_SEEN_WRITE_INTERVAL = 60


def idle_limit_for(user) -> int:
    if user.is_staff_role:
        return settings.SESSION_IDLE_TIMEOUT_STAFF
    return settings.SESSION_IDLE_TIMEOUT_PATIENT


def session_expiry_reason(session, user, now: float | None = None) -> str | None:
    """'idle' or 'absolute' when the session is over, else None."""
    now = time.time() if now is None else now
    last_seen = session.get(SESSION_LAST_SEEN_KEY)
    started = session.get(SESSION_STARTED_KEY)
    if last_seen is not None and now - last_seen > idle_limit_for(user):
        return "idle"
    if started is not None and now - started > settings.SESSION_ABSOLUTE_TIMEOUT:
        return "absolute"
    return None


def session_touch(session, now: float | None = None) -> bool:
    """Record activity; True when the last-seen time was written (at most once a minute)."""
    now = time.time() if now is None else now
    session.setdefault(SESSION_STARTED_KEY, now)
    last_seen = session.get(SESSION_LAST_SEEN_KEY)
    if last_seen is None or now - last_seen >= LAST_SEEN_WRITE_INTERVAL:
        session[SESSION_LAST_SEEN_KEY] = now
        return True
    return False
