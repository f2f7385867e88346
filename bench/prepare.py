"""Django side of bench/run.py, run in a subprocess with the servers' environment.

    python bench/prepare.py [--setup] PATH[=EMAIL] ...

--setup first builds the database as a deploy does (migrate, setup_roles, setup_schedules),
then loads the demo data (seed_demo); one process for all of it saves interpreter start-ups.
Then each PATH is requested twice with Django's test client and its SQL queries counted
(CaptureQueriesContext): "cold" is the first request with empty per-process caches, "warm" the
same request repeated, which is what a server under load mostly serves. With EMAIL the client
is signed in as that user (force_login). Prints one JSON object, keyed by the arguments:
{"PATH[=EMAIL]": {"cold": n, "warm": n}}.
"""

import io
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hospital.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.contrib.sites.models import Site  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def setup() -> None:
    out = io.StringIO()
    call_command("migrate", interactive=False, verbosity=0, stdout=out)
    for command in ("setup_roles", "setup_schedules", "seed_demo"):
        call_command(command, verbosity=0, stdout=out)
    # Forget what the commands cached, so "cold" means a fresh server process.
    ContentType.objects.clear_cache()
    Site.objects.clear_cache()
    cache.clear()
    connection.close()


def count(path: str, email: str | None) -> dict[str, int]:
    # Same Host and scheme as the benchmarked requests (ALLOWED_HOSTS has no "testserver").
    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    if email:
        client.force_login(get_user_model().objects.get(email=email))
    counts = {}
    for run in ("cold", "warm"):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"prepare: GET {path} answered {response.status_code}")
        counts[run] = len(queries)
    return counts


def main(args: list[str]) -> None:
    if args[:1] == ["--setup"]:
        setup()
        args = args[1:]
    result = {}
    for arg in args:
        path, _, email = arg.partition("=")
        result[arg] = count(path, email or None)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
