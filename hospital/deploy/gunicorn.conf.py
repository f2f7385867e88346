"""gunicorn settings for production: every page (hospital.wsgi), behind nginx on loopback.

    gunicorn -c hospital/deploy/gunicorn.conf.py hospital.wsgi:application

hospital/deploy/serve.py starts it this way. Each value can be overridden from the environment
(WEB_CONCURRENCY, GUNICORN_THREADS, GUNICORN_BIND, GUNICORN_TIMEOUT, GUNICORN_MAX_REQUESTS).

Workers and threads: nginx buffers whole requests and responses, so a worker is busy only while
Django runs, never while a slow client reads. Views spend most of their time in Python (CPU,
holding the GIL) and some waiting on the database (and, in production, on Redis), so processes
give the throughput and a few threads per process fill the waits. Measured on 2 cores with the
bench's harness (bench/run.py, 32 connections): gthread (4 x 4, 4 x 2, 2 x 4) served /healthz
3-6x and the patient home 1.5-2x the requests/s of 5 sync workers, which also close every
upstream connection nginx keeps alive; between the gthread shapes the differences stayed within
the noise of a shared machine. Hence 2 processes per core, 4 threads each.
"""

import os


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


CPUS = _cpus()
# 2 processes per core, 4 threads each: on 2 cores that is 4 x 4 = 16 requests in progress.
DEFAULT_WORKERS = 2 * CPUS
DEFAULT_THREADS = 4

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = _env_int("WEB_CONCURRENCY", DEFAULT_WORKERS)
threads = _env_int("GUNICORN_THREADS", DEFAULT_THREADS)
worker_class = "gthread" if threads > 1 else "sync"

# A request that takes longer is a bug or a stuck query: the worker is replaced and the
# traceback logged. nginx's proxy_read_timeout (35 s) is just above it.
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = 25  # below Fly's kill_timeout (30 s): in-flight requests finish on deploy
# nginx keeps idle upstream connections open (keepalive 32); close them after a while.
keepalive = 15
backlog = 2048
# Recycling workers guards against slow leaks; off by default (0), jittered when set.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10

# Heartbeat files on tmpfs: a container's overlay disk can stall the heartbeat.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# Only nginx on this machine talks to gunicorn; X-Forwarded-Proto is interpreted by Django
# (SECURE_PROXY_SSL_HEADER), not by gunicorn.
forwarded_allow_ips = "127.0.0.1,::1"

# The control socket of `gunicornc` (gunicorn >= 25.1): serve.py puts it in its run dir. Without
# one, none: the default ($HOME/.gunicorn/) is shared by every gunicorn of the user.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

# nginx writes the access log; gunicorn logs errors to stderr.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "hospital-web"
