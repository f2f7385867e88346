from django.db import migrations

LANGUAGES = [
    ("en", "English"),
    ("de", "German"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("tr", "Turkish"),
    ("ar", "Arabic"),
    ("pl", "Polish"),
    ("ru", "Russian"),
    ("it", "Italian"),
    ("uk", "Ukrainian"),
]


def seed(apps, schema_editor):
    Language = apps.get_model("clinic.Language")
    for code, name in LANGUAGES:
        Language.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("clinic", "0007_doctor_profile")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
