"""The live notification socket at /ws/notifications/, through the real ASGI application."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from core.consumers import CLOSE_NOT_AUTHENTICATED
from core.services import notification_create
from hospital.asgi import application

# Transactional: the socket loads the session in another thread, which must see committed data.
# serialized_rollback restores the migrations' data (pages, specialties) after the flush.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PATH = "/ws/notifications/"
SAME_ORIGIN = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _headers(session_key: str | None, origin: list[tuple[bytes, bytes]] = SAME_ORIGIN):
    headers = list(origin)
    if session_key:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    return headers


async def _connect(session_key: str | None, origin=SAME_ORIGIN):
    communicator = WebsocketCommunicator(application, PATH, headers=_headers(session_key, origin))
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def test_anonymous_connection_is_refused():
    communicator, connected, code = await _connect(None)

    assert not connected
    assert code == CLOSE_NOT_AUTHENTICATED == 4401
    await communicator.disconnect()


async def test_a_made_up_session_cookie_is_refused():
    _communicator, connected, code = await _connect("not-a-real-session-key")

    assert not connected
    assert code == CLOSE_NOT_AUTHENTICATED


async def test_foreign_origin_is_refused_even_for_a_signed_in_user(amina):
    key = await database_sync_to_async(_session_cookie)(amina)
    evil = [(b"origin", b"http://evil.example"), (b"host", b"127.0.0.1:8000")]

    _communicator, connected, _code = await _connect(key, origin=evil)

    assert not connected


async def test_missing_origin_is_refused(amina):
    key = await database_sync_to_async(_session_cookie)(amina)

    _communicator, connected, _code = await _connect(key, origin=[(b"host", b"127.0.0.1:8000")])

    assert not connected


async def test_signed_in_user_receives_her_own_notification_and_not_anyone_elses(amina, ben):
    key = await database_sync_to_async(_session_cookie)(amina)
    communicator, connected, _code = await _connect(key)
    assert connected

    await database_sync_to_async(notification_create)(
        recipient=ben, title="Ben: your prescription is ready"
    )
    assert await communicator.receive_nothing(timeout=0.5)

    notification = await database_sync_to_async(notification_create)(
        recipient=amina, title="Amina: your appointment is confirmed", body="Tuesday 10:30"
    )
    html = await communicator.receive_from(timeout=5)

    assert "Amina: your appointment is confirmed" in html
    assert "Tuesday 10:30" in html
    assert str(notification.public_id) in html
    assert "Ben: your prescription" not in html
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_pushed_notification_text_is_escaped(amina):
    key = await database_sync_to_async(_session_cookie)(amina)
    communicator, connected, _code = await _connect(key)
    assert connected

    await database_sync_to_async(notification_create)(
        recipient=amina,
        title='<script>alert("pwned")</script>',
        body='<img src=x onerror="alert(1)">',
    )
    html = await communicator.receive_from(timeout=5)

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in html
    assert "<img" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    await communicator.disconnect()


async def test_messages_from_the_browser_are_ignored(amina):
    key = await database_sync_to_async(_session_cookie)(amina)
    communicator, connected, _code = await _connect(key)
    assert connected

    await communicator.send_to(text_data='{"type": "notification.push", "html": "<b>x</b>"}')

    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_after_disconnect_nothing_more_is_sent(amina):
    key = await database_sync_to_async(_session_cookie)(amina)
    communicator, connected, _code = await _connect(key)
    assert connected
    await communicator.disconnect()

    # Creating a notification for a user with no open socket must not fail.
    notification = await database_sync_to_async(notification_create)(
        recipient=amina, title="Nobody is listening"
    )

    assert notification.pk is not None


async def test_signing_out_closes_that_sessions_socket_and_no_other(amina):
    browser = await database_sync_to_async(Client)()
    await database_sync_to_async(browser.force_login)(amina)
    key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    other_key = await database_sync_to_async(_session_cookie)(amina)
    signed_out, connected, _code = await _connect(key)
    still_in, other_connected, _code = await _connect(other_key)
    assert connected and other_connected

    response = await database_sync_to_async(browser.post)("/accounts/logout/")
    assert response.status_code == 302

    closed = await signed_out.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": CLOSE_NOT_AUTHENTICATED}
    # Her session on another device keeps its live notifications.
    await database_sync_to_async(notification_create)(recipient=amina, title="Still here")
    assert "Still here" in await still_in.receive_from(timeout=2)
    await still_in.disconnect()


async def test_only_pages_that_show_the_list_get_the_list_item(amina):
    key = await database_sync_to_async(_session_cookie)(amina)
    plain, connected, _code = await _connect(key)
    listing = WebsocketCommunicator(application, f"{PATH}?regions=list", headers=_headers(key))
    assert connected and (await listing.connect(timeout=5))[0]

    await database_sync_to_async(notification_create)(recipient=amina, title="Lab results ready")
    without_list = await plain.receive_from(timeout=5)
    with_list = await listing.receive_from(timeout=5)

    # Every page gets the badge and the toast; only a page with the list gets an item for it
    # (htmx logs an error for an out-of-band target the page does not have).
    for html in (without_list, with_list):
        assert 'id="unread-count"' in html and "Lab results ready" in html
    assert 'id="notification-items"' not in without_list
    assert 'id="notification-items"' in with_list
    await plain.disconnect()
    await listing.disconnect()
