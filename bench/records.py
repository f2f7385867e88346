"""Records benchmark (`make bench`, after bench/scheduling.py): a long timeline, and the
permission helper every patient page goes through.

Each database backend gets a fresh database, built here and thrown away at the end: SQLite in
a temp dir, and PostgreSQL when a server answers (the database `bench_records`, created and
dropped here). A child process per backend (this script with --child, DEBUG off, production
settings otherwise) migrates it, builds the data with bulk_create, and measures; the parent
prints one markdown table with a column per backend and writes it to bench/results/records.md.

1. Timeline: two patients with a login, one with 10 records and one with 2,000, written by one
   treating doctor (a visit completed yesterday) and cycling through every record type: lab
   results with three analytes (one in three out of range; one lab result in four still
   awaiting review, which the patient does not see), vital signs, one record in seven with an
   attachment row (no file behind it: the page lists attachments, it never opens them), one in
   five with an annotation. Measured: the page GET /patients/<uuid>/records/ (Django's test
   client, first page of 20) as the treating doctor (with an authenticator app, so the staff
   MFA requirement stays on as in production) and as the patient, median and p95 ms over
   --runs runs after a warm-up, and the SQL queries of a run; then the selector
   `patient_timeline` alone, for the first page and for every record (as the printable
   summary reads it). The queries must not grow with the records: the script exits non-zero
   when a count with 2,000 records differs from the one with 10.
2. Permission checks/s: `patient_access(user, patient).may(Capability.VIEW_RECORDS)` in a loop
   for --seconds seconds each, for the patient herself, a proxy holding guardian's
   per-object permissions, the treating doctor and a doctor who does not treat her; with the
   queries of one check. The user objects are warm (the doctor profile already loaded), as
   they are within one request after authentication.

    .venv/bin/python bench/records.py [--runs 10] [--seconds 2] [--keep]

PostgreSQL: BENCH_DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/);
only its host, port and credentials are used. DATABASE_URL is deliberately ignored: it is the
developer's own database, and this script drops what it creates. Without a reachable server
the PostgreSQL column says "skipped: needs PostgreSQL".
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
from scheduling import (
    SKIPPED_PG,
    backends_run,
    child_env,
    log,
    timed,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
PG_DATABASE = "bench_records"

FEW, MANY = 10, 2_000
PAGE = 20  # clinic.views.records.PAGE_SIZE
ACTORS = ("owner", "proxy", "treating doctor", "other doctor")


# --- parent: one child process per backend, then the table ---------------------------------


def run_child(name: str, database_url: str, workdir: Path, args) -> dict:
    log(f"{name}: fresh database, data, measurements")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        f"--runs={args.runs}",
        f"--seconds={args.seconds}",
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
    return f"{timing['median_ms']:,.1f} / {timing['p95_ms']:,.1f} ms"


def counts_equal(result: dict) -> bool:
    return all(
        figures[str(FEW)]["queries"] == figures[str(MANY)]["queries"]
        for figures in result["timings"].values()
    )


ROWS = [
    ("page:doctor", "`GET /patients/<uuid>/records/` as the treating doctor"),
    ("page:patient", "`GET /patients/<uuid>/records/` as the patient"),
    ("selector:page", "`patient_timeline`, first page of 20"),
    ("selector:all", "`patient_timeline`, every record"),
]


def cells(result: dict | None) -> dict[str, str]:
    if result is None:
        return {}
    out = {}
    for key, _label in ROWS:
        few, many = result["timings"][key][str(FEW)], result["timings"][key][str(MANY)]
        out[f"{key}:ms"] = f"{ms(few)} · {ms(many)}"
        same = "equal" if few["queries"] == many["queries"] else "DIFFERENT"
        out[f"{key}:q"] = f"{few['queries']} / {many['queries']} ({same})"
    for actor in ACTORS:
        check = result["checks"][actor]
        out[f"check:{actor}"] = (
            f"{check['per_second']:,.0f}/s ({check['queries']} "
            f"{'query' if check['queries'] == 1 else 'queries'}, "
            f"{'allowed' if check['allowed'] else 'refused'})"
        )
    return out


def table(sqlite: dict, postgres: dict | None, missing: str) -> str:
    left, right = cells(sqlite), cells(postgres)
    lines = ["| figure | SQLite | PostgreSQL |", "|---|---:|---:|"]
    for key, label in ROWS:
        lines.append(
            f"| {label}: median / p95, {FEW} · {MANY:,} records "
            f"| {left[f'{key}:ms']} | {right.get(f'{key}:ms', missing)} |"
        )
        lines.append(
            f"| {label}: queries, {FEW} / {MANY:,} records "
            f"| {left[f'{key}:q']} | {right.get(f'{key}:q', missing)} |"
        )
    for actor in ACTORS:
        key = f"check:{actor}"
        lines.append(
            f"| `patient_access(…).may(VIEW_RECORDS)`, {actor} "
            f"| {left[key]} | {right.get(key, missing)} |"
        )
    return "\n".join(lines)


def parent(args) -> int:
    started_at = time.monotonic()
    load_before = os.getloadavg()[0]
    sqlite, postgres, missing = backends_run(
        run_child, args, name="records", pg_database=PG_DATABASE
    )

    data = sqlite["data"]
    text = "\n".join(
        [
            f"Records: {os.cpu_count()} CPUs (load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after); DEBUG=false, no Redis; each backend a fresh "
            "database",
            f"- timeline: {FEW} and {MANY:,} records of every type ({data['analytes']:,} "
            f"analytes, {data['attachments']} attachment rows, {data['annotations']} "
            f"annotations with {MANY:,}; the patient sees {data['released']:,} of them); "
            f"pages of {PAGE}, {args.runs} runs each after a warm-up",
            f"- checks: each for {args.seconds:g}s with warm user objects; queries of one check",
            "",
            table(sqlite, postgres, missing),
            "",
            f"total time {time.monotonic() - started_at:.0f}s",
        ]
    )
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "records.md").write_text(text + "\n")
    failed = [result for result in (sqlite, postgres) if result and not counts_equal(result)]
    wrong_answers = [
        actor
        for result in (sqlite, postgres)
        if result
        for actor, check in result["checks"].items()
        if check["allowed"] != (actor != "other doctor")
    ]
    return 1 if failed or wrong_answers or missing != SKIPPED_PG else 0


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
    cast = cast_create()
    data = {
        str(count): records_bulk(cast[f"patient_{count}"].patient, cast["doctor"].doctor, count)
        for count in (FEW, MANY)
    }
    log("  data built")
    result = {"data": data[str(MANY)], "timings": measure_timeline(args, cast)}
    log("  timeline measured")
    result["checks"] = measure_checks(args, cast)
    log("  checks measured")
    print(json.dumps(result))


def login(email: str, role: str, **names):
    """A login made the way signup makes it (service functions); a patient gets her record."""
    from clinic.services.patients import patient_create_for_account
    from core.services import user_create

    user = user_create(email=email, password=None, role=role, email_verified=True, **names)
    if role == "patient":
        patient_create_for_account(user=user)
    return user


def cast_create() -> dict:
    """Two patients (10 and 2,000 records), a proxy of the larger one, her treating doctor
    (a visit completed yesterday) and a doctor who does not treat her."""
    from datetime import timedelta

    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.utils import timezone
    from guardian.shortcuts import assign_perm

    from clinic.models import Appointment, ConsultationMode, Doctor, Specialty
    from clinic.scheduling import hospital_zone
    from clinic.services.patients import ALL_SCOPES

    specialty = Specialty.objects.get(slug="general-medicine")
    cast = {}
    for key, n in (("doctor", 1), ("other_doctor", 2)):
        user = login(f"records-doctor-{n}@bench.test", "doctor", first_name=f"Doc{n}")
        TOTP.activate(user, generate_totp_secret())
        Doctor.objects.create(
            user=user,
            specialty=specialty,
            licence_number=f"BENCH-RECORDS-{n}",
            status=Doctor.Status.VERIFIED,
        )
        cast[key] = user
    for count in (FEW, MANY):
        cast[f"patient_{count}"] = login(f"records-patient-{count}@bench.test", "patient")
    cast["proxy"] = login("records-proxy@bench.test", "patient")
    for scope in ALL_SCOPES:
        assign_perm(scope, cast["proxy"], cast[f"patient_{MANY}"].patient)
    start = timezone.now() - timedelta(days=1)
    for count in (FEW, MANY):
        patient = cast[f"patient_{count}"]
        Appointment.objects.create(
            doctor=cast["doctor"].doctor,
            patient=patient.patient,
            booked_by=patient,
            start_at=start,
            end_at=start + timedelta(minutes=30),
            local_date=start.astimezone(hospital_zone()).date(),
            mode=ConsultationMode.IN_PERSON,
            status=Appointment.Status.COMPLETED,
        )
    return cast


def records_bulk(patient, author, count: int) -> dict:
    """`count` records cycling through every type, three a day going back, with their
    analytes, vital signs, attachment rows and annotations."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from clinic.models import (
        LabAnalyte,
        MedicalRecord,
        RecordAnnotation,
        RecordAttachment,
        RecordKind,
        VitalSigns,
    )

    now = timezone.now()
    today = timezone.localdate()
    kinds = list(RecordKind)
    labs = 0
    rows = []
    for n in range(count):
        kind = kinds[n % len(kinds)]
        held = False
        if kind == RecordKind.LAB_RESULT:
            held, labs = labs % 4 == 3, labs + 1
        rows.append(
            MedicalRecord(
                patient=patient,
                author=author,
                kind=kind,
                title=f"{kind.label} {n}",
                text="Bench record. " * 20,
                occurred_on=today - timedelta(days=n // 3),
                released_at=None if held else now,
                reviewed_at=None if held or kind != RecordKind.LAB_RESULT else now,
                reviewed_by=None if held or kind != RecordKind.LAB_RESULT else author,
            )
        )
    records = MedicalRecord.objects.bulk_create(rows, batch_size=500)
    analytes = [
        LabAnalyte(
            record=record,
            name=name,
            value=Decimal(value),
            unit=unit,
            reference_low=Decimal(low),
            reference_high=Decimal(high),
            out_of_range=not Decimal(low) <= Decimal(value) <= Decimal(high),
        )
        for n, record in enumerate(records)
        if record.kind == RecordKind.LAB_RESULT
        for name, value, unit, low, high in (
            ("Haemoglobin", "9.1" if n % 3 == 0 else "13.2", "g/dL", "11.5", "15.5"),
            ("Leukocytes", "6.4", "10^9/L", "4.0", "11.0"),
            ("Platelets", "250", "10^9/L", "150", "400"),
        )
    ]
    LabAnalyte.objects.bulk_create(analytes, batch_size=1000)
    VitalSigns.objects.bulk_create(
        VitalSigns(
            record=record,
            systolic_mmhg=120,
            diastolic_mmhg=80,
            heart_rate_bpm=70,
            temperature_c=Decimal("36.8"),
            spo2_percent=98,
            weight_kg=Decimal("61.5"),
        )
        for record in records
        if record.kind == RecordKind.VITALS
    )
    attachments = RecordAttachment.objects.bulk_create(
        RecordAttachment(
            record=record,
            file=f"records/{patient.public_id}/bench-{n}.pdf",
            original_name=f"scan-{n}.pdf",
            content_type="application/pdf",
            size=120_000,
            sha256="0" * 64,
            uploaded_by=author.user,
        )
        for n, record in enumerate(records)
        if n % 7 == 0
    )
    annotations = RecordAnnotation.objects.bulk_create(
        RecordAnnotation(record=record, author=author, text="Discussed with the patient.")
        for n, record in enumerate(records)
        if n % 5 == 0
    )
    return {
        "records": len(records),
        "released": sum(record.released_at is not None for record in records),
        "analytes": len(analytes),
        "attachments": len(attachments),
        "annotations": len(annotations),
    }


def measure_timeline(args, cast) -> dict:
    from django.test import Client

    from clinic.permissions import patient_access
    from clinic.selectors import patient_timeline

    timings: dict = {}
    for count in (FEW, MANY):
        owner = cast[f"patient_{count}"]
        patient = owner.patient
        url = f"/patients/{patient.public_id}/records/"
        for who, user in (("doctor", cast["doctor"]), ("patient", owner)):
            client = Client()
            client.force_login(user)

            def page(client=client, url=url, who=who) -> None:
                response = client.get(url, secure=True)
                if response.status_code != 200:
                    raise SystemExit(f"GET {url} as the {who} answered {response.status_code}")

            timings.setdefault(f"page:{who}", {})[str(count)] = timed(
                page, args.runs, warmup=page, budget_s=10
            )
        access = patient_access(cast["doctor"], patient)

        def first_page(patient=patient, access=access) -> None:
            list(patient_timeline(patient, access=access)[:PAGE])

        def every_record(patient=patient, access=access) -> None:
            list(patient_timeline(patient, access=access))

        for key, function in (("selector:page", first_page), ("selector:all", every_record)):
            timings.setdefault(key, {})[str(count)] = timed(
                function, args.runs, warmup=first_page, budget_s=10
            )
    return timings


def measure_checks(args, cast) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from clinic.permissions import Capability, patient_access
    from core.models import User

    patient = cast[f"patient_{MANY}"].patient
    users = {
        "owner": cast[f"patient_{MANY}"],
        "proxy": cast["proxy"],
        "treating doctor": cast["doctor"],
        "other doctor": cast["other_doctor"],
    }
    checks = {}
    for actor, user in users.items():
        user = User.objects.select_related("doctor").get(pk=user.pk)

        def check(user=user) -> bool:
            return patient_access(user, patient).may(Capability.VIEW_RECORDS)

        allowed = check()  # warm
        with CaptureQueriesContext(connection) as queries:
            check()
        done = 0
        started = time.perf_counter()
        deadline = started + args.seconds
        while time.perf_counter() < deadline:
            for _ in range(50):
                check()
            done += 50
        checks[actor] = {
            "allowed": allowed,
            "queries": len(queries),
            "per_second": done / (time.perf_counter() - started),
        }
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per figure (10)")
    parser.add_argument("--seconds", type=float, default=2, help="seconds of checks per actor (2)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (db)")
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
