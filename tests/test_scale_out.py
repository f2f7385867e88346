"""Scale-out: two Daphne processes sharing PostgreSQL and the Redis channel layer.

Each test talks to two real `daphne hospital.asgi:application` processes (A and B) on their own
ports, started once for the module against the test database and the same REDIS_URL, and shows
that what happens in one process (or in this test process, as in the worker) reaches a socket
held by the other: notifications, a consultation chat message and an SOS alert.

Needs PostgreSQL (DATABASE_URL: three OS processes share the test database; pytest's SQLite test
database is in-memory) and Redis (REDIS_URL: the channel layer between the processes). `.ci/run`
runs it in its PostgreSQL + Redis step.

How the processes see the test's users: sessions are `cached_db`, so a session written here by
`Client.force_login` (committed: the tests are transactional) is read from the database by the
servers, which share SECRET_KEY with this process (the session's auth hash depends on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from clinic.models import ChatMessage, ConsultationMode, SOSRequest
from core.consumers import CLOSE_FORBIDDEN
from core.services import notification_create
from tests.factories import local_datetime, make_appointment, make_doctor

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Long enough for a loaded CI machine; a message that travels at all arrives in milliseconds.
RECEIVE_TIMEOUT = 10
# What "nothing arrives" waits for.
QUIET_TIMEOUT = 1.0
# Longer than channels_redis's blocking read of a socket's messages (5 s).
IDLE_SECONDS = 6


def _skip_reason() -> str | None:
    if not os.environ.get("REDIS_URL"):
        return "needs REDIS_URL: the Redis channel layer is what joins the two Daphne processes"
    if connection.vendor != "postgresql":
        return (
            "needs DATABASE_URL=postgres://...: the Daphne processes share the test database "
            "with this one (pytest's SQLite test database is in-memory)"
        )
    return None


pytestmark = [
    pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
    # Transactional: the servers are other processes and see only committed rows.
    # serialized_rollback restores the migrations' data (pages, specialties) after the flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


# --- the two servers ------------------------------------------------------------------------


@dataclass
class Daphne:
    name: str
    port: int
    process: subprocess.Popen
    logfile: Path

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _database_url() -> str:
    """The test database (not the developer's), as a URL for the servers' settings."""
    db = connection.settings_dict
    user = urllib.parse.quote(db["USER"] or "", safe="")
    password = urllib.parse.quote(db["PASSWORD"] or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}{host}{port}/{urllib.parse.quote(db['NAME'], safe='')}"


def _server_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Nothing that would send real mail, or route sockets elsewhere.
        if key not in {"EMAIL_HOST", "EMAIL_FILE_PATH", "WS_UPSTREAM"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="hospital.settings",
        PYTHONUNBUFFERED="1",
        # Production settings, on plain HTTP on 127.0.0.1 (no TLS-terminating proxy in front).
        DEBUG="false",
        SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS=f"{HOST},localhost",
        DATABASE_URL=_database_url(),
        REDIS_URL=os.environ["REDIS_URL"],
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
        TRUST_X_FORWARDED_PROTO="false",
        STATIC_MANIFEST="false",
        WHITENOISE_USE_FINDERS="true",
        STAFF_MFA_REQUIRED=str(settings.STAFF_MFA_REQUIRED).lower(),
        DB_POOL_MAX="4",
        LOG_LEVEL="WARNING",
    )
    return env


def _start(name: str, workdir: Path) -> Daphne:
    """Daphne on a listening socket bound here and handed over (--fd): no race for a port."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        logfile = workdir / f"daphne-{name}.log"
        command = [sys.executable, "-m", "daphne", "--fd", str(listener.fileno())]
        command += ["--verbosity", "1", "hospital.asgi:application"]
        with logfile.open("ab") as out:
            process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=_server_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=[listener.fileno()],
                start_new_session=True,
            )
    return Daphne(name, port, process, logfile)


def _stop(servers: list[Daphne]) -> None:
    """SIGTERM to every server at once, then SIGKILL to whatever is left after 5 s."""
    running = [s for s in servers if s.process.poll() is None]
    for server in running:
        server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    for server in running:
        try:
            server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=5)


def _wait_healthy(server: Daphne, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"daphne {server.name} exited early:\n{server.log_tail()}")
        with contextlib.suppress(OSError):
            status, _headers, _body = _http(f"{server.base}/healthz")
            if status == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"daphne {server.name} not healthy after {timeout}s:\n{server.log_tail()}")


@pytest.fixture(scope="module")
def servers(django_db_setup, tmp_path_factory) -> Iterator[tuple[Daphne, Daphne]]:
    """Daphne A and B, started once for the module, stopped (and killed if need be) after."""
    workdir = tmp_path_factory.mktemp("daphne")
    started: list[Daphne] = []
    try:
        started.extend(_start(name, workdir) for name in ("A", "B"))
        for server in started:
            _wait_healthy(server)
        yield started[0], started[1]
    finally:
        _stop(started)


@pytest.fixture
def daphne_a(servers) -> Daphne:
    return servers[0]


@pytest.fixture
def daphne_b(servers) -> Daphne:
    return servers[1]


def _logs(*servers: Daphne) -> str:
    return "\n".join(f"--- daphne {s.name} log ---\n{s.log_tail()}" for s in servers)


# --- sessions, HTTP and sockets as a browser uses them -------------------------------------


@pytest.fixture
def session_for(servers) -> Iterator[Callable]:
    """A signed-in session for a user, as the cookies a browser would hold.

    The servers cache the sessions they read in Redis (under the site's cache prefix); those
    entries are deleted afterwards, the rows go with the test database's flush."""
    keys: list[str] = []

    def make(user) -> dict[str, str]:
        client = Client()
        client.force_login(user)
        key = client.cookies[settings.SESSION_COOKIE_NAME].value
        keys.append(key)
        return {settings.SESSION_COOKIE_NAME: key}

    yield make
    import redis
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX

    from hospital import settings as server_settings  # the prefix before the test's override

    prefix = server_settings.CACHES["default"].get("KEY_PREFIX", "")
    redis_client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        for key in keys:
            cached = list(redis_client.scan_iter(match=f"{prefix}:*:{KEY_PREFIX}{key}"))
            if cached:
                redis_client.delete(*cached)
    finally:
        redis_client.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# No proxies from the environment: the servers are on this machine.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def _http(url: str, *, cookies: dict[str, str] | None = None, data: dict | None = None):
    headers = {}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = None
    if data is not None:
        body = urllib.parse.urlencode(data).encode()
        origin = "/".join(url.split("/", 3)[:3])
        headers |= {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin,
            "Referer": url,
        }
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with _OPENER.open(request, timeout=15) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode(errors="replace")


def _take_cookies(headers, cookies: dict[str, str]) -> None:
    for value in headers.get_all("Set-Cookie") or []:
        jar = SimpleCookie()
        jar.load(value)
        cookies.update({name: morsel.value for name, morsel in jar.items()})


def post_form(server: Daphne, page: str, action: str, cookies: dict[str, str], fields: dict):
    """GET `page` (its CSRF cookie and token), then POST the form to `action`, as a browser."""
    status, headers, body = _http(server.base + page, cookies=cookies)
    assert status == 200, f"GET {page} on {server.name}: {status}\n{body[:2000]}"
    _take_cookies(headers, cookies)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    assert token, f"no CSRF token on {page}"
    status, headers, body = _http(
        server.base + action,
        cookies=cookies,
        data={"csrfmiddlewaretoken": token.group(1), **fields},
    )
    _take_cookies(headers, cookies)
    return status, headers, body


@pytest.fixture
def open_socket(servers) -> Iterator[Callable]:
    """Opens a WebSocket on a server with a browser's same-origin header and session cookie;
    every socket is closed after the test."""
    from websockets.sync.client import connect

    with contextlib.ExitStack() as sockets:

        def make(server: Daphne, path: str, cookies: dict[str, str] | None = None):
            headers = {}
            if cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            ws = sockets.enter_context(
                connect(
                    server.ws_base + path,
                    origin=server.base,
                    additional_headers=headers,
                    proxy=None,
                    open_timeout=RECEIVE_TIMEOUT,
                    close_timeout=2,
                )
            )
            ws.server_name = server.name
            return ws

        yield make


def receive_until(ws, predicate: Callable[[str], bool], servers, timeout=RECEIVE_TIMEOUT) -> str:
    """The first message on `ws` that satisfies `predicate`; fails with the servers' logs."""
    from websockets.exceptions import ConnectionClosed

    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            message = ws.recv(timeout=remaining)
        except TimeoutError:
            break
        except ConnectionClosed as closed:
            pytest.fail(
                f"socket on daphne {ws.server_name} closed ({closed}) before the message; "
                f"received {seen}\n{_logs(*servers)}"
            )
        if isinstance(message, bytes):
            message = message.decode()
        if predicate(message):
            return message
        seen.append(message)
    pytest.fail(
        f"nothing matching on daphne {ws.server_name} within {timeout}s; received {seen}\n"
        f"{_logs(*servers)}"
    )


def receives_nothing(ws, predicate: Callable[[str], bool], timeout=QUIET_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            message = ws.recv(timeout=remaining)
        except TimeoutError:
            return True
        if predicate(message if isinstance(message, str) else message.decode()):
            return False
    return True


# --- notifications ------------------------------------------------------------------------


def test_both_servers_answer_from_the_shared_database(servers):
    for server in servers:
        status, _headers, body = _http(f"{server.base}/healthz")
        assert (status, body) == (200, "ok\n")


def test_a_notification_made_in_another_process_reaches_her_sockets_on_both_servers(
    servers, daphne_a, daphne_b, session_for, open_socket, amina, ben
):
    """This process plays the worker: the notification travels through Redis to A and B."""
    amina_cookies, ben_cookies = session_for(amina), session_for(ben)
    amina_on_a = open_socket(daphne_a, "/ws/notifications/", amina_cookies)
    amina_on_b = open_socket(daphne_b, "/ws/notifications/", amina_cookies)
    ben_on_b = open_socket(daphne_b, "/ws/notifications/", ben_cookies)

    notification_create(recipient=amina, title="Your lab results are ready")

    def is_hers(message: str) -> bool:
        return "Your lab results are ready" in message

    assert receive_until(amina_on_b, is_hers, servers)
    assert receive_until(amina_on_a, is_hers, servers)
    assert receives_nothing(ben_on_b, is_hers)


def test_a_socket_idle_longer_than_the_layers_blocking_read_still_receives(
    servers, daphne_b, session_for, open_socket, amina
):
    """channels_redis waits for a socket's messages with BZPOPMIN, 5 s at a time; a Redis
    client timeout at or under that (redis-py 8's default) crashed every idle socket."""
    amina_on_b = open_socket(daphne_b, "/ws/notifications/", session_for(amina))
    time.sleep(IDLE_SECONDS)

    notification_create(recipient=amina, title="Still here after a quiet spell")

    assert receive_until(amina_on_b, lambda m: "Still here after a quiet spell" in m, servers)


def test_the_channel_layer_takes_hundreds_of_sockets_joining_and_leaving_at_once():
    """After a deploy every open page reconnects at once; each socket joins its groups.
    redis-py 8's pool of 100 connections refused the 101st concurrent command."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    group = f"scale-out-burst-{os.getpid()}"

    async def burst() -> None:
        channels = [await layer.new_channel() for _ in range(300)]
        await asyncio.gather(*(layer.group_add(group, channel) for channel in channels))
        await asyncio.gather(*(layer.group_discard(group, channel) for channel in channels))

    async_to_sync(burst)()


def test_a_cancellation_on_one_server_reaches_the_doctors_socket_on_the_other(
    servers, daphne_a, daphne_b, session_for, open_socket, amina, dr_clara
):
    appointment = make_appointment(make_doctor(dr_clara), amina.patient, local_datetime(3, 10))
    clara_on_b = open_socket(daphne_b, "/ws/notifications/", session_for(dr_clara))
    detail = f"/appointments/{appointment.public_id}/"

    status, headers, body = post_form(
        daphne_a,
        detail,
        f"{detail}cancel/",
        session_for(amina),
        {"reason": "I am feeling better"},
    )

    assert status == 302, f"{status}\n{body[:2000]}"
    assert headers["Location"] == detail
    when = f"{appointment.start_at.astimezone(local_datetime(0, 0).tzinfo):%d %b %H:%M}"
    assert receive_until(clara_on_b, lambda m: f"Appointment cancelled: {when}" in m, servers)


def test_an_anonymous_socket_is_refused_on_either_server(servers, open_socket):
    from websockets.exceptions import InvalidStatus

    for server in servers:
        with pytest.raises(InvalidStatus) as refused:
            open_socket(server, "/ws/notifications/")
        assert refused.value.response.status_code == 403


def test_a_socket_from_a_foreign_origin_is_refused(servers, daphne_b, session_for, amina):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    cookie = "; ".join(f"{k}={v}" for k, v in session_for(amina).items())
    with pytest.raises(InvalidStatus) as refused:
        connect(
            f"{daphne_b.ws_base}/ws/notifications/",
            origin="http://evil.example",
            additional_headers={"Cookie": cookie},
            proxy=None,
            open_timeout=RECEIVE_TIMEOUT,
        )
    assert refused.value.response.status_code == 403


# --- consultation chat ----------------------------------------------------------------------


@pytest.fixture
def online_visit(amina, dr_clara):
    """Amina's online consultation with Dr Clara, started 5 minutes ago: the chat is open."""
    return make_appointment(
        make_doctor(dr_clara),
        amina.patient,
        timezone.now() - timedelta(minutes=5),
        mode=ConsultationMode.ONLINE,
    )


def test_a_chat_message_sent_through_one_server_reaches_the_other_participant_on_the_other(
    servers, daphne_a, daphne_b, session_for, open_socket, amina, dr_clara, online_visit
):
    path = f"/ws/chat/{online_visit.public_id}/"
    amina_on_a = open_socket(daphne_a, path, session_for(amina))
    clara_on_b = open_socket(daphne_b, path, session_for(dr_clara))
    # Each socket first gets the transcript so far (empty): the room is joined on both.
    for ws in (amina_on_a, clara_on_b):
        assert receive_until(ws, lambda m: 'id="chat-transcript"' in m, servers)

    amina_on_a.send(json.dumps({"body": "Hello doctor <b>it hurts</b> & more"}))

    message = receive_until(clara_on_b, lambda m: "chat-message-" in m, servers)
    stored = ChatMessage.objects.get(appointment=online_visit)
    assert f'id="chat-message-{stored.public_id}"' in message
    assert "Hello doctor &lt;b&gt;it hurts&lt;/b&gt; &amp; more" in message
    assert "<b>it hurts</b>" not in message
    # The sender's own socket on A has it too, as hers.
    mine = receive_until(amina_on_a, lambda m: f"chat-message-{stored.public_id}" in m, servers)
    assert "chat-message-mine" in mine


def test_an_outsider_cannot_join_the_chat_on_either_server(
    servers, session_for, open_socket, ben, online_visit
):
    from websockets.exceptions import ConnectionClosed

    ben_cookies = session_for(ben)
    for server in servers:
        ws = open_socket(server, f"/ws/chat/{online_visit.public_id}/", ben_cookies)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=RECEIVE_TIMEOUT)
        assert closed.value.rcvd.code == CLOSE_FORBIDDEN


# --- SOS ------------------------------------------------------------------------------------


def _on_duty(user):
    doctor = make_doctor(user)
    doctor.on_duty_since = timezone.now()
    doctor.save(update_fields=["on_duty_since"])
    return doctor


def test_an_sos_raised_through_one_server_reaches_staff_on_both(
    servers, daphne_a, daphne_b, session_for, open_socket, amina, dr_clara, ada
):
    _on_duty(dr_clara)
    clara_on_b = open_socket(daphne_b, "/ws/sos/staff/", session_for(dr_clara))
    ada_on_a = open_socket(daphne_a, "/ws/sos/staff/", session_for(ada))

    status, headers, body = post_form(
        daphne_a,
        "/sos/",
        "/sos/",
        session_for(amina),
        {
            "patient": str(amina.patient.public_id),
            "description": "Severe hypo, shaking",
            "place": "Platform 2, Hauptbahnhof",
        },
    )

    assert status == 302, f"{status}\n{body[:2000]}"
    sos = SOSRequest.objects.get(patient=amina.patient)
    assert headers["Location"] == f"/sos/{sos.public_id}/"
    for ws in (clara_on_b, ada_on_a):
        alert = receive_until(ws, lambda m: f'id="sos-{sos.public_id}"' in m, servers)
        assert "Amina Okafor" in alert


def test_the_staff_socket_refuses_patients_and_doctors_off_duty_on_either_server(
    servers, session_for, open_socket, ben, dr_omar
):
    from websockets.exceptions import InvalidStatus

    make_doctor(dr_omar)  # verified, not on duty
    for user in (ben, dr_omar):
        cookies = session_for(user)
        for server in servers:
            with pytest.raises(InvalidStatus) as refused:
                open_socket(server, "/ws/sos/staff/", cookies)
            assert refused.value.response.status_code == 403
