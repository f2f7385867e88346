"""The periodic jobs, registered idempotently by `manage.py setup_schedules`."""

from django_q.models import Schedule

# name -> (task path, schedule type, minutes between runs for MINUTES)
PERIODIC_SCHEDULES: dict[str, dict] = {
    "Clear expired sessions": {
        "func": "core.tasks.sessions_clear_expired",
        "schedule_type": Schedule.HOURLY,
    },
    "Send appointment reminders": {
        "func": "clinic.tasks.appointments_send_reminders",
        "schedule_type": Schedule.MINUTES,
        "minutes": 5,
    },
    "Mark missed appointments as no-show": {
        "func": "clinic.tasks.appointments_sweep_no_shows",
        "schedule_type": Schedule.MINUTES,
        "minutes": 10,
    },
    "Expire waitlist offers": {
        "func": "clinic.tasks.waitlist_expire_offers",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
    "End guardians' access at 18": {
        "func": "clinic.tasks.minors_access_end_daily",
        "schedule_type": Schedule.DAILY,
    },
    "Escalate unacknowledged SOS requests": {
        "func": "clinic.tasks.sos_escalate_overdue",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
    "Publish scheduled articles": {
        "func": "blog.tasks.articles_publish_scheduled",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
}


def schedules_setup() -> list[Schedule]:
    """Create or update each periodic schedule by name; run as often as you like."""
    schedules = []
    for name, fields in PERIODIC_SCHEDULES.items():
        defaults = {"minutes": None, "repeats": -1, **fields}
        schedule, _ = Schedule.objects.update_or_create(name=name, defaults=defaults)
        schedules.append(schedule)
    return schedules
