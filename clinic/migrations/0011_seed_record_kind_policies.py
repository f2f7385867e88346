from django.db import migrations

# Results that need a doctor's reading before a patient sees them: a raw lab value or an
# imaging report can alarm without its explanation.
RELEASE_AFTER_REVIEW = {"lab_result", "imaging"}
KINDS = [
    "visit_note",
    "diagnosis",
    "lab_result",
    "imaging",
    "vitals",
    "allergy",
    "immunization",
    "procedure",
]


def seed(apps, schema_editor):
    policy = apps.get_model("clinic", "RecordKindPolicy")
    for kind in KINDS:
        policy.objects.get_or_create(
            kind=kind, defaults={"release_after_review": kind in RELEASE_AFTER_REVIEW}
        )


class Migration(migrations.Migration):
    dependencies = [("clinic", "0010_patients_records_prescriptions")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
