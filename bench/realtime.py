"""Real-time benchmark (`make bench`, after bench/records.py): chat and SOS over WebSockets.

Two set-ups, each on a fresh database built here and thrown away at the end:
- SQLite in a temp dir with the in-memory channel layer: one Daphne process, as `make run`;
- PostgreSQL (the database `bench_realtime`, created and dropped here) with the Redis channel
  layer: two Daphne processes sharing them, as production scales out. Skipped ("n/a") when
  either server does not answer.
A child process per set-up (this script with --child, DEBUG off, production settings
otherwise) migrates, builds the data with bulk_create and the services, signs the users in
(sessions in the database, as `force_login` writes them), starts `daphne hospital.asgi` and
measures with a WebSocket client of its own (the `websockets` package, one asyncio loop). The
parent prints one markdown table and writes it to bench/results/realtime.md.

1. Chat round-trip: 100 online consultations under way, the patient's and the doctor's chat
   sockets of each open on one Daphne (200 sockets). Then --samples times, one at a time, a
   patient sends `{"body": ...}` and the clock runs until the doctor's socket has the message
   fragment: p50 and p95. Also how long the 200 sockets took to connect (each connect loads
   the session, checks access, renders the transcript and writes an audit line).
2. Messages/s across two processes (PostgreSQL + Redis only): the patients' sockets on Daphne
   A, the doctors' on Daphne B; all rooms at once, each sends --per-room messages, the next
   as soon as the doctor's socket has the last (100 senders always waiting). Delivered
   messages per second (first send to last delivery on B) and each message's
   send-to-delivery p50/p95, which under this saturation is mostly waiting in line.
3. SOS: 50 doctors on duty with the staff board's socket (`ws/sos/staff/`) open; --raises
   patients in turn POST /sos/ (the CSRF token fetched beforehand) and the clock runs from the
   POST to the last of the 50 sockets having the alert: median and max over the raises (after
   one raise that warms the server up), with the first socket's median. With PostgreSQL +
   Redis also with the 50 sockets split 25/25 between Daphne A and B (raised on A).

    .venv/bin/python bench/realtime.py [--samples 300] [--per-room 5] [--raises 10] [--keep]

The rate limit on chat messages (CHAT_MESSAGES_PER_MINUTE) is lifted for the bench: the
figures are about the transport, and a real room sends far fewer. Queued tasks (emails, SOS
escalation) go to the ORM queue of the throw-away database and are never run.

PostgreSQL: BENCH_DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/);
only its host, port and credentials are used. Redis: BENCH_REDIS_URL (default
redis://127.0.0.1:6379/15, a database number of its own); this script deletes its `hospital:*`
keys there at the end. DATABASE_URL and REDIS_URL are deliberately ignored: they are the
developer's own, and this script drops what it creates.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import warnings
from pathlib import Path

# Run as a script, this file's directory is on the path: the other benchmarks' helpers
# (processes, HTTP, fresh PostgreSQL databases, bulk data, timing) serve here unchanged.
from run import HOST, cookie_header, fetch, free_port, spawn, stop_all, tail, take_cookies
from scheduling import (
    doctors_bulk,
    log,
    patient_login,
    percentile,
    postgres_admin,
    postgres_url,
    users_bulk,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
PG_DATABASE = "bench_realtime"
REDIS_DEFAULT = "redis://127.0.0.1:6379/15"
NEEDS = "n/a (needs PostgreSQL and Redis)"

ROOMS = 100  # online consultations: 2 sockets each
STAFF = 50  # doctors on duty with the SOS board open
IN_FLIGHT = 1  # messages a room may have sent but not yet seen delivered (throughput)
TIMEOUT = 30  # seconds for anything to arrive before the run counts it lost

CHAT_TOKEN = re.compile(r"bench-(\d+)-end")
SOS_TOKEN = re.compile(r'id="sos-([0-9a-f-]{36})"')


# --- parent: one child per set-up, then the table --------------------------------------------


def child_env(database_url: str, redis_url: str | None, workdir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"REDIS_URL", "Q_BROKER", "EMAIL_HOST", "WS_UPSTREAM", "DATABASE_URL", "Q_SYNC"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="hospital.settings",
        PYTHONUNBUFFERED="1",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=f"{HOST},localhost",
        DATABASE_URL=database_url,
        # Plain HTTP on 127.0.0.1: no TLS-terminating proxy in front of these servers.
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
        TRUST_X_FORWARDED_PROTO="false",
        STATIC_MANIFEST="false",
        WHITENOISE_USE_FINDERS="true",
        CHAT_MESSAGES_PER_MINUTE="1000000",
        Q_BROKER="orm",
        DB_POOL_MAX="8",
        EMAIL_FILE_PATH=str(workdir / "mail"),
        MEDIA_ROOT=str(workdir / "media"),
        LOG_LEVEL="WARNING",
        BENCH_WORKDIR=str(workdir),
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def run_child(name: str, env: dict[str, str], args) -> dict:
    log(f"{name}: fresh database, data, servers, measurements")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        f"--samples={args.samples}",
        f"--per-room={args.per_room}",
        f"--raises={args.raises}",
    ]
    # The child's progress and errors go straight to stderr; its figures come on stdout.
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = child.communicate(timeout=600)
    except BaseException:
        # SIGTERM lets the child stop its Daphne processes (its `finally`), then it goes.
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
        raise
    if child.returncode != 0:
        for logfile in sorted(Path(env["BENCH_WORKDIR"]).glob("daphne-*.log")):
            log(f"{logfile.name}, last lines:\n{tail(logfile)}")
        raise SystemExit(f"bench: the {name} run failed (exit status {child.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def redis_reachable(url: str) -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as error:
        log(f"Redis: {error}")
        return False
    return True


def redis_clean(url: str) -> None:
    """Delete what the run left under the site's prefixes (cached sessions, channel groups)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match="hospital:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


def ms(value: float) -> str:
    return f"{value:,.1f}"


def cells(result: dict | None, missing: str) -> dict[str, str]:
    if result is None:
        return {}
    chat, sos = result["chat"], result["sos"]
    out = {
        "connect": f"{chat['connect_s']:.1f} s ({chat['sockets'] / chat['connect_s']:,.0f}/s)",
        "roundtrip": f"{ms(chat['p50_ms'])} / {ms(chat['p95_ms'])} ms "
        f"({chat['samples']} samples, {chat['lost']} lost)",
        "sos": sos_cell(sos["one"]),
        "sos_split": sos_cell(sos["split"]) if sos.get("split") else missing,
        "throughput": missing,
    }
    if result.get("throughput"):
        t = result["throughput"]
        out["throughput"] = (
            f"{t['per_second']:,.0f} msg/s ({t['delivered']} of {t['sent']} delivered; "
            f"p50 {ms(t['p50_ms'])} / p95 {ms(t['p95_ms'])} ms)"
        )
    return out


def sos_cell(figures: dict) -> str:
    return (
        f"{ms(figures['last_median_ms'])} / {ms(figures['last_max_ms'])} ms "
        f"(first socket {ms(figures['first_median_ms'])} ms; {figures['raises']} raises"
        + (f", {figures['missed']} sockets missed one" if figures["missed"] else "")
        + ")"
    )


ROWS = [
    ("connect", "200 chat sockets connected (session, access check, transcript, audit each)"),
    ("roundtrip", "chat round-trip, 200 sockets on one Daphne: p50 / p95"),
    ("throughput", "chat messages/s, patients on Daphne A → doctors on Daphne B (Redis)"),
    ("sos", "SOS POST → all 50 staff sockets on one Daphne: median / max"),
    ("sos_split", "SOS POST on A → all 50 staff sockets, 25 on A + 25 on B: median / max"),
]


def table(sqlite: dict, postgres: dict | None, missing: str) -> str:
    left, right = cells(sqlite, NEEDS), cells(postgres, missing)
    lines = [
        "| figure | SQLite, in-memory layer, 1 Daphne | PostgreSQL + Redis, 2 Daphnes |",
        "|---|---:|---:|",
    ]
    for key, label in ROWS:
        lines.append(f"| {label} | {left[key]} | {right.get(key, missing)} |")
    return "\n".join(lines)


def parent(args) -> int:
    started_at = time.monotonic()
    load_before = os.getloadavg()[0]
    redis_url = os.environ.get("BENCH_REDIS_URL") or REDIS_DEFAULT
    workdir = Path(tempfile.mkdtemp(prefix="hospital-bench-realtime-"))
    postgres, missing = None, NEEDS
    try:
        sqlite_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        sqlite = run_child("SQLite", child_env(sqlite_url, None, workdir), args)
        if not redis_reachable(redis_url):
            log("Redis unreachable: the PostgreSQL + Redis column is skipped")
        elif postgres_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"):
            try:
                postgres_admin(f"CREATE DATABASE {PG_DATABASE}")
                env = child_env(postgres_url(PG_DATABASE), redis_url, workdir)
                postgres = run_child("PostgreSQL + Redis", env, args)
            except SystemExit as error:  # SQLite's figures are still worth printing
                log(str(error))
                missing = "failed: see the log above"
            finally:
                postgres_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
                redis_clean(redis_url)
        else:
            log("PostgreSQL unreachable: the PostgreSQL + Redis column is skipped")
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    text = "\n".join(
        [
            f"Real-time: {os.cpu_count()} CPUs shared by the Daphne processes, the database, "
            f"Redis and the WebSocket client (load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after); DEBUG=false; each set-up a fresh database",
            f"- chat: {ROOMS} online consultations under way, patient and doctor sockets open; "
            f"round-trip = patient sends, the doctor's socket has the fragment; "
            f"{args.samples} sequential samples; throughput: {args.per_room} messages per room, "
            "all rooms at once, each room's next message sent when its last one arrived",
            f"- SOS: {STAFF} doctors on duty with the staff board socket open; {args.raises} "
            "patients raise one each through POST /sos/; time to the last socket having it",
            "",
            table(sqlite, postgres, missing),
            "",
            f"total time {time.monotonic() - started_at:.0f}s",
        ]
    )
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "realtime.md").write_text(text + "\n")
    lost = [
        r
        for r in (sqlite, postgres)
        if r
        and (
            r["chat"]["lost"]
            or (r.get("throughput") or {}).get("lost")
            or any(s and s["missed"] for s in r["sos"].values())
        )
    ]
    return 1 if lost or missing != NEEDS else 0


# --- child: data and servers for one set-up, then the WebSocket client --------------------------


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    # Static files are served from the finders here, as in the tests; nothing is collected.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    call_command("setup_roles", verbosity=0, stdout=io.StringIO())
    log("  migrated")
    data = build_data()
    log(f"  data: {ROOMS} online consultations, {STAFF} doctors on duty, sessions")
    connection.close()  # the servers write now; this process only reads their sockets

    two = "redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"].lower()
    workdir = Path(os.environ["BENCH_WORKDIR"])
    servers = [start_daphne(name, workdir) for name in (("A", "B") if two else ("A",))]
    try:
        for server in servers:
            wait_healthy(server)
        result = asyncio.run(measure(args, data, servers))
    finally:
        stop_all()
    print(json.dumps(result))


def build_data() -> dict:
    """The rooms (doctor, patient, appointment), the staff on duty and everyone's session."""
    from datetime import timedelta

    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from clinic.models import Appointment, ConsultationMode, Specialty
    from clinic.scheduling import hospital_zone

    specialty = Specialty.objects.get(slug="general-medicine")
    now = timezone.now()
    doctors = doctors_bulk(users_bulk("doctor", "chat-doctor", ROOMS), specialty)
    patients = [patient_login(f"chat-patient-{n}@bench.test").patient for n in range(ROOMS)]
    start = now - timedelta(minutes=5)  # under way: the chat is open
    appointments = Appointment.objects.bulk_create(
        Appointment(
            doctor=doctor,
            patient=patient,
            booked_by=patient.user,
            start_at=start,
            end_at=start + timedelta(minutes=30),
            local_date=start.astimezone(hospital_zone()).date(),
            mode=ConsultationMode.ONLINE,
            status=Appointment.Status.CONFIRMED,
        )
        for doctor, patient in zip(doctors, patients, strict=True)
    )
    staff = doctors_bulk(users_bulk("doctor", "duty-doctor", STAFF), specialty, on_duty_since=now)

    def session(user) -> str:
        client = Client()
        client.force_login(user)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    cookie = settings.SESSION_COOKIE_NAME
    return {
        "rooms": [
            {
                "chat": f"/ws/chat/{appointment.public_id}/",
                "doctor": {cookie: session(doctor.user)},
                "patient": {cookie: session(patient.user)},
                "patient_id": str(patient.public_id),
            }
            for appointment, doctor, patient in zip(appointments, doctors, patients, strict=True)
        ],
        "staff": [{cookie: session(doctor.user)} for doctor in staff],
    }


class Server:
    def __init__(self, name: str, port: int, process, logfile: Path):
        self.name, self.port, self.process, self.logfile = name, port, process, logfile
        self.base = f"http://{HOST}:{port}"
        self.ws_base = f"ws://{HOST}:{port}"


def start_daphne(name: str, workdir: Path) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port), "--verbosity", "0"]
    command.append("hospital.asgi:application")
    logfile = workdir / f"daphne-{name}.log"
    process = spawn(f"daphne {name}", command, dict(os.environ), logfile, stop_timeout=5)
    return Server(name, port, process, logfile)


def wait_healthy(server: Server, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"bench: daphne {server.name} exited early:\n{tail(server.logfile)}")
        with contextlib.suppress(OSError):
            if fetch(f"{server.base}/healthz", {})[0] == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"bench: daphne {server.name} not ready:\n{tail(server.logfile)}")


# --- the WebSocket client -------------------------------------------------------------------


class Listener:
    """One open socket, read all the time: the first arrival of every token it sees."""

    def __init__(self, ws, pattern: re.Pattern):
        self.ws, self.pattern = ws, pattern
        self.arrived: dict[str, float] = {}
        self.waiting: dict[str, asyncio.Future] = {}
        self.first_frame = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):  # closed: the waits time out and say so
            async for frame in self.ws:
                now = time.perf_counter()
                text = frame if isinstance(frame, str) else frame.decode()
                if not self.first_frame.done():
                    self.first_frame.set_result(now)
                for token in self.pattern.findall(text):
                    if token not in self.arrived:
                        self.arrived[token] = now
                        future = self.waiting.pop(token, None)
                        if future and not future.done():
                            future.set_result(now)

    async def arrival(self, token: str, timeout: float = TIMEOUT) -> float | None:
        """When the token arrived (perf_counter), or None when it did not within timeout."""
        if token in self.arrived:
            return self.arrived[token]
        future = self.waiting.setdefault(token, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self.task.cancel()


async def open_listeners(server: Server, sockets: list[tuple[str, dict]], pattern, *, joined):
    """Opens the sockets (20 handshakes at a time) with a browser's Origin and session cookie.
    `joined`: wait for each socket's first frame (the chat's transcript) before counting it."""
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(20)

    async def one(path: str, cookies: dict) -> Listener:
        async with gate:
            ws = await connect(
                server.ws_base + path,
                origin=server.base,
                additional_headers={"Cookie": cookie_header(cookies)},
                proxy=None,
                open_timeout=TIMEOUT,
                ping_interval=None,
                max_queue=None,
            )
            listener = Listener(ws, pattern)
            if joined:
                await asyncio.wait_for(listener.first_frame, TIMEOUT)
            return listener

    return await asyncio.gather(*(one(path, cookies) for path, cookies in sockets))


async def close_all(listeners) -> None:
    await asyncio.gather(*(listener.close() for listener in listeners))


TOKENS = itertools.count(1)


def chat_body() -> tuple[str, str]:
    token = str(next(TOKENS))
    return token, json.dumps({"body": f"How are you feeling today? bench-{token}-end"})


async def measure_roundtrip(args, rooms, server: Server) -> dict:
    sockets = [(r["chat"], r["patient"]) for r in rooms] + [(r["chat"], r["doctor"]) for r in rooms]
    started = time.perf_counter()
    listeners = await open_listeners(server, sockets, CHAT_TOKEN, joined=True)
    connect_s = time.perf_counter() - started
    patients, doctors = listeners[: len(rooms)], listeners[len(rooms) :]
    try:
        samples, lost = [], 0
        for n in range(args.samples + 10):  # the first 10 warm the server up
            room = n % len(rooms)
            token, body = chat_body()
            sent = time.perf_counter()
            await patients[room].ws.send(body)
            arrived = await doctors[room].arrival(token)
            if arrived is None:
                lost += 1
            elif n >= 10:
                samples.append((arrived - sent) * 1000)
    finally:
        await close_all(listeners)
    return {
        "sockets": len(sockets),
        "connect_s": connect_s,
        "samples": len(samples),
        "lost": lost,
        "p50_ms": statistics.median(samples),
        "p95_ms": percentile(samples, 95),
    }


async def measure_throughput(args, rooms, a: Server, b: Server) -> dict:
    senders = await open_listeners(
        a, [(r["chat"], r["patient"]) for r in rooms], CHAT_TOKEN, joined=True
    )
    receivers = await open_listeners(
        b, [(r["chat"], r["doctor"]) for r in rooms], CHAT_TOKEN, joined=True
    )
    sent_at: list[float] = []  # perf_counter of every send
    arrived_at: list[float] = []  # ... of every delivery on B
    latencies_ms: list[float] = []

    async def room(index: int) -> None:
        window = asyncio.Semaphore(IN_FLIGHT)
        pending = []

        async def delivered(token: str, sent: float) -> None:
            try:
                arrived = await receivers[index].arrival(token)
                if arrived is not None:
                    arrived_at.append(arrived)
                    latencies_ms.append((arrived - sent) * 1000)
            finally:
                window.release()

        for _ in range(args.per_room):
            await window.acquire()
            token, body = chat_body()
            sent = time.perf_counter()
            sent_at.append(sent)
            await senders[index].ws.send(body)
            pending.append(asyncio.create_task(delivered(token, sent)))
        await asyncio.gather(*pending)

    try:
        await asyncio.gather(*(room(i) for i in range(len(rooms))))
    finally:
        await close_all(senders + receivers)
    elapsed = max(arrived_at) - min(sent_at) if arrived_at else float("inf")
    return {
        "sent": len(sent_at),
        "delivered": len(arrived_at),
        "lost": len(sent_at) - len(arrived_at),
        "per_second": len(arrived_at) / elapsed,
        "p50_ms": statistics.median(latencies_ms) if latencies_ms else 0.0,
        "p95_ms": percentile(latencies_ms, 95),
    }


def sos_form(server: Server, patient_cookies: dict) -> dict[str, str]:
    """The SOS page's CSRF cookie and token for this patient, fetched before the clock runs."""
    cookies = dict(patient_cookies)
    status, headers, body = fetch(f"{server.base}/sos/", {"Cookie": cookie_header(cookies)})
    take_cookies(headers, cookies)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if status != 200 or not token:
        raise SystemExit(f"bench: GET /sos/ answered {status} without a CSRF token")
    return {"cookies": cookies, "token": token.group(1)}


def sos_post(server: Server, form: dict, patient_id: str, n: int) -> tuple[int, str]:
    data = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": form["token"],
            "patient": patient_id,
            "description": f"Chest pain, short of breath (bench raise {n})",
            "place": "Building 2, floor 3, room 12",
        }
    ).encode()
    status, headers, body = fetch(
        f"{server.base}/sos/",
        {
            "Cookie": cookie_header(form["cookies"]),
            "Origin": server.base,
            "Referer": f"{server.base}/sos/",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        data=data,
    )
    location = headers.get("Location", "") if headers else ""
    match = re.search(r"/sos/([0-9a-f-]{36})/", location)
    if status != 302 or not match:
        raise SystemExit(f"bench: POST /sos/ answered {status} ({location}):\n{body[:1000]}")
    return status, match.group(1)


async def measure_sos(args, data, raise_on: Server, staff_on: list[Server], first: int) -> dict:
    """`first`: the index of the first room whose patient raises (each patient raises once)."""
    staff = data["staff"]
    per_server = [staff[i :: len(staff_on)] for i in range(len(staff_on))]
    listeners = []
    for server, sessions in zip(staff_on, per_server, strict=True):
        listeners += await open_listeners(
            server, [("/ws/sos/staff/", cookies) for cookies in sessions], SOS_TOKEN, joined=False
        )
    lasts, firsts, missed = [], [], 0
    try:
        for n in range(first, first + 1 + args.raises):  # the first warms up
            room = data["rooms"][n]
            form = await asyncio.to_thread(sos_form, raise_on, room["patient"])
            started = time.perf_counter()
            _status, public_id = await asyncio.to_thread(
                sos_post, raise_on, form, room["patient_id"], n
            )
            arrivals = await asyncio.gather(*(lis.arrival(public_id) for lis in listeners))
            got = [t for t in arrivals if t is not None]
            missed += len(arrivals) - len(got)
            if got and n > first:
                lasts.append((max(got) - started) * 1000)
                firsts.append((min(got) - started) * 1000)
    finally:
        await close_all(listeners)
    return {
        "raises": len(lasts),
        "missed": missed,
        "last_median_ms": statistics.median(lasts),
        "last_max_ms": max(lasts),
        "first_median_ms": statistics.median(firsts),
    }


async def measure(args, data, servers: list[Server]) -> dict:
    rooms = data["rooms"]
    a = servers[0]
    result: dict = {}
    log(f"  chat round-trip: {2 * len(rooms)} sockets on daphne A, {args.samples} samples")
    result["chat"] = await measure_roundtrip(args, rooms, a)
    if len(servers) > 1:
        log(f"  throughput: {len(rooms)} senders on A, {len(rooms)} receivers on B")
        result["throughput"] = await measure_throughput(args, rooms, a, servers[1])
    log(f"  SOS: {STAFF} staff sockets, {args.raises} raises")
    result["sos"] = {"one": await measure_sos(args, data, a, [a], first=0)}
    if len(servers) > 1:
        result["sos"]["split"] = await measure_sos(args, data, a, servers, first=args.raises + 1)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=300, help="chat round-trips (300)")
    parser.add_argument("--per-room", type=int, default=5, help="messages per room (5)")
    parser.add_argument("--raises", type=int, default=10, help="SOS raises per layout (10)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (db, logs)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if 2 * (args.raises + 1) > ROOMS:
        parser.error(f"--raises: at most {ROOMS // 2 - 1} (each patient raises once)")
    if args.child:
        child(args)
        return 0
    return parent(args)


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`: servers stopped, db dropped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    sys.exit(main())
