"""Start the production processes of one machine and keep them together.

    python hospital/deploy/serve.py web            nginx on $PORT -> gunicorn (pages), Daphne (/ws/)
    python hospital/deploy/serve.py ws             Daphne alone (the Fly `ws` group, scale-out)
    python hospital/deploy/serve.py render-nginx   print the rendered nginx.conf and exit

`web` starts gunicorn (hospital/deploy/gunicorn.conf.py) on GUNICORN_BIND, Daphne on
127.0.0.1:DAPHNE_PORT (unless WS_UPSTREAM points elsewhere) and nginx in front on PORT. If any of
them exits, the others are stopped and this process exits non-zero, so the platform restarts the
machine instead of leaving half a server up. SIGTERM/SIGINT stop everything gracefully.

Environment (all optional):
    PORT=8080                     the public port nginx listens on (Fly's internal_port)
    LISTEN_HOST=0.0.0.0           nginx's address (the bench uses 127.0.0.1)
    GUNICORN_BIND=127.0.0.1:8000  gunicorn, reached only by nginx
    DAPHNE_PORT=8001              Daphne; `ws` binds DAPHNE_HOST (default ::, the private network)
    WS_UPSTREAM=host:port         send /ws/ there instead of to a local Daphne, e.g.
                                  ws.process.<app>.internal:8001 (resolved at request time)
    NGINX_RUN_DIR                 nginx's pid, config and temp files, gunicorn's control socket
                                  (default: a fresh temp dir)
    NGINX_ACCESS_LOG=/dev/stdout  or "off"
    NGINX_WORKER_PROCESSES=auto, NGINX_CLIENT_MAX_BODY_SIZE=25m, NGINX_RESOLVER (from resolv.conf)

Only the standard library is used before the children start, so the script also runs with a
plain python3.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DEPLOY_DIR = Path(__file__).resolve().parent
TEMPLATE = DEPLOY_DIR / "nginx.conf.template"
GUNICORN_CONF = DEPLOY_DIR / "gunicorn.conf.py"
STOP_TIMEOUT = 25  # seconds; below Fly's kill_timeout
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def log(message: str) -> None:
    print(f"serve: {message}", file=sys.stderr, flush=True)


def find_nginx() -> str:
    # Debian installs it in /usr/sbin, which is not on every user's PATH.
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise SystemExit("serve: nginx not found (Debian: apt-get install nginx)")
    return found


def default_resolver() -> str:
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                address = parts[1].split("%")[0]
                return f"[{address}]" if ":" in address else address
    except OSError:
        pass
    return "127.0.0.1"


def healthcheck_host() -> str:
    """A Host Django accepts: the first concrete entry of ALLOWED_HOSTS."""
    for host in os.environ.get("ALLOWED_HOSTS", "localhost").split(","):
        host = host.strip().lstrip(".")
        if host and host != "*" and re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", host):
            return host
    return "localhost"


def nginx_values(run_dir: Path) -> dict[str, str]:
    env = os.environ
    daphne_port = env.get("DAPHNE_PORT", "8001")
    return {
        "NGINX_LISTEN": f"{env.get('LISTEN_HOST', '0.0.0.0')}:{env.get('PORT', '8080')}",  # noqa: S104
        "GUNICORN_UPSTREAM": env.get("GUNICORN_BIND", "127.0.0.1:8000"),
        "WS_UPSTREAM": env.get("WS_UPSTREAM", "") or f"127.0.0.1:{daphne_port}",
        "NGINX_RUN_DIR": str(run_dir),
        "NGINX_ACCESS_LOG": env.get("NGINX_ACCESS_LOG", "/dev/stdout"),
        "NGINX_WORKER_PROCESSES": env.get("NGINX_WORKER_PROCESSES", "auto"),
        "NGINX_CLIENT_MAX_BODY_SIZE": env.get("NGINX_CLIENT_MAX_BODY_SIZE", "25m"),
        "NGINX_RESOLVER": env.get("NGINX_RESOLVER", "") or default_resolver(),
        "HEALTHCHECK_HOST": healthcheck_host(),
    }


def render_nginx(values: dict[str, str]) -> str:
    template = TEMPLATE.read_text()
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise SystemExit(f"serve: no value for {', '.join(missing)} in {TEMPLATE.name}")
    for name, value in values.items():
        if not re.fullmatch(r"[^\s;{}\"'$]+", value):
            raise SystemExit(f"serve: refusing {name}={value!r} in the nginx config")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def make_run_dir() -> Path:
    run_dir = Path(os.environ.get("NGINX_RUN_DIR") or tempfile.mkdtemp(prefix="hospital-web-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def prepare_nginx(run_dir: Path) -> list[str]:
    if os.geteuid() == 0:
        # Started as root (a developer machine, the bench): nginx's workers drop to `nobody`
        # and must reach their temp directories. In the image nginx runs unprivileged.
        run_dir.chmod(0o755)
    conf = run_dir / "nginx.conf"
    conf.write_text(render_nginx(nginx_values(run_dir)))
    command = [find_nginx(), "-p", str(run_dir), "-e", "stderr", "-c", str(conf)]
    check = subprocess.run(  # noqa: S603 - our own command line
        [*command, "-t", "-q"], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise SystemExit(f"serve: nginx rejected {conf}:\n{check.stderr}")
    return command


def gunicorn_command() -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(GUNICORN_CONF),
        "hospital.wsgi:application",
    ]


def daphne_command(host: str, port: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "daphne",
        "--bind",
        host,
        "--port",
        port,
        # Client address from X-Forwarded-For (set by nginx / the edge proxy).
        "--proxy-headers",
        # Without a Daphne banner; access lines come from nginx.
        "--no-server-name",
        "--verbosity",
        "0",
        "hospital.asgi:application",
    ]


def _relay(source) -> None:
    """Copy a child's output to ours.

    nginx opens its access log by name (/dev/stdout, that is /proc/self/fd/1). When our own
    stdout is a pipe created by root (Docker, Fly's init), the unprivileged nginx may not reopen
    it; a pipe created here belongs to our user, so it can.
    """
    out = sys.stdout.buffer
    for chunk in iter(lambda: source.read1(65536), b""):
        out.write(chunk)
        out.flush()


class Supervisor:
    """Runs children; when one ends or a stop signal arrives, stops them all."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False
        # Before the first child starts: a stop request in between must not orphan it.
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def start(self, name: str, command: list[str], relay_stdout: bool = False) -> None:
        log(f"starting {name}: {' '.join(command)}")
        child = subprocess.Popen(  # noqa: S603 - our own command lines
            command, cwd=BASE_DIR, stdout=subprocess.PIPE if relay_stdout else None
        )
        self.children[name] = child
        if relay_stdout:
            threading.Thread(target=_relay, args=(child.stdout,), daemon=True).start()

    def _on_signal(self, signum, frame) -> None:
        self.stopping = True

    def run(self) -> int:
        exit_code = 0
        while not self.stopping:
            for name, child in self.children.items():
                if child.poll() is not None:
                    log(f"{name} exited with {child.returncode}; stopping the others")
                    exit_code = 1
                    self.stopping = True
                    break
            else:
                time.sleep(0.5)
        self.stop()
        return exit_code

    def stop(self) -> None:
        for name, child in self.children.items():
            if child.poll() is None:
                # nginx: QUIT is its graceful stop (TERM is its fast one); TERM for the others.
                child.send_signal(signal.SIGQUIT if name == "nginx" else signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in {STOP_TIMEOUT}s; killing it")
                child.kill()
                child.wait()


def main(argv: list[str]) -> int:
    role = argv[1] if len(argv) > 1 else "web"
    os.chdir(BASE_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hospital.settings")
    if role == "render-nginx":
        values = nginx_values(Path(os.environ.get("NGINX_RUN_DIR", "/tmp/nginx")))  # noqa: S108
        sys.stdout.write(render_nginx(values))
        return 0
    supervisor = Supervisor()
    if role == "web":
        run_dir = make_run_dir()
        nginx = prepare_nginx(run_dir)
        # gunicornc's control socket next to nginx's pid, not in a $HOME shared with others.
        os.environ.setdefault("GUNICORN_CONTROL_SOCKET", str(run_dir / "gunicorn.ctl"))
        supervisor.start("gunicorn", gunicorn_command())
        if not os.environ.get("WS_UPSTREAM"):
            supervisor.start(
                "daphne", daphne_command("127.0.0.1", os.environ.get("DAPHNE_PORT", "8001"))
            )
        supervisor.start("nginx", nginx, relay_stdout=True)
    elif role == "ws":
        host = os.environ.get("DAPHNE_HOST", "::")
        supervisor.start("daphne", daphne_command(host, os.environ.get("DAPHNE_PORT", "8001")))
    else:
        raise SystemExit(f"serve: unknown role {role!r} (web, ws or render-nginx)")
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
