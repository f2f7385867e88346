"""Idle timeout per role (patients 30 min, staff 15 min) and an absolute 12-hour session life."""

import time
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from core.models import AuditEvent
from core.session_policy import SESSION_LAST_SEEN_KEY, SESSION_STARTED_KEY
from tests.conftest import htmx

LOGIN = "/accounts/login/"
IDLE_MESSAGE = "You were signed out after {minutes} minutes without activity."
ENDED_MESSAGE = "Your session has ended. Please sign in again."


@pytest.fixture
def clock():
    """Frozen time that a test moves forward by hand."""
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def _is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def _assert_sent_to_login(response, next_path: str):
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={next_path}"


def test_force_login_starts_the_session_clock(clock, client_for, amina):
    client = client_for(amina)

    # The user_logged_in receiver runs for force_login too.
    assert client.session[SESSION_STARTED_KEY] == pytest.approx(time.time())


@pytest.mark.django_db
def test_patient_active_29_minutes_ago_is_still_signed_in(clock, client_for, amina):
    client = client_for(amina)
    assert client.get("/patient/").status_code == 200

    clock.shift(timedelta(minutes=29))
    assert client.get("/patient/").status_code == 200
    # Activity restarts the idle clock: another 29 minutes later (58 after login) still in.
    clock.shift(timedelta(minutes=29))
    assert client.get("/patient/").status_code == 200
    assert _is_signed_in(client)


@pytest.mark.django_db
def test_patient_idle_31_minutes_is_signed_out_with_a_message(clock, client_for, amina):
    client = client_for(amina)
    assert client.get("/patient/").status_code == 200

    clock.shift(timedelta(minutes=31))
    response = client.get("/patient/")

    _assert_sent_to_login(response, "/patient/")
    assert not _is_signed_in(client)
    login_page = client.get(response["Location"])
    minutes = settings.SESSION_IDLE_TIMEOUT_PATIENT // 60
    assert minutes == 30
    assert IDLE_MESSAGE.format(minutes=minutes) in login_page.content.decode()
    event = AuditEvent.objects.get(action=AuditEvent.Action.SESSION_TIMEOUT)
    assert event.actor == amina
    assert event.details == {"reason": "idle"}
    # Signed out for good: the next request is plainly anonymous.
    _assert_sent_to_login(client.get("/patient/"), "/patient/")


@pytest.mark.django_db
def test_staff_session_expires_after_16_idle_minutes(clock, client_for, dr_clara):
    client = client_for(dr_clara)
    assert client.get("/doctor/").status_code == 200
    clock.shift(timedelta(minutes=14))
    assert client.get("/doctor/").status_code == 200

    clock.shift(timedelta(minutes=16))
    response = client.get("/doctor/")

    _assert_sent_to_login(response, "/doctor/")
    assert not _is_signed_in(client)
    minutes = settings.SESSION_IDLE_TIMEOUT_STAFF // 60
    assert minutes == 15
    assert IDLE_MESSAGE.format(minutes=minutes) in client.get(LOGIN).content.decode()


@pytest.mark.django_db
def test_a_patient_idle_16_minutes_is_not_held_to_the_staff_limit(clock, client_for, amina):
    client = client_for(amina)
    assert client.get("/patient/").status_code == 200

    clock.shift(timedelta(minutes=16))

    assert client.get("/patient/").status_code == 200


@pytest.mark.django_db
def test_absolute_lifetime_ends_a_session_that_is_always_active(clock, client_for, amina):
    client = client_for(amina)
    step = timedelta(seconds=settings.SESSION_IDLE_TIMEOUT_PATIENT) - timedelta(minutes=5)
    lifetime = timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT)
    assert lifetime == timedelta(hours=12)
    elapsed = timedelta(0)

    # Busy all day, never idle for long...
    while elapsed + step <= lifetime:
        assert client.get("/patient/").status_code == 200, elapsed
        clock.shift(step)
        elapsed += step
    assert client.get("/patient/").status_code == 200, elapsed
    clock.shift(lifetime - elapsed + timedelta(minutes=1))

    # ...and still signed out once 12 hours have passed since login.
    response = client.get("/patient/")

    _assert_sent_to_login(response, "/patient/")
    assert not _is_signed_in(client)
    assert ENDED_MESSAGE in client.get(LOGIN).content.decode()
    event = AuditEvent.objects.get(action=AuditEvent.Action.SESSION_TIMEOUT)
    assert event.details == {"reason": "absolute"}


@pytest.mark.django_db
def test_htmx_request_from_an_expired_session_reloads_to_the_login_page(clock, client_for, amina):
    client = client_for(amina)
    assert client.get("/patient/").status_code == 200
    clock.shift(timedelta(minutes=31))

    response = client.get("/patient/", **htmx("care-overview"))

    assert response.status_code == 200
    assert response["HX-Redirect"] == LOGIN
    assert b"care-overview" not in response.content
    assert not _is_signed_in(client)


@pytest.mark.django_db
def test_background_refresh_does_not_count_as_activity(clock, client_for, ada):
    client = client_for(ada)
    assert client.get("/operations/").status_code == 200
    last_seen = client.session[SESSION_LAST_SEEN_KEY]

    # The operations widget polls by itself every minute while the admin is away.
    for _ in range(14):
        clock.shift(timedelta(minutes=1))
        poll = client.get("/operations/", **htmx("operations", **{"X-Background-Refresh": "1"}))
        assert poll.status_code == 200
        assert b'id="operations"' in poll.content
    assert client.session[SESSION_LAST_SEEN_KEY] == last_seen

    clock.shift(timedelta(minutes=2))
    poll = client.get("/operations/", **htmx("operations", **{"X-Background-Refresh": "1"}))

    assert poll["HX-Redirect"] == LOGIN
    assert not _is_signed_in(client)


@pytest.mark.django_db
def test_a_real_request_does_count_as_activity(clock, client_for, ada):
    client = client_for(ada)
    assert client.get("/operations/").status_code == 200
    clock.shift(timedelta(minutes=14))
    assert client.get("/operations/", **htmx("operations")).status_code == 200

    clock.shift(timedelta(minutes=14))

    assert client.get("/operations/").status_code == 200


@pytest.mark.django_db
def test_idle_limit_applies_even_if_only_background_refreshes_followed_login(
    clock, client_for, amina
):
    client = client_for(amina)

    clock.shift(timedelta(minutes=31))
    poll = client.get("/patient/", **htmx("care-overview", **{"X-Background-Refresh": "1"}))

    assert poll["HX-Redirect"] == LOGIN


@pytest.mark.django_db
def test_expired_session_responses_vary_on_hx_request(clock, client_for, amina):
    client = client_for(amina)
    assert client.get("/patient/").status_code == 200
    clock.shift(timedelta(minutes=31))

    response = client.get("/patient/", **htmx("care-overview"))

    assert "hx-request" in response["Vary"].lower()


@pytest.mark.django_db
def test_sessions_page_last_seen_is_refreshed_at_most_once_a_minute(clock, client, amina):
    from allauth.usersessions.models import UserSession

    from tests.factories import PASSWORD

    signed_in = client.post(LOGIN, {"login": amina.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    client.get("/patient/")
    session = UserSession.objects.get(session_key=client.session.session_key)
    first_seen = session.last_seen_at

    clock.shift(timedelta(seconds=30))
    client.get("/patient/")
    session.refresh_from_db()
    assert session.last_seen_at == first_seen

    clock.shift(timedelta(minutes=5))
    client.get("/patient/")
    session.refresh_from_db()
    assert session.last_seen_at == first_seen + timedelta(minutes=5, seconds=30)

    page = client.get("/accounts/sessions/")
    assert page.status_code == 200
    assert b"Current" in page.content
