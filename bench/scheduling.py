"""Scheduling benchmark (`make bench`, after bench/run.py): slot search, bookings, home pages.

Each database backend gets a fresh database, built here and thrown away at the end: SQLite in
a temp dir, and PostgreSQL when a server answers (the database `bench_scheduling`, created and
dropped here). A child process per backend (this script with --child, DEBUG off, production
settings otherwise) migrates it, builds the data with bulk_create and the services, and
measures; the parent prints one markdown table with a column per backend and writes it to
bench/results/scheduling.md.

1. Free-slot search: 200 verified doctors of one specialty (plus 40 of another) with weekly
   hours Mon-Fri 08:00-12:00 and 13:00-17:00 in 20/25/30-minute slots and appointments booked
   (doctor n solidly for its first n % 12 working days, then one slot in four; one doctor in
   25 solidly for all 60 days), then "specialty X, free on or before today+60": the selector
   `doctors_with_next_free_slot(list(doctors_listed(specialty=X)), now, day_to=today+60)` and
   the whole page GET /doctors/?specialty=X&free_before=... (Django's test client, a signed-in
   patient): median and p95 ms over --runs runs (at least 3, fewer when they take more than
   --budget seconds together) after a cheap warm-up, and the SQL queries of a run.
2. Bookings/s: --clients threads, each with its own database connection and patient login,
   call `appointment_book` for distinct free slots across 20 doctors for --duration seconds
   (emails go to files, as EMAIL_FILE_PATH makes them). Contended: in each of --rounds rounds
   all clients aim at the same slot at once; exactly one may win. Afterwards no two active
   appointments of one doctor or one patient may overlap. The clients are threads of one
   process: the Python side of the bookings shares one GIL, as in one gunicorn worker with
   8 threads, while the database serves 8 connections.
3. Home pages: the SQL queries of /patient/ and /doctor/ (warm, as bench/prepare.py counts
   them) for a user with 1 and with 500 appointments; they must be equal. The doctor has an
   authenticator app, so the staff MFA requirement stays on as in production.

    .venv/bin/python bench/scheduling.py [--runs 10] [--budget 10] [--duration 5] [--rounds 30]
                                         [--clients 8] [--keep]

PostgreSQL: BENCH_DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/);
only its host, port and credentials are used. DATABASE_URL is deliberately ignored: it is the
developer's own database, and this script drops what it creates. Without a reachable server
the PostgreSQL column says "skipped: needs PostgreSQL".
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
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

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
PG_SERVER = "postgres://postgres@127.0.0.1:5432/"
PG_DATABASE = "bench_scheduling"
SKIPPED_PG = "skipped: needs PostgreSQL"

SEARCH_SPECIALTY = "cardiology"
SEARCH_DOCTORS = 200
OTHER_DOCTORS = 40  # another specialty: the filter has something to leave out
SEARCH_DAYS = 60
BOOKING_DOCTORS = 20  # at most the slots a day has (24), see booking_plan
HOME_APPOINTMENTS = 500
MANY = str(HOME_APPOINTMENTS)  # the key of its figures in the child's JSON


STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"bench: [{time.monotonic() - STARTED:5.0f}s] {message}", file=sys.stderr, flush=True)


# --- parent: one child process per backend, then the table ---------------------------------


def child_env(database_url: str, workdir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "Q_BROKER", "EMAIL_HOST", "WS_UPSTREAM", "STAFF_MFA_REQUIRED"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="hospital.settings",
        PYTHONUNBUFFERED="1",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url,
        # The clients plus the main thread, each with a connection of the pool.
        DB_POOL_MAX="24",
        EMAIL_FILE_PATH=str(workdir / "mail"),
        MEDIA_ROOT=str(workdir / "media"),
        STATIC_MANIFEST="false",
        LOG_LEVEL="WARNING",
    )
    return env


def postgres_url(database: str) -> str:
    parts = urllib.parse.urlsplit(os.environ.get("BENCH_DATABASE_URL") or PG_SERVER)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{database}", query=""))


def postgres_admin(statement: str) -> bool:
    """Run one statement in the server's `postgres` database; False when it cannot connect."""
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(postgres_url("postgres"), autocommit=True, connect_timeout=3) as db:
            db.execute(statement)
    except psycopg.OperationalError as error:
        log(f"PostgreSQL: {str(error).strip().splitlines()[0]}")
        return False
    return True


def run_child(name: str, database_url: str, workdir: Path, args) -> dict:
    log(f"{name}: fresh database, data, measurements")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        f"--runs={args.runs}",
        f"--budget={args.budget}",
        f"--duration={args.duration}",
        f"--rounds={args.rounds}",
        f"--clients={args.clients}",
    ]
    # The child's progress and errors go straight to stderr; its figures come on stdout.
    out = subprocess.run(
        command,
        cwd=ROOT,
        env=child_env(database_url, workdir),
        stdout=subprocess.PIPE,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench: the {name} run failed (exit status {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ms(timing: dict) -> str:
    return f"{timing['median_ms']:,.1f} / {timing['p95_ms']:,.1f} ms ({timing['runs']} runs)"


def cells(result: dict | None) -> dict[str, str]:
    if result is None:
        return {}
    search, page, homes = result["search"], result["page"], result["homes"]
    bookings, contended = result["bookings"], result["contended"]
    return {
        "search": ms(search),
        "search_q": str(search["queries"]),
        "page": ms(page),
        "page_q": str(page["queries"]),
        "found": f"{search['found']} of {search['listed']}",
        "bookings": f"{bookings['per_second']:,.0f}/s ({bookings['booked']} booked, "
        f"{bookings['refused']} refused, p50 {bookings['p50_ms']:.0f} ms, "
        f"p95 {bookings['p95_ms']:.0f} ms)",
        "contended": f"{contended['booked']} won, {contended['refused']} refused of "
        f"{contended['attempts']} ({contended['per_second']:,.0f} attempts/s)",
        "overlaps": str(result["overlaps"]),
        "winners": "yes" if contended["one_winner_each"] else "NO",
        **{
            f"home_{page}": f"{counts['1']} / {counts[MANY]} "
            f"(equal: {'yes' if counts['1'] == counts[MANY] else 'no'})"
            for page, counts in homes.items()
        },
        "home_ms": ", ".join(
            f"`/{page}/` {times['1']:.0f} / {times[MANY]:.0f} ms"
            for page, times in result["home_ms"].items()
        ),
    }


ROWS = [
    ("search", "free-slot search, selector: median / p95"),
    ("search_q", "free-slot search, selector: queries"),
    ("found", "doctors free on or before today+60 (of those listed)"),
    ("page", "`GET /doctors/?specialty=…&free_before=…`: median / p95"),
    ("page_q", "`GET /doctors/?specialty=…&free_before=…`: queries"),
    ("bookings", "bookings/s, {clients} clients, distinct slots"),
    ("contended", "contended: {clients} clients x {rounds} slots"),
    ("winners", "contended: exactly one active booking per slot"),
    ("overlaps", "overlapping active appointments afterwards"),
    ("home_patient", "`/patient/` queries, 1 / 500 appointments"),
    ("home_doctor", "`/doctor/` queries, 1 / 500 appointments"),
    ("home_ms", "home pages, median ms with 1 / 500 appointments"),
]


def table(sqlite: dict, postgres: dict | None, args, missing: str) -> str:
    left, right = cells(sqlite), cells(postgres)
    lines = ["| figure | SQLite | PostgreSQL |", "|---|---:|---:|"]
    for key, label in ROWS:
        label = label.format(clients=args.clients, rounds=args.rounds)
        lines.append(f"| {label} | {left[key]} | {right.get(key, missing)} |")
    return "\n".join(lines)


def backends_run(run_child, args, *, name: str, pg_database: str):
    """`run_child` on a fresh SQLite database in a temp dir, then on a fresh PostgreSQL
    database `pg_database` (created and dropped here) when a server answers. Returns the
    two results (PostgreSQL's None when skipped or failed) and what its cells say then."""
    workdir = Path(tempfile.mkdtemp(prefix=f"hospital-bench-{name}-"))
    postgres, missing = None, SKIPPED_PG
    try:
        sqlite = run_child("SQLite", f"sqlite:///{workdir / 'bench.sqlite3'}", workdir, args)
        if postgres_admin(f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)"):
            try:
                postgres_admin(f"CREATE DATABASE {pg_database}")
                postgres = run_child("PostgreSQL", postgres_url(pg_database), workdir, args)
            except SystemExit as error:  # SQLite's figures are still worth printing
                log(str(error))
                missing = "failed: see the log above"
            finally:
                postgres_admin(f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)")
        else:
            log("PostgreSQL unreachable: its column is skipped")
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return sqlite, postgres, missing


def parent(args) -> int:
    started_at = time.monotonic()
    load_before = os.getloadavg()[0]
    sqlite, postgres, missing = backends_run(
        run_child, args, name="scheduling", pg_database=PG_DATABASE
    )

    data = sqlite["data"]
    text = "\n".join(
        [
            f"Scheduling: {os.cpu_count()} CPUs (load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after); DEBUG=false, no Redis; each backend a fresh "
            "database",
            f"- search data: {data['doctors']} verified doctors ({SEARCH_DOCTORS} in "
            f"{SEARCH_SPECIALTY}), Mon-Fri 08-12 and 13-17 in 20/25/30-minute slots, "
            f"{data['search_appointments']:,} active appointments in the next {SEARCH_DAYS} "
            "days; the page as a signed-in patient",
            f"- bookings: `appointment_book` in {args.clients} threads, one connection each, "
            f"{args.duration}s over {BOOKING_DOCTORS} doctors (20-minute slots); contended: all "
            "threads at one slot per round",
            f"- homes: {HOME_APPOINTMENTS} appointments = the patient's over "
            f"{HOME_APPOINTMENTS} days, the doctor's over 6 days with 96 of them today; "
            "queries of a warm repeat request",
            "",
            table(sqlite, postgres, args, missing),
            "",
            f"total time {time.monotonic() - started_at:.0f}s",
        ]
    )
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "scheduling.md").write_text(text + "\n")
    failed = [
        result
        for result in (sqlite, postgres)
        if result
        and (
            result["overlaps"]
            or not result["contended"]["one_winner_each"]
            or any(c["1"] != c[MANY] for c in result["homes"].values())
        )
    ]
    return 1 if failed or missing != SKIPPED_PG else 0


# --- child: Django in this process, one backend ---------------------------------------------


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    # Static files are served from the finders here, as in the tests; nothing is collected.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("setup_roles", verbosity=0, stdout=io.StringIO())
    log("  migrated")
    result = {"data": {}}
    result.update(measure_search(args, result["data"]))
    log("  search measured")
    result.update(measure_homes(args))
    log("  homes measured")
    result.update(measure_bookings(args))
    log("  bookings measured")
    result["overlaps"] = overlapping_active()
    print(json.dumps(result))


def timed(function, runs: int, *, warmup, budget_s: float) -> dict:
    """Median and p95 ms of `function` over `runs` runs (at least 3, fewer than `runs` when
    they take longer than `budget_s` together), with the queries of the last run. `warmup`,
    called first, fills the per-process caches (templates, URLconf) cheaply."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    warmup()
    times = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            function()
            times.append((time.perf_counter() - started) * 1000)
        if sum(times) / 1000 > budget_s and len(times) >= 3:
            break
    return {
        "median_ms": statistics.median(times),
        "p95_ms": percentile(times, 95),
        "runs": len(times),
        "queries": len(queries),
    }


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def users_bulk(role: str, prefix: str, count: int) -> list:
    """Logins with their role group, without passwords (force_login needs none)."""
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


def doctors_bulk(users, specialty, **policy) -> list:
    from clinic.models import ConsultationMode, Doctor, WeeklyAvailability

    doctors = Doctor.objects.bulk_create(
        Doctor(
            user=user,
            specialty=specialty,
            licence_number=f"BENCH-{user.email.split('@')[0]}",
            status=Doctor.Status.VERIFIED,
            horizon_days=90,
            location=f"Building {n % 5 + 1}",
            **{key: value(n) if callable(value) else value for key, value in policy.items()},
        )
        for n, user in enumerate(users)
    )
    WeeklyAvailability.objects.bulk_create(
        WeeklyAvailability(
            doctor=doctor,
            weekday=weekday,
            start_time=start,
            end_time=end,
            mode=ConsultationMode.IN_PERSON,
            location=doctor.location,
        )
        for doctor in doctors
        for weekday in range(5)
        for start, end in ((dtime(8), dtime(12)), (dtime(13), dtime(17)))
    )
    return doctors


def dtime(hour: int, minute: int = 0):
    from datetime import time as time_of_day

    return time_of_day(hour, minute)


def patients_bulk(prefix: str, count: int) -> list:
    """Patient records without logins (like a child's), to fill appointment books."""
    from clinic.models import Patient

    return Patient.objects.bulk_create(
        Patient(first_name=f"{prefix}{n}", last_name="Bench") for n in range(count)
    )


def patient_login(email: str):
    """A patient login made the way signup makes it (service functions)."""
    from clinic.services.patients import patient_create_for_account
    from core.models import Role
    from core.services import user_create

    user = user_create(email=email, password=None, role=Role.PATIENT, email_verified=True)
    patient_create_for_account(user=user)
    return user


def appointment_row(doctor, patient, booked_by, start_at, end_at, status=None):
    from clinic.models import Appointment, ConsultationMode
    from clinic.scheduling import hospital_zone

    return Appointment(
        doctor=doctor,
        patient=patient,
        booked_by=booked_by,
        start_at=start_at,
        end_at=end_at,
        local_date=start_at.astimezone(hospital_zone()).date(),
        mode=ConsultationMode.IN_PERSON,
        status=status or Appointment.Status.CONFIRMED,
    )


def measure_search(args, data: dict) -> dict:
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    from clinic.models import Appointment, Specialty
    from clinic.scheduling import hospital_zone, slots_generate
    from clinic.selectors import doctors_listed, doctors_with_next_free_slot

    specialty = Specialty.objects.get(slug=SEARCH_SPECIALTY)
    other = Specialty.objects.get(slug="dermatology")
    lengths = (20, 25, 30)
    doctors = doctors_bulk(
        users_bulk("doctor", "search-doctor", SEARCH_DOCTORS),
        specialty,
        slot_minutes=lambda n: lengths[n % 3],
    )
    doctors_bulk(users_bulk("doctor", "other-doctor", OTHER_DOCTORS), other)
    booker = patient_login("search-patient@bench.test")

    now = timezone.now()
    today = now.astimezone(hospital_zone()).date()
    day_to = today + timedelta(days=SEARCH_DAYS)
    slots_by_doctor = []
    for doctor in doctors:
        by_day: dict = {}
        for slot in slots_generate(doctor, today, day_to):
            by_day.setdefault(slot.local_start.date(), []).append(slot)
        slots_by_doctor.append(by_day)
    # One patient per doctor and place in the day: nobody is booked twice at once.
    per_day = max(len(slots) for by_day in slots_by_doctor for slots in by_day.values())
    patients = patients_bulk("search-patient", SEARCH_DOCTORS * per_day)
    rows = []
    for n, (doctor, by_day) in enumerate(zip(doctors, slots_by_doctor, strict=True)):
        solid_days = SEARCH_DAYS if n % 25 == 0 else n % 12
        for day_index, slots in enumerate(by_day.values()):
            for k, slot in enumerate(slots):
                if day_index < solid_days or k % 4 == 0:
                    patient = patients[n * per_day + k]
                    rows.append(
                        appointment_row(doctor, patient, booker, slot.start_at, slot.end_at)
                    )
    Appointment.objects.bulk_create(rows, batch_size=2000)
    data["doctors"] = len(doctors) + OTHER_DOCTORS
    data["search_appointments"] = len(rows)
    log(f"  search data: {len(doctors) + OTHER_DOCTORS} doctors, {len(rows):,} appointments")

    found = []

    def search(until=day_to) -> None:
        listed = doctors_with_next_free_slot(
            list(doctors_listed(specialty=specialty)), timezone.now(), day_to=until
        )
        found[:] = [d for d in listed if d.next_free_slot]

    # A run can take seconds: the warm-ups are the same code over one day, and the page
    # without free_before (its first ten doctors only).
    selector = timed(search, args.runs, warmup=lambda: search(today), budget_s=args.budget)
    selector.update(found=len(found), listed=SEARCH_DOCTORS)

    client = Client()
    client.force_login(booker)
    url = f"/doctors/?specialty={specialty.slug}"
    free_before = f"&free_before={day_to.isoformat()}"

    def page(query=free_before) -> None:
        response = client.get(url + query, secure=True)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}{query} answered {response.status_code}")

    return {
        "search": selector,
        "page": timed(page, args.runs, warmup=lambda: page(""), budget_s=args.budget),
    }


def measure_homes(args) -> dict:
    """Warm query counts and median ms of the patient and doctor homes, 1 vs 500 rows."""
    from datetime import datetime, timedelta

    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from clinic.models import Appointment, Doctor, Specialty
    from clinic.scheduling import hospital_zone
    from core.models import Role
    from core.services import user_create

    zone = hospital_zone()
    today = timezone.localdate(timezone.now(), zone)

    def at(days: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(today + timedelta(days=days), dtime(hour, minute), tzinfo=zone)

    specialty = Specialty.objects.get(slug="general-medicine")
    colleagues = doctors_bulk(users_bulk("doctor", "home-colleague", 10), specialty)
    home_doctors = {}
    for count in (1, HOME_APPOINTMENTS):
        user = user_create(email=f"home-doctor-{count}@bench.test", password=None, role=Role.DOCTOR)
        TOTP.activate(user, generate_totp_secret())
        home_doctors[count] = Doctor.objects.create(
            user=user,
            specialty=specialty,
            licence_number=f"BENCH-HOME-{count}",
            status=Doctor.Status.VERIFIED,
        )
    home_patients = {
        count: patient_login(f"home-patient-{count}@bench.test") for count in (1, HOME_APPOINTMENTS)
    }

    rows = []
    done, confirmed = Appointment.Status.COMPLETED, Appointment.Status.CONFIRMED
    # The patients: one visit a day, half behind them and half ahead.
    for count, user in home_patients.items():
        for n in range(count):
            day = n - count // 2 if count > 1 else 1
            start = at(day, 10 if count > 1 else 11)
            rows.append(
                appointment_row(
                    colleagues[n % len(colleagues)],
                    user.patient,
                    user,
                    start,
                    start + timedelta(minutes=30),
                    status=done if day < 0 else confirmed,
                )
            )
    # The doctors: 96 five-minute visits a day from 08:00, today among the days.
    pool = patients_bulk("home-patient", 96)
    booker = home_patients[1]
    for count, doctor in home_doctors.items():
        for n in range(count):
            day = n // 96 - 2 if count > 1 else 0
            # The one-visit doctor's visit at 17:00, after the other's (the pool is shared).
            start = at(day, 8 if count > 1 else 17) + timedelta(minutes=5 * (n % 96))
            rows.append(
                appointment_row(
                    doctor,
                    pool[n % 96],
                    booker,
                    start,
                    start + timedelta(minutes=5),
                    status=done if day < 0 else confirmed,
                )
            )
    Appointment.objects.bulk_create(rows, batch_size=2000)

    users = {
        "patient": {str(count): user for count, user in home_patients.items()},
        "doctor": {str(count): doctor.user for count, doctor in home_doctors.items()},
    }
    counts: dict = {}
    times: dict = {}
    for page, by_count in users.items():
        for count, user in by_count.items():
            client = Client()
            client.force_login(user)
            client.get(f"/{page}/", secure=True)  # cold: per-process caches fill
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"/{page}/", secure=True)
            if response.status_code != 200:
                raise SystemExit(f"GET /{page}/ as {user.email} answered {response.status_code}")
            counts.setdefault(page, {})[count] = len(queries)
            samples = []
            for _ in range(max(5, args.runs)):
                started = time.perf_counter()
                client.get(f"/{page}/", secure=True)
                samples.append((time.perf_counter() - started) * 1000)
            times.setdefault(page, {})[count] = statistics.median(samples)
    return {"homes": counts, "home_ms": times}


def booking_plan(doctors, slots_by_doctor_day, days, client: int, slots_a_day: int):
    """Client `client`'s (doctor, start) list: every doctor on every day once, at place
    (client + doctor) % slots_a_day of the day. No two clients share a slot, and no client's
    patient is booked twice at one time (the doctors' slots are aligned)."""
    plan = []
    for day in days:
        for j in range(len(doctors)):
            d = (j + 3 * client) % len(doctors)  # clients start at different doctors
            slots = slots_by_doctor_day[doctors[d].pk][day]
            plan.append((doctors[d].pk, slots[(client + d) % slots_a_day].start_at))
    return plan


def measure_bookings(args) -> dict:
    import threading
    from datetime import timedelta

    from django.db import close_old_connections, connection
    from django.utils import timezone

    from clinic.models import Appointment, Doctor, Specialty
    from clinic.scheduling import hospital_zone, slots_generate
    from clinic.services.appointments import SchedulingError, SlotTaken, appointment_book
    from core.models import User

    specialty = Specialty.objects.get(slug="pediatrics")
    doctors = doctors_bulk(
        users_bulk("doctor", "booking-doctor", BOOKING_DOCTORS), specialty, slot_minutes=20
    )
    today = timezone.localdate(timezone.now(), hospital_zone())
    first, last = today + timedelta(days=1), today + timedelta(days=SEARCH_DAYS)
    slots_by_doctor_day: dict = {}
    for doctor in doctors:
        by_day = slots_by_doctor_day.setdefault(doctor.pk, {})
        for slot in slots_generate(doctor, first, last):
            by_day.setdefault(slot.local_start.date(), []).append(slot)
    days = sorted(slots_by_doctor_day[doctors[0].pk])
    slots_a_day = min(len(slots) for slots in slots_by_doctor_day[doctors[0].pk].values())
    assert max(args.clients, BOOKING_DOCTORS) <= slots_a_day

    # Contended rounds use days from the far end, distinct clients and doctors' days.
    contended_doctors, contended_days = doctors[:5], days[-(args.rounds // 5 + 1) :]
    plan_days = days[: len(days) - len(contended_days)]
    clients = [patient_login(f"booking-client-{n}@bench.test") for n in range(args.clients)]
    racers = [patient_login(f"booking-racer-{n}@bench.test") for n in range(args.clients)]
    log(f"  bookings: {args.clients} clients for {args.duration}s, then {args.rounds} rounds")

    def run_threads(target, users) -> tuple[float, list]:
        outcomes: list = [None] * len(users)
        barrier = threading.Barrier(len(users) + 1)
        threads = [
            threading.Thread(target=worker, args=(target, n, user.pk, barrier, outcomes))
            for n, user in enumerate(users)
        ]
        for thread in threads:
            thread.start()
        with contextlib.suppress(threading.BrokenBarrierError):  # a client failed: see outcomes
            barrier.wait()  # every thread has its connection and objects: go
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started, outcomes

    def worker(target, n, user_id, barrier, outcomes) -> None:
        close_old_connections()
        try:
            user = User.objects.select_related("patient").get(pk=user_id)
            mine = {d.pk: d for d in Doctor.objects.filter(pk__in=[d.pk for d in doctors])}
            barrier.wait()
            outcomes[n] = target(n, user, mine)
        except Exception as error:  # reported by the main thread, not lost in this one
            outcomes[n] = {"error": repr(error)}
            barrier.abort()
            race.abort()  # the others would wait for this client at the next slot
        finally:
            connection.close()

    def book(user, doctor, start_at, tally) -> None:
        started = time.perf_counter()
        try:
            appointment_book(booked_by=user, patient=user.patient, doctor=doctor, start_at=start_at)
        except SlotTaken:
            tally["refused"] += 1
        except SchedulingError:
            tally["other"] += 1
        else:
            tally["booked"] += 1
        tally["latencies"].append((time.perf_counter() - started) * 1000)

    def distinct(n, user, mine) -> dict:
        tally = {"booked": 0, "refused": 0, "other": 0, "latencies": []}
        plan = booking_plan(doctors, slots_by_doctor_day, plan_days, n, slots_a_day)
        deadline = time.monotonic() + args.duration
        for doctor_id, start_at in plan:
            if time.monotonic() >= deadline:
                break
            book(user, mine[doctor_id], start_at, tally)
        return tally

    targets = []
    for r in range(args.rounds):
        doctor = contended_doctors[r % len(contended_doctors)]
        # Round r's slot: a racer who wins several on one day wins them at different times.
        slots = slots_by_doctor_day[doctor.pk][contended_days[r // len(contended_doctors)]]
        targets.append((doctor.pk, slots[r % len(contended_doctors)].start_at))
    race = threading.Barrier(args.clients)

    def contended(n, user, mine) -> dict:
        tally = {"booked": 0, "refused": 0, "other": 0, "latencies": []}
        for doctor_id, start_at in targets:
            race.wait()
            book(user, mine[doctor_id], start_at, tally)
        return tally

    # One booking first, outside the figures: URLconf, templates and mail fill their caches.
    warmup = patient_login("booking-warmup@bench.test")
    first_slot = slots_by_doctor_day[doctors[-1].pk][contended_days[-1]][0]
    appointment_book(
        booked_by=warmup, patient=warmup.patient, doctor=doctors[-1], start_at=first_slot.start_at
    )

    results = {}
    for name, target, users in (("bookings", distinct, clients), ("contended", contended, racers)):
        elapsed, outcomes = run_threads(target, users)
        errors = sorted(
            ((o or {"error": "no result"})["error"] for o in outcomes if not o or "error" in o),
            key=lambda e: "BrokenBarrierError" in e,  # the cause first, not the echoes
        )
        if errors:
            raise SystemExit(f"{name}: a client failed: {errors[0]}")
        latencies = [ms_ for o in outcomes for ms_ in o["latencies"]]
        total = {k: sum(o[k] for o in outcomes) for k in ("booked", "refused", "other")}
        key = "booked" if name == "bookings" else "attempts"
        total["attempts"] = len(latencies)
        results[name] = {
            **total,
            "seconds": elapsed,
            "per_second": total[key] / elapsed,
            "p50_ms": statistics.median(latencies),
            "p95_ms": percentile(latencies, 95),
        }
    winners = [
        Appointment.objects.active().filter(doctor_id=d, start_at=s).count() for d, s in targets
    ]
    results["contended"]["one_winner_each"] = all(w == 1 for w in winners)
    return results


def overlapping_active() -> int:
    """Active appointments overlapping another active one of the same doctor or patient."""
    from django.db.models import Exists, OuterRef

    from clinic.models import Appointment

    active = Appointment.objects.active()
    total = 0
    for column in ("doctor", "patient"):
        clash = active.filter(
            **{column: OuterRef(column)},
            start_at__lt=OuterRef("end_at"),
            end_at__gt=OuterRef("start_at"),
        ).exclude(pk=OuterRef("pk"))
        total += active.filter(Exists(clash)).count()
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per search (10)")
    parser.add_argument(
        "--budget", type=float, default=10, help="seconds per search figure: fewer runs (10)"
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds of bookings (5)")
    parser.add_argument("--rounds", type=int, default=30, help="contended slots (30)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
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
