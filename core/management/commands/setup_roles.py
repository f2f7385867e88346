from django.core.management.base import BaseCommand

from core.roles import roles_setup


class Command(BaseCommand):
    help = (
        "Create the patient, doctor, admin and editor groups with their permissions (idempotent)."
    )

    def handle(self, *args, **options):
        groups = roles_setup()
        self.stdout.write(f"Roles ready: {', '.join(sorted(groups))}")
