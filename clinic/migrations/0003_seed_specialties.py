from django.db import migrations
from django.utils.text import slugify

SPECIALTIES = [
    "General medicine",
    "Cardiology",
    "Pediatrics",
    "Dermatology",
    "Gynecology",
    "Orthopedics",
    "Neurology",
    "Mental health",
    "Dentistry",
    "Physiotherapy",
    "Optometry",
    "Audiology",
]


def seed(apps, schema_editor):
    Specialty = apps.get_model("clinic.Specialty")
    for name in SPECIALTIES:
        Specialty.objects.get_or_create(slug=slugify(name), defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("clinic", "0002_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
