"""Analytics benchmark (`make bench`, after bench/realtime.py): the admin's CMS home with its
analytics dashboard, and the operations board, with 10 and with 100,000 appointments.

Each database backend gets a fresh database, built here and thrown away at the end: SQLite in
a temp dir, and PostgreSQL when a server answers (the database `bench_analytics`, created and
dropped here). A child process per backend (this script with --child, DEBUG off, production
settings otherwise) migrates it and builds the data with bulk_create:

- 8 verified doctors in 8 specialties, 97 patients without a login sharing the appointments,
  2,400 more patients added over the last twelve weeks (the weekly chart), 20 pending doctor
  applications, 600 SOS requests over the last 30 days (500 acknowledged after 5 s to 10 min,
  40 still open);
- first 10 appointments, then 100,000 more: eight doctors' 30-minute slots around the clock
  from 150 days ago to 110 days ahead (past ones completed, cancelled, missed or rescheduled;
  future ones confirmed, pending or cancelled; nobody overlaps).

Measured with Django's test client as an admin with an authenticator app (the staff MFA
requirement stays on, as in production): `GET /cms/` (the Wagtail home with the analytics
panel) and `GET /operations/` (the board), median and p95 ms over --runs runs after a warm-up,
with the SQL queries of a run; and the selector `analytics_dashboard()` alone. The queries
must not grow with the data: the script exits non-zero when a count with 100,000 appointments
differs from the one with 10.

    .venv/bin/python bench/analytics.py [--runs 20] [--keep]

PostgreSQL: BENCH_DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/);
DATABASE_URL is deliberately ignored (it is the developer's own database).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

# Run as a script, this file's directory is on the path: the scheduling benchmark's helpers
# (fresh databases, child environment, timing) serve here unchanged.
from scheduling import SKIPPED_PG, backends_run, child_env, log, timed

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
PG_DATABASE = "bench_analytics"

FEW, MANY = 10, 100_000
DOCTORS = 8
PATIENTS = 97  # prime: a patient meets the same doctor again only 97 slots (48.5 h) later
NEW_PATIENTS = 2_400
PENDING_APPLICATIONS = 20
SOS_REQUESTS, SOS_ACKNOWLEDGED, SOS_OPEN = 600, 500, 40

ROWS = [
    ("page:cms", "`GET /cms/` (analytics dashboard) as an admin"),
    ("page:board", "`GET /operations/` (operations board) as an admin"),
    ("selector", "`analytics_dashboard()` alone"),
]


# --- parent: one child process per backend, then the table ---------------------------------


def run_child(name: str, database_url: str, workdir: Path, args) -> dict:
    log(f"{name}: fresh database, data, measurements")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", f"--runs={args.runs}"]
    out = subprocess.run(
        command,
        cwd=ROOT,
        env=child_env(database_url, workdir),
        stdout=subprocess.PIPE,
        text=True,
        timeout=1200,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench: the {name} run failed (exit status {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ms(timing: dict) -> str:
    return f"{timing['median_ms']:,.1f} / {timing['p95_ms']:,.1f} ms"


def counts_equal(result: dict) -> bool:
    return all(
        figures[str(FEW)]["queries"] == figures[str(MANY)]["queries"]
        for figures in result["timings"].values()
    )


def cells(result: dict | None) -> dict[str, str]:
    if result is None:
        return {}
    out = {}
    for key, _label in ROWS:
        few, many = result["timings"][key][str(FEW)], result["timings"][key][str(MANY)]
        out[f"{key}:ms"] = f"{ms(few)} · {ms(many)}"
        same = "equal" if few["queries"] == many["queries"] else "DIFFERENT"
        out[f"{key}:q"] = f"{few['queries']} / {many['queries']} ({same})"
    out["seed"] = f"{result['seed_s']:.1f} s"
    return out


def table(sqlite: dict, postgres: dict | None, missing: str) -> str:
    left, right = cells(sqlite), cells(postgres)
    lines = ["| figure | SQLite | PostgreSQL |", "|---|---:|---:|"]
    for key, label in ROWS:
        lines.append(
            f"| {label}: median / p95, {FEW} · {MANY:,} appointments "
            f"| {left[f'{key}:ms']} | {right.get(f'{key}:ms', missing)} |"
        )
        lines.append(
            f"| {label}: queries, {FEW} / {MANY:,} appointments "
            f"| {left[f'{key}:q']} | {right.get(f'{key}:q', missing)} |"
        )
    lines.append(
        f"| bulk insert of {MANY:,} appointments | {left['seed']} | {right.get('seed', missing)} |"
    )
    return "\n".join(lines)


def parent(args) -> int:
    started_at = time.monotonic()
    load_before = os.getloadavg()[0]
    sqlite, postgres, missing = backends_run(
        run_child, args, name="analytics", pg_database=PG_DATABASE
    )
    text = "\n".join(
        [
            f"Analytics: {os.cpu_count()} CPUs (load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after); DEBUG=false, no Redis; each backend a fresh "
            "database",
            f"- {FEW} then {MANY:,} appointments over {DOCTORS} doctors and {PATIENTS} patients; "
            f"{NEW_PATIENTS:,} new patients in 12 weeks; {SOS_REQUESTS} SOS requests in 30 days "
            f"({SOS_ACKNOWLEDGED} acknowledged, {SOS_OPEN} open); {PENDING_APPLICATIONS} pending "
            f"applications; {args.runs} runs each after a warm-up",
            "",
            table(sqlite, postgres, missing),
            "",
            f"total time {time.monotonic() - started_at:.0f}s",
        ]
    )
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "analytics.md").write_text(text + "\n")
    failed = [result for result in (sqlite, postgres) if result and not counts_equal(result)]
    return 1 if failed or missing != SKIPPED_PG else 0


# --- child: Django in this process, one backend ---------------------------------------------


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    # Static files are served from the finders here, as in the tests; nothing is collected.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    call_command("migrate", interactive=False, verbosity=0)
    call_command("setup_roles", verbosity=0, stdout=io.StringIO())
    log("  migrated")
    admin = admin_create()
    # The first ten appointments have doctors and patients of their own, so the 100,000
    # added later never share a slot with them.
    doctors = doctors_create()
    sharing, newcomers = patients_create()
    others_create()
    log("  cast built")
    now = timezone.now()
    appointments_bulk(FEW, doctors[DOCTORS:], newcomers[:5], admin, origin=now - timedelta_days(3))
    timings = {}
    measure(args, admin, timings, FEW)
    log(f"  measured with {FEW} appointments")
    started = time.perf_counter()
    appointments_bulk(MANY, doctors[:DOCTORS], sharing, admin, origin=now - timedelta_days(150))
    seed_s = time.perf_counter() - started
    log(f"  {MANY:,} appointments inserted in {seed_s:.1f} s")
    measure(args, admin, timings, MANY)
    log(f"  measured with {MANY:,} appointments")
    print(json.dumps({"timings": timings, "seed_s": seed_s}))


def timedelta_days(days: int):
    from datetime import timedelta

    return timedelta(days=days)


def admin_create():
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from core.services import user_create

    user = user_create(
        email="analytics-admin@bench.test", password=None, role="admin", email_verified=True
    )
    TOTP.activate(user, generate_totp_secret())
    return user


def _users(prefix: str, role: str, count: int) -> list:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from core.models import User

    users = User.objects.bulk_create(
        User(
            email=f"{prefix}{n}@bench.test",
            first_name=f"{prefix.title()}{n}",
            last_name="Bench",
            role=role,
            password=make_password(None),
        )
        for n in range(count)
    )
    group = Group.objects.get(name=role)
    User.groups.through.objects.bulk_create(
        User.groups.through(user_id=user.pk, group_id=group.pk) for user in users
    )
    return users


def doctors_create() -> list:
    from clinic.models import Doctor, Specialty

    specialties = list(Specialty.objects.order_by("name")[:DOCTORS])
    # DOCTORS for the 100,000 appointments and two more for the first ten.
    return Doctor.objects.bulk_create(
        Doctor(
            user=user,
            specialty=specialties[n % len(specialties)],
            licence_number=f"BENCH-ANALYTICS-{n}",
            status=Doctor.Status.VERIFIED,
        )
        for n, user in enumerate(_users("analytics-doctor", "doctor", DOCTORS + 2))
    )


def patients_create() -> list:
    """The patients who share the appointments, and the new patients of the last 12 weeks
    (their creation stamps spread evenly back in time)."""
    from datetime import timedelta

    from django.utils import timezone

    from clinic.models import Patient

    sharing = Patient.objects.bulk_create(
        Patient(first_name=f"Shared{n}", last_name="Bench") for n in range(PATIENTS)
    )
    newcomers = Patient.objects.bulk_create(
        Patient(first_name=f"New{n}", last_name="Bench") for n in range(NEW_PATIENTS)
    )
    now = timezone.now()
    step = timedelta(weeks=12) / NEW_PATIENTS
    for n, patient in enumerate(newcomers):
        patient.created_at = now - n * step
    Patient.objects.bulk_update(newcomers, ["created_at"], batch_size=1_000)
    return sharing, newcomers


def others_create() -> None:
    """Pending doctor applications and the SOS requests of the last 30 days."""
    from datetime import timedelta

    from django.utils import timezone

    from clinic.models import Doctor, Patient, SOSRequest, Specialty

    specialty = Specialty.objects.order_by("name").first()
    Doctor.objects.bulk_create(
        Doctor(
            user=user,
            specialty=specialty,
            licence_number=f"BENCH-APPLICANT-{n}",
            status=Doctor.Status.PENDING,
        )
        for n, user in enumerate(_users("analytics-applicant", "doctor", PENDING_APPLICATIONS))
    )
    raiser = _users("analytics-sos", "patient", 1)[0]
    patient = Patient.objects.create(user=raiser, first_name="Sos", last_name="Bench")
    now = timezone.now()
    rows = []
    for n in range(SOS_REQUESTS):
        created = now - timedelta(minutes=n * 70)
        if n < SOS_ACKNOWLEDGED:
            acknowledged = created + timedelta(seconds=5 + (n * 37) % 595)
            rows.append(
                SOSRequest(
                    patient=patient,
                    raised_by=raiser,
                    created_at=created,
                    acknowledged_at=acknowledged,
                    closed_at=acknowledged + timedelta(minutes=15),
                    status=SOSRequest.Status.RESOLVED,
                )
            )
        elif n < SOS_ACKNOWLEDGED + SOS_OPEN:
            rows.append(SOSRequest(patient=patient, raised_by=raiser, created_at=created))
        else:
            rows.append(
                SOSRequest(
                    patient=patient,
                    raised_by=raiser,
                    created_at=created,
                    closed_at=created + timedelta(minutes=1),
                    status=SOSRequest.Status.CANCELLED,
                )
            )
    SOSRequest.objects.bulk_create(rows, batch_size=1_000)


def appointments_bulk(count: int, doctors, patients, booked_by, *, origin) -> None:
    """`count` appointments on a grid of 30-minute slots from `origin` on, one per doctor per
    slot and at most one per patient per slot: nobody overlaps. Inserted latest first, so
    SQLite's overlap triggers find no earlier row of the doctor or patient to compare with."""
    from datetime import timedelta

    from django.utils import timezone

    from clinic.models import Appointment, ConsultationMode
    from clinic.scheduling import hospital_zone

    status = Appointment.Status
    past = [status.COMPLETED] * 5 + [status.CANCELLED, status.NO_SHOW, status.RESCHEDULED]
    future = [status.CONFIRMED] * 3 + [status.PENDING, status.CANCELLED]
    slot = timedelta(minutes=30)
    zone = hospital_zone()
    now = timezone.now()
    rows = []
    for n in reversed(range(count)):
        start = origin + (n // len(doctors)) * slot
        statuses = past if start + slot <= now else future
        rows.append(
            Appointment(
                doctor=doctors[n % len(doctors)],
                patient=patients[n % len(patients)],
                booked_by=booked_by,
                start_at=start,
                end_at=start + slot,
                local_date=start.astimezone(zone).date(),
                mode=ConsultationMode.IN_PERSON,
                status=statuses[(n // len(doctors) + n % len(doctors)) % len(statuses)],
            )
        )
    Appointment.objects.bulk_create(rows, batch_size=5_000)


def measure(args, admin, timings: dict, count: int) -> None:
    from django.test import Client

    from core.analytics import analytics_dashboard

    client = Client()
    client.force_login(admin)

    def page(path: str) -> None:
        response = client.get(path, secure=True)
        if response.status_code != 200 or (
            path == "/cms/" and b'id="analytics-section"' not in response.content
        ):
            raise SystemExit(f"GET {path} as the admin answered {response.status_code}")

    for key, path in (("page:cms", "/cms/"), ("page:board", "/operations/")):
        timings.setdefault(key, {})[str(count)] = timed(
            lambda path=path: page(path),
            args.runs,
            warmup=lambda path=path: page(path),
            budget_s=30,
        )
    timings.setdefault("selector", {})[str(count)] = timed(
        analytics_dashboard, args.runs, warmup=analytics_dashboard, budget_s=30
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per figure (20)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (db, mail)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    return parent(args)


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`: the database is dropped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    sys.exit(main())
