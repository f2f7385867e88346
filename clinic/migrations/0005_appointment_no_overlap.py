"""The database refuses overlapping active appointments for one doctor or one patient.

PostgreSQL: exclusion constraints over a half-open time range, for active rows only.
SQLite (no exclusion constraints): triggers that abort the insert or update; SQLite runs one
writer at a time (our transactions are IMMEDIATE), so the check and the write cannot interleave.
Either way the violation surfaces as IntegrityError, which the booking service turns into
"this slot was just taken".
"""

from django.db import migrations

ACTIVE = "('pending', 'confirmed')"

POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    f"""ALTER TABLE clinic_appointment ADD CONSTRAINT appointment_no_doctor_overlap
        EXCLUDE USING gist (doctor_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&)
        WHERE (status IN {ACTIVE})""",
    f"""ALTER TABLE clinic_appointment ADD CONSTRAINT appointment_no_patient_overlap
        EXCLUDE USING gist (patient_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&)
        WHERE (status IN {ACTIVE})""",
]
POSTGRES_BACKWARD = [
    "ALTER TABLE clinic_appointment DROP CONSTRAINT IF EXISTS appointment_no_doctor_overlap",
    "ALTER TABLE clinic_appointment DROP CONSTRAINT IF EXISTS appointment_no_patient_overlap",
]


def _sqlite_trigger(name: str, column: str, event: str, exclude_self: str) -> str:
    return f"""
        CREATE TRIGGER {name} BEFORE {event} ON clinic_appointment
        WHEN NEW.status IN {ACTIVE}
        BEGIN
            SELECT RAISE(ABORT, '{name}: overlapping active appointment')
            WHERE EXISTS (
                SELECT 1 FROM clinic_appointment AS other
                WHERE other.{column} = NEW.{column}
                  AND other.status IN {ACTIVE}
                  AND other.start_at < NEW.end_at
                  AND NEW.start_at < other.end_at
                  {exclude_self}
            );
        END"""


SQLITE_TRIGGERS = {
    "appointment_no_doctor_overlap_insert": ("doctor_id", "INSERT", ""),
    "appointment_no_doctor_overlap_update": (
        "doctor_id",
        "UPDATE OF status, start_at, end_at, doctor_id",
        "AND other.id != NEW.id",
    ),
    "appointment_no_patient_overlap_insert": ("patient_id", "INSERT", ""),
    "appointment_no_patient_overlap_update": (
        "patient_id",
        "UPDATE OF status, start_at, end_at, patient_id",
        "AND other.id != NEW.id",
    ),
}


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = POSTGRES_FORWARD
    elif vendor == "sqlite":
        statements = [_sqlite_trigger(name, *args) for name, args in SQLITE_TRIGGERS.items()]
    else:
        raise NotImplementedError(f"No overlap protection written for {vendor}")
    for statement in statements:
        schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        statements = POSTGRES_BACKWARD
    else:
        statements = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("clinic", "0004_scheduling")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
