"""HTTP benchmark of the production serving layout (`make bench`).

A fresh SQLite database in a temp dir is migrated and seeded with the demo data, then every
server of SERVERS is started the way production starts it (DEBUG off, a SECRET_KEY, HTTPS as
told by the edge proxy's X-Forwarded-Proto header, everything on 127.0.0.1), and each scenario
of SCENARIOS is loaded with wrk (warm-up, then a timed run). The result is one markdown table:
requests/s, p50 and p95 latency and the page's SQL queries (Django's test client against the
same database). Every process started here is stopped at the end, also on errors and Ctrl-C.

    .venv/bin/python bench/run.py [--duration 10] [--warmup 2] [--connections 32] [--threads 2]

wrk and nginx are installed from Debian with apt-get when missing. Extra rows: add a Scenario
(and, for a new server, a function in SERVERS). The gunicorn settings come from
hospital/deploy/gunicorn.conf.py and can be varied from the environment, for example
`WEB_CONCURRENCY=5 GUNICORN_THREADS=1 make bench`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
# Demo logins (seed_demo), all with the published demo password.
PATIENT = "amina.patient@demo.hospital"
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105
# The edge proxy (Fly's) terminates TLS and says so in this header; wrk plays that proxy.
EDGE_HEADERS = {"X-Forwarded-Proto": "https"}
RESULTS_DIR = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Scenario:
    page: str  # the path requested
    server: str  # a key of SERVERS
    user: str | None = None  # a demo login's email: request signed in as them

    @property
    def key(self) -> str:
        """The page as bench/prepare.py takes it, and as its query counts are keyed."""
        return f"{self.page}={self.user}" if self.user else self.page


# One row each, in this order. Later issues add rows here.
SCENARIOS = [
    Scenario("/healthz", "nginx→gunicorn"),
    Scenario("/", "nginx→gunicorn"),
    Scenario("/patient/", "nginx→gunicorn", user=PATIENT),
    Scenario("/healthz", "daphne"),
    Scenario("/", "daphne"),
    Scenario("/patient/", "daphne", user=PATIENT),
]


@dataclass
class Result:
    scenario: Scenario
    rps: float
    p50_ms: float
    p95_ms: float
    errors: dict[str, int] = field(default_factory=dict)


# --- processes ------------------------------------------------------------------------------

STARTED: list[subprocess.Popen] = []
STOP_TIMEOUT: dict[int, tuple[str, float]] = {}  # pid -> (name, seconds for a graceful stop)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def spawn(
    name: str, command: list[str], env: dict[str, str], logfile: Path, stop_timeout: float = 30
) -> subprocess.Popen:
    """Start a server in its own process group (so stopping it reaches all its children)."""
    with logfile.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    STARTED.append(process)
    STOP_TIMEOUT[process.pid] = (name, stop_timeout)
    return process


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the leader (a graceful stop, as the platform does), then kill what is left."""
    if process in STARTED:
        STARTED.remove(process)
    name, timeout = STOP_TIMEOUT.get(process.pid, (str(process.args), 30))
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"{name} still running {timeout}s after SIGTERM; killing its process group")
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def stop_all() -> None:
    while STARTED:
        stop(STARTED[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def ensure_tools() -> None:
    """wrk and nginx from Debian, installed only when missing."""
    sbin = "/usr/sbin:/usr/local/sbin"
    missing = [
        tool
        for tool in ("wrk", "nginx")
        if not (shutil.which(tool) or shutil.which(tool, path=sbin))
    ]
    if not missing:
        return
    prefix: list[str] = []
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise SystemExit(f"bench: {' '.join(missing)} missing; install with apt-get as root")
        prefix = ["sudo", "-n"]
    log(f"installing {' '.join(missing)} from Debian")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def django_env(workdir: Path) -> dict[str, str]:
    """Production settings on a throw-away SQLite database, without a developer's Redis."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "Q_BROKER", "EMAIL_HOST", "EMAIL_FILE_PATH", "WS_UPSTREAM"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="hospital.settings",
        PYTHONUNBUFFERED="1",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CSRF_TRUSTED_ORIGINS="",
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        TRUST_X_FORWARDED_PROTO="true",
        TRUSTED_PROXY_COUNT="1",
        SECURE_SSL_REDIRECT="true",
        # STATIC_ROOT is fixed to the checkout's staticfiles/, which collectstatic must not
        # touch here; the pages render the same {% static %} URLs without the manifest.
        STATIC_MANIFEST="false",
        WHITENOISE_USE_FINDERS="true",
        MEDIA_ROOT=str(workdir / "media"),
        LOG_LEVEL="WARNING",
        GUNICORN_LOG_LEVEL="warning",
    )
    return env


# --- servers: each starts its processes and says where it answers ---------------------------


@dataclass
class Server:
    base: str  # http://127.0.0.1:PORT
    process: subprocess.Popen  # the leader of its process group
    logfile: Path
    websocket: bool = False  # serves /ws/ too: the handshake is checked


def start_production(env: dict[str, str], workdir: Path) -> Server:
    """nginx on one port: /ws/ to Daphne, the rest to gunicorn (hospital/deploy/serve.py)."""
    port = free_port()
    server_env = {
        **env,
        "PORT": str(port),
        "LISTEN_HOST": HOST,
        "GUNICORN_BIND": f"{HOST}:{free_port()}",
        "DAPHNE_PORT": str(free_port()),
        "NGINX_RUN_DIR": str(workdir / "nginx"),
        "NGINX_ACCESS_LOG": "off",
    }
    logfile = workdir / "serve-web.log"
    command = [PYTHON, "hospital/deploy/serve.py", "web"]
    process = spawn("serve.py web", command, server_env, logfile)
    return Server(f"http://{HOST}:{port}", process, logfile, websocket=True)


def start_daphne(env: dict[str, str], workdir: Path) -> Server:
    """Daphne alone serving every page, as `manage.py runserver` does in development."""
    port = free_port()
    # --verbosity 0: no access log, like nginx (access_log off) and gunicorn here.
    command = [PYTHON, "-m", "daphne", "-b", HOST, "-p", str(port), "--verbosity", "0"]
    command.append("hospital.asgi:application")
    logfile = workdir / "daphne.log"
    # After a load run Daphne's stop can hang on cancelled requests of its one sync thread.
    process = spawn("daphne", command, env, logfile, stop_timeout=5)
    return Server(f"http://{HOST}:{port}", process, logfile)


SERVERS: dict[str, Callable[[dict[str, str], Path], Server]] = {
    "nginx→gunicorn": start_production,
    "daphne": start_daphne,
}


def describe_servers() -> list[str]:
    conf = runpy.run_path(str(ROOT / "hospital" / "deploy" / "gunicorn.conf.py"))
    return [
        f"nginx→gunicorn: nginx → gunicorn hospital.wsgi ({conf['workers']} workers x "
        f"{conf['threads']} threads, {conf['worker_class']}), /ws/ → Daphne",
        "daphne: daphne hospital.asgi alone (sync views in its thread pool)",
    ]


# --- HTTP helpers ---------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def fetch(url: str, headers: dict[str, str], data: bytes | None = None):
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with _OPENER.open(request, timeout=15) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode(errors="replace")


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def take_cookies(headers, cookies: dict[str, str]) -> None:
    # By hand: the cookies are Secure (HTTPS per X-Forwarded-Proto) and the URL is http://.
    for value in headers.get_all("Set-Cookie") or []:
        jar = SimpleCookie()
        jar.load(value)
        for name, morsel in jar.items():
            cookies[name] = morsel.value


def wait_ready(base: str, process: subprocess.Popen, logfile: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench: server exited early:\n{tail(logfile)}")
        try:
            status, _, _ = fetch(f"{base}/healthz", EDGE_HEADERS)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"bench: {base} not ready after {timeout}s:\n{tail(logfile)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def login(base: str, email: str) -> dict[str, str]:
    """Sign a demo user in through allauth's form, as a browser would; their cookies."""
    cookies: dict[str, str] = {}
    status, headers, body = fetch(f"{base}/accounts/login/", EDGE_HEADERS)
    take_cookies(headers, cookies)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if status != 200 or not match or "csrftoken" not in cookies:
        raise SystemExit(f"bench: login page answered {status} without a CSRF token")
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": match.group(1), "login": email, "password": DEMO_PASSWORD}
    ).encode()
    origin = "https://" + base.split("://", 1)[1]
    status, headers, body = fetch(
        f"{base}/accounts/login/",
        {
            **EDGE_HEADERS,
            "Cookie": cookie_header(cookies),
            "Origin": origin,
            "Referer": f"{origin}/accounts/login/",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        data=form,
    )
    take_cookies(headers, cookies)
    if status != 302 or "sessionid" not in cookies:
        raise SystemExit(f"bench: login failed ({status}):\n{body[:2000]}")
    return {name: cookies[name] for name in ("sessionid", "csrftoken") if name in cookies}


def check_websocket(base: str, cookies: dict[str, str]) -> str:
    """The WebSocket handshake through nginx's /ws/ route, as a signed-in user."""
    host, port = base.split("://", 1)[1].split(":")
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    request = (
        "GET /ws/notifications/ HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: https://{host}:{port}\r\n"
        f"Cookie: {cookie_header(cookies)}\r\n"
        "X-Forwarded-Proto: https\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        reply = sock.recv(4096).decode(errors="replace")
    return reply.split("\r\n", 1)[0]


# --- load -----------------------------------------------------------------------------------

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk(args: argparse.Namespace, url: str, headers: dict[str, str], seconds: float, script: Path):
    command = [
        shutil.which("wrk") or "wrk",
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={script}",
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise SystemExit(f"bench: unexpected wrk output:\n{out.stdout}\n{out.stderr}")
    return json.loads(line.removeprefix("BENCH_RESULT "))


def run_scenario(args, scenario: Scenario, base: str, sessions, script: Path) -> Result:
    headers = dict(EDGE_HEADERS)
    if scenario.user:
        headers["Cookie"] = cookie_header(sessions[scenario.user])
    url = base + scenario.page
    # wrk counts a redirect as a success: make sure the page itself answers first.
    status, _, _ = fetch(url, headers)
    if status != 200:
        raise SystemExit(f"bench: GET {scenario.page} on {scenario.server} answered {status}")
    if args.warmup > 0:
        wrk(args, url, headers, args.warmup, script)
    raw = wrk(args, url, headers, args.duration, script)
    errors = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
    return Result(
        scenario=scenario,
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        errors=errors,
    )


def prepare_database(env: dict[str, str]) -> dict[str, dict[str, int]]:
    """migrate, setup_roles, setup_schedules, seed_demo; then each page's query count."""
    pages = dict.fromkeys(s.key for s in SCENARIOS)
    out = subprocess.run(
        [PYTHON, "bench/prepare.py", "--setup", *pages],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench: bench/prepare.py failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: list[Result], queries: dict[str, dict[str, int]]) -> str:
    rows = [
        "| page | server | req/s | p50 ms | p95 ms | queries |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        q = queries.get(r.scenario.key, {})
        who = f" ({r.scenario.user.split('@')[0]})" if r.scenario.user else ""
        rows.append(
            f"| `{r.scenario.page}`{who} "
            f"| {r.scenario.server} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} "
            f"| {q.get('warm', '?')} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per row (10)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per row (2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, db)")
    args = parser.parse_args()

    started_at = time.monotonic()
    load_before = os.getloadavg()[0]  # other work on the machine skews every figure
    ensure_tools()
    workdir = Path(tempfile.mkdtemp(prefix="hospital-bench-"))
    # As root, nginx's workers run as `nobody` and need to reach its run dir inside.
    workdir.chmod(0o755)
    env = django_env(workdir)
    results: list[Result] = []
    notes: list[str] = []
    try:
        log(f"fresh database in {workdir}: migrate, setup_roles, setup_schedules, seed_demo")
        queries = prepare_database(env)
        sessions: dict[str, dict[str, str]] = {}  # email -> cookies; the servers share the db
        script = workdir / "report.lua"
        script.write_text(WRK_SCRIPT)
        for server in dict.fromkeys(s.server for s in SCENARIOS):
            log(f"starting {server}")
            running = SERVERS[server](env, workdir)
            wait_ready(running.base, running.process, running.logfile)
            for email in {s.user for s in SCENARIOS if s.user} | {PATIENT}:
                if email not in sessions:
                    sessions[email] = login(running.base, email)
            if running.websocket:
                status_line = check_websocket(running.base, sessions[PATIENT])
                notes.append(f"WebSocket handshake on {server} /ws/notifications/: {status_line}")
            for scenario in (s for s in SCENARIOS if s.server == server):
                log(f"wrk {scenario.page} on {server}")
                results.append(run_scenario(args, scenario, running.base, sessions, script))
            stop(running.process)
    finally:
        stop_all()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    output = [
        f"wrk: {args.threads} threads, {args.connections} connections, "
        f"{args.warmup}s warm-up + {args.duration}s per row; {os.cpu_count()} CPUs shared by "
        f"wrk and the servers (load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} "
        "after); SQLite, no Redis (local-memory cache per process)",
        *describe_servers(),
        "",
        table(results, queries),
        "",
        "queries: per request once the process is warm (Django test client, same database); "
        "cold first request: "
        + ", ".join(f"`{key.replace('=', '` as `')}` {q['cold']}" for key, q in queries.items()),
        *notes,
    ]
    for r in results:
        if r.errors:
            output.append(f"ERRORS {r.scenario.page} on {r.scenario.server}: {r.errors}")
    output.append(f"total time {time.monotonic() - started_at:.0f}s")
    text = "\n".join(output)
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.md").write_text(text + "\n")
    return 1 if any(r.errors for r in results) else 0


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    # Ctrl-C raises KeyboardInterrupt even where SIGINT came in ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)
