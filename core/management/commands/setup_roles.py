from django.core.management.base import BaseCommand

from blog.editorial import editorial_setup
from core.roles import roles_setup


class Command(BaseCommand):
    help = (
        "Create the patient, doctor, admin and editor groups with their permissions, and the "
        "articles section's permissions and review workflow (idempotent)."
    )

    def handle(self, *args, **options):
        groups = roles_setup()
        editorial_setup()
        self.stdout.write(f"Roles ready: {', '.join(sorted(groups))}")
