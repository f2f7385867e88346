"""Demo data for `make run`: one login per role and a few doctors. Safe to run repeatedly."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from blog.demo import demo_articles_seed
from clinic.demo import (
    demo_application_seed,
    demo_appointments_seed,
    demo_child_seed,
    demo_hours_seed,
    demo_sos_seed,
)
from clinic.models import Doctor, Specialty
from clinic.services.patients import patient_create_for_account
from core.models import Role, User
from core.services import user_create

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - published in README.md for the demo only

DEMO_USERS = [
    # email, first, last, role
    ("amina.patient@demo.hospital", "Amina", "Okafor", Role.PATIENT),
    ("ben.patient@demo.hospital", "Ben", "Keller", Role.PATIENT),
    ("clara.doctor@demo.hospital", "Clara", "Weiss", Role.DOCTOR),
    ("omar.doctor@demo.hospital", "Omar", "Haddad", Role.DOCTOR),
    ("lena.doctor@demo.hospital", "Lena", "Vogel", Role.DOCTOR),
    ("admin@demo.hospital", "Ada", "Admin", Role.ADMIN),
    ("editor@demo.hospital", "Eddie", "Editor", Role.EDITOR),
]

# email -> (specialty slug, licence, status)
DEMO_DOCTORS = {
    "clara.doctor@demo.hospital": ("cardiology", "LIC-CARD-1001", Doctor.Status.VERIFIED),
    "omar.doctor@demo.hospital": ("pediatrics", "LIC-PED-2002", Doctor.Status.VERIFIED),
    "lena.doctor@demo.hospital": ("dermatology", "LIC-DERM-3003", Doctor.Status.PENDING),
}


class Command(BaseCommand):
    help = "Create the demo logins (one per role) and doctors. Idempotent."

    @transaction.atomic
    def handle(self, *args, **options):
        for email, first, last, role in DEMO_USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = user_create(
                    email=email,
                    password=DEMO_PASSWORD,
                    role=role,
                    first_name=first,
                    last_name=last,
                    email_verified=True,
                )
            if role == Role.PATIENT:
                patient_create_for_account(user=user)
            if email in DEMO_DOCTORS:
                slug, licence, status = DEMO_DOCTORS[email]
                Doctor.objects.get_or_create(
                    user=user,
                    defaults={
                        "specialty": Specialty.objects.get(slug=slug),
                        "licence_number": licence,
                        "status": status,
                        "status_changed_at": timezone.now()
                        if status == Doctor.Status.VERIFIED
                        else None,
                    },
                )
        demo_hours_seed()
        amina = User.objects.get(email="amina.patient@demo.hospital")
        child = demo_child_seed(amina)
        demo_appointments_seed(
            amina=amina,
            ben=User.objects.get(email="ben.patient@demo.hospital"),
            child=child,
            clara=Doctor.objects.get(licence_number="LIC-CARD-1001"),
            omar=Doctor.objects.get(licence_number="LIC-PED-2002"),
        )
        demo_application_seed(Doctor.objects.get(licence_number="LIC-DERM-3003"))
        demo_sos_seed(amina=amina, clara=Doctor.objects.get(licence_number="LIC-CARD-1001"))
        demo_articles_seed(
            clara=Doctor.objects.get(licence_number="LIC-CARD-1001"),
            omar=Doctor.objects.get(licence_number="LIC-PED-2002"),
            editor=User.objects.get(email="editor@demo.hospital"),
        )
        self.stdout.write(
            f"Demo data ready: {len(DEMO_USERS)} logins, password {DEMO_PASSWORD!r} (see README)"
        )
