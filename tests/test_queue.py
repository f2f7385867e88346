"""The periodic jobs: registered once however often deploys run, and run by django-q2 itself."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule, Task
from django_q.scheduler import scheduler
from django_q.tasks import async_task

SCHEDULE_NAME = "Clear expired sessions"


@pytest.fixture
def q_sync(monkeypatch):
    """Tasks run inline through django-q2's worker and monitor, as Q_SYNC=true does."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def sessions(db):
    """One session that expired yesterday and one that is still live."""
    expired = DbSessionStore()
    expired["note"] = "old"
    expired.set_expiry(timezone.now() - timedelta(days=1))
    expired.create()
    live = DbSessionStore()
    live["note"] = "current"
    live.set_expiry(timedelta(hours=1))
    live.create()
    return expired.session_key, live.session_key


def _session_keys() -> set[str]:
    return set(Session.objects.values_list("session_key", flat=True))


@pytest.mark.django_db
def test_setup_schedules_twice_leaves_exactly_one_schedule(capsys):
    call_command("setup_schedules")
    call_command("setup_schedules")

    schedules = Schedule.objects.filter(name=SCHEDULE_NAME)
    assert schedules.count() == 1
    schedule = schedules.get()
    assert schedule.func == "core.tasks.sessions_clear_expired"
    assert schedule.schedule_type == Schedule.HOURLY
    assert schedule.repeats == -1  # for ever
    assert f"Schedule ready: {SCHEDULE_NAME}" in capsys.readouterr().out


@pytest.mark.django_db
def test_setup_schedules_repairs_an_edited_schedule():
    call_command("setup_schedules")
    Schedule.objects.filter(name=SCHEDULE_NAME).update(schedule_type=Schedule.DAILY, repeats=0)

    call_command("setup_schedules")

    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert (schedule.schedule_type, schedule.repeats) == (Schedule.HOURLY, -1)


@pytest.mark.django_db
def test_clear_expired_sessions_task_deletes_only_expired_sessions(q_sync, sessions):
    expired_key, live_key = sessions

    task_id = async_task("core.tasks.sessions_clear_expired")

    task = Task.objects.get(id=task_id)
    assert task.success, task.result
    assert expired_key not in _session_keys()
    assert live_key in _session_keys()


@pytest.mark.django_db
def test_clear_expired_sessions_task_twice_is_harmless(q_sync, sessions):
    _expired_key, live_key = sessions

    first = async_task("core.tasks.sessions_clear_expired")
    second = async_task("core.tasks.sessions_clear_expired")

    assert Task.objects.get(id=first).success
    assert Task.objects.get(id=second).success
    assert _session_keys() == {live_key}


@pytest.mark.django_db
def test_the_scheduler_runs_the_registered_schedule(q_sync, sessions):
    _expired_key, live_key = sessions
    call_command("setup_schedules")
    Schedule.objects.filter(name=SCHEDULE_NAME).update(
        next_run=timezone.now() - timedelta(minutes=1)
    )

    scheduler(broker=get_broker())

    task = Task.objects.get(group=SCHEDULE_NAME)
    assert task.success, task.result
    assert task.func == "core.tasks.sessions_clear_expired"
    assert _session_keys() == {live_key}
    # The next run is about an hour away, not again at once.
    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert schedule.next_run > timezone.now() + timedelta(minutes=50)


@pytest.mark.django_db
def test_a_signed_in_users_session_survives_the_cleanup(q_sync, client_for, amina):
    client = client_for(amina)
    assert client.get("/patient/").status_code == 200

    async_task("core.tasks.sessions_clear_expired")

    assert client.get("/patient/").status_code == 200
