# syntax=docker/dockerfile:1
#
# Production image: one image for every process group (see fly.toml).
#   web     python hospital/deploy/serve.py web   nginx :8080 -> gunicorn (pages) + Daphne (/ws/)
#   ws      python hospital/deploy/serve.py ws    Daphne alone on :8001 (WebSocket scale-out)
#   worker  python manage.py qcluster             django-q2 jobs
#
#   docker build -t hospital .
#   docker run --rm -p 8080:8080 -e SECRET_KEY=... -e ALLOWED_HOSTS=localhost \
#       -e SECURE_SSL_REDIRECT=false -e DATABASE_URL=postgres://... hospital
#
# The builder stage installs the hash-pinned lock with uv into /opt/venv; the final stage is
# the same slim Python plus nginx, the venv, the code and the collected static files, and runs
# as an unprivileged user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

RUN pip install "uv==0.13.9" \
    && python -m venv --without-pip /opt/venv

COPY requirements.lock /tmp/requirements.lock
# Every package of the lock comes as a wheel (no compiler needed). The lock also holds the
# development tools (`--extra dev`); they are installed with it, since --require-hashes takes
# the file whole, and removed right after; `uv pip check` fails the build if anything left
# still needed one of them.
RUN uv pip install --python /opt/venv/bin/python --require-hashes -r /tmp/requirements.lock \
    && uv pip uninstall --python /opt/venv/bin/python \
        playwright pytest pytest-django pytest-asyncio factory-boy faker time-machine \
        uvicorn websockets ruff uv \
    && uv pip check --python /opt/venv/bin/python

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# nginx routes /ws/ to Daphne and everything else to gunicorn (hospital/deploy/nginx.conf.template).
# Its Debian service is never started: hospital/deploy/serve.py runs it unprivileged.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=hospital.settings \
    DEBUG=false \
    STATIC_MANIFEST=true \
    PORT=8080 \
    NGINX_RUN_DIR=/tmp/nginx \
    MEDIA_ROOT=/data/media

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# Owned by root and read-only to the app user: the running code cannot be changed by itself.
COPY . /app

# Hashed, compressed static files into /app/staticfiles (STATIC_ROOT), served by whitenoise.
# The key only satisfies the settings check (DEBUG is off); it is never used at run time,
# where SECRET_KEY comes from the platform's secrets.
ARG BUILD_SECRET_KEY=collectstatic-only-not-a-secret
RUN SECRET_KEY="${BUILD_SECRET_KEY}" DATABASE_URL="sqlite:////tmp/build.sqlite3" \
        python manage.py collectstatic --noinput --verbosity 1 \
    && python -m compileall -q -j 0 /app \
    && rm -f /tmp/build.sqlite3 \
    && mkdir -p /data/media \
    && chown app:app /data /data/media

USER app
EXPOSE 8080

# For the web process (the image's default); the ws and worker groups have no HTTP port, so
# run those containers with --no-healthcheck (Fly uses the checks in fly.toml instead).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "hospital/deploy/healthcheck.py"]

STOPSIGNAL SIGTERM
CMD ["python", "hospital/deploy/serve.py", "web"]
