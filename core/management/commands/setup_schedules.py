from django.core.management.base import BaseCommand

from core.schedules import schedules_setup


class Command(BaseCommand):
    help = "Register the periodic django-q2 schedules (idempotent; run on every deploy)."

    def handle(self, *args, **options):
        for schedule in schedules_setup():
            self.stdout.write(f"Schedule ready: {schedule.name} -> {schedule.func}")
