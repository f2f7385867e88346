"""SOS: raising a request, its state machine, the staff board, going on duty, escalation to
admins (once, however often the job runs) and the CMS listing."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.tasks import async_task
from guardian.shortcuts import assign_perm

from clinic.models import PatientDelegate, SOSEvent, SOSRequest
from clinic.services.patients import dependent_add
from clinic.services.sos import (
    SOSError,
    doctor_set_on_duty,
    sos_acknowledge,
    sos_cancel,
    sos_dispatch,
    sos_escalate,
    sos_escalate_overdue,
    sos_mark_false_alarm,
    sos_raise,
    sos_resolve,
)
from core.models import AuditEvent, Notification, NotificationKind
from tests.conftest import htmx
from tests.factories import AdminUserFactory, PatientUserFactory, make_doctor

pytestmark = pytest.mark.django_db

Status = SOSRequest.Status


@pytest.fixture
def on_duty(dr_clara):
    """Dr Clara, verified and on duty."""
    doctor = make_doctor(dr_clara)
    doctor.on_duty_since = timezone.now()
    doctor.save(update_fields=["on_duty_since"])
    return doctor


@pytest.fixture
def off_duty(dr_omar):
    """Dr Omar, verified, off duty (with TOTP so the staff MFA gate lets him through)."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(dr_omar, generate_totp_secret())
    return make_doctor(dr_omar)


@pytest.fixture
def amina_profile(amina):
    patient = amina.patient
    patient.blood_type = "O-"
    patient.allergies = "Penicillin"
    patient.chronic_conditions = "Asthma"
    patient.current_medications = "Salbutamol inhaler"
    patient.emergency_contact_name = "Kofi Okafor"
    patient.emergency_contact_phone = "+49 30 1234567"
    patient.save()
    return patient


def _raise(user, patient, **fields):
    return sos_raise(by=user, patient=patient, description="Chest pain", place="Ward 3", **fields)


def _post_sos(client, patient, **extra):
    data = {"patient": str(patient.public_id), "description": "Fell down", "place": "Kitchen"}
    data.update(extra)
    return client.post("/sos/", data)


# --- Raising ------------------------------------------------------------------------------------


def test_patient_raises_sos_for_herself_and_on_duty_staff_are_alerted(
    amina,
    amina_profile,
    on_duty,
    off_duty,
    ada,
    eddie,
    client_for,
    django_capture_on_commit_callbacks,
):
    client = client_for(amina)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post_sos(
            client, amina.patient, latitude="52.520008", longitude="13.404954", accuracy="35.4"
        )

    sos = SOSRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/sos/{sos.public_id}/"
    assert (sos.status, sos.raised_by, sos.patient) == (Status.OPEN, amina, amina.patient)
    assert (str(sos.latitude), str(sos.longitude), sos.location_accuracy_m) == (
        "52.520008",
        "13.404954",
        35,
    )
    assert sos.events.get().status == Status.OPEN
    alerted = set(
        Notification.objects.filter(kind=NotificationKind.SOS).values_list("recipient", flat=True)
    )
    # Doctors on duty and admins; not the doctor off duty, the editor or the patient herself.
    assert alerted == {on_duty.user_id, ada.pk}
    audit = AuditEvent.objects.get(action=AuditEvent.Action.CREATE, target_id=str(sos.public_id))
    assert audit.patient_public_id == amina.patient.public_id
    # The escalation is scheduled for two minutes after the request.
    schedule = Schedule.objects.get(name=f"SOS escalation {sos.public_id}")
    assert schedule.func == "clinic.tasks.sos_escalate"
    assert schedule.next_run == sos.created_at + timedelta(seconds=120)

    page = client.get(response["Location"])
    body = page.content.decode()
    assert page.status_code == 200
    assert "If a life is in danger, call" in body and "112" in body
    assert f'ws-connect="/ws/sos/{sos.public_id}/"' in body


def test_the_sos_page_shows_the_emergency_number_and_who_she_may_raise_it_for(amina, client_for):
    noah = dependent_add(
        by=amina,
        first_name="Noah",
        last_name="Okafor",
        date_of_birth=timezone.localdate() - timedelta(days=6 * 365),
        relationship=PatientDelegate.Relationship.CHILD,
    )
    body = client_for(amina).get("/sos/").content.decode()

    assert "If a life is in danger, call" in body
    assert str(amina.patient.public_id) in body and str(noah.public_id) in body
    assert 'id="sos-button"' in body and "js/sos.js" in body
    assert "<script>" not in body and 'style="' not in body


def test_a_guardian_raises_sos_for_her_child(amina, client_for, on_duty):
    noah = dependent_add(
        by=amina,
        first_name="Noah",
        last_name="Okafor",
        date_of_birth=timezone.localdate() - timedelta(days=6 * 365),
        relationship=PatientDelegate.Relationship.CHILD,
    )
    response = _post_sos(client_for(amina), noah)

    sos = SOSRequest.objects.get()
    assert response.status_code == 302
    assert (sos.patient, sos.raised_by) == (noah, amina)
    audit = AuditEvent.objects.get(action=AuditEvent.Action.CREATE, target_id=str(sos.public_id))
    assert audit.acting_for_patient


def test_a_proxy_with_the_sos_scope_may_raise_one_without_it_is_refused(amina, client_for):
    with_scope = PatientUserFactory(email="grace@example.test")
    without = PatientUserFactory(email="paul@example.test")
    for proxy in (with_scope, without):
        assign_perm("clinic.view_patient", proxy, amina.patient)
    assign_perm("clinic.request_sos_patient", with_scope, amina.patient)

    assert _post_sos(client_for(without), amina.patient).status_code == 403
    assert not SOSRequest.objects.exists()
    assert _post_sos(client_for(with_scope), amina.patient).status_code == 302
    assert SOSRequest.objects.get().raised_by == with_scope


def test_an_outsider_gets_404_for_someone_elses_patient(amina, ben, client_for):
    assert _post_sos(client_for(ben), amina.patient).status_code == 404
    assert not SOSRequest.objects.exists()
    with pytest.raises(PermissionDenied):
        _raise(ben, amina.patient)


@pytest.mark.parametrize("who", ["dr_clara", "ada", "eddie"])
def test_staff_roles_may_not_raise_sos(who, amina, client_for, request):
    user = request.getfixturevalue(who)
    client = client_for(user)

    assert client.get("/sos/").status_code == 403
    assert _post_sos(client, amina.patient).status_code == 403
    assert not SOSRequest.objects.exists()


def test_anonymous_is_sent_to_sign_in(client, amina):
    assert "/accounts/login/" in client.get("/sos/")["Location"]
    assert "/accounts/login/" in _post_sos(client, amina.patient)["Location"]
    assert not SOSRequest.objects.exists()


def test_raising_again_while_one_is_open_shows_the_open_one(amina, client_for):
    client = client_for(amina)
    first = _post_sos(client, amina.patient)
    second = _post_sos(client, amina.patient)

    assert SOSRequest.objects.count() == 1
    assert second["Location"] == first["Location"]
    assert "already open" in client.get(second["Location"]).content.decode()


def test_a_garbled_location_never_stops_an_sos(amina, client_for):
    response = _post_sos(
        client_for(amina), amina.patient, latitude="north", longitude="1e999", accuracy="NaN"
    )

    assert response.status_code == 302
    sos = SOSRequest.objects.get()
    assert (sos.latitude, sos.longitude, sos.location_accuracy_m) == (None, None, None)


def test_bad_input_gets_a_message_and_400(amina, client_for):
    client = client_for(amina)

    too_long = _post_sos(client, amina.patient, description="x" * 2001)
    no_patient = client.post("/sos/", {"description": "Help"})

    assert too_long.status_code == 400 and no_patient.status_code == 400
    assert "Choose who needs help." in no_patient.content.decode()
    assert not SOSRequest.objects.exists()


def test_wrong_methods_get_405(amina, on_duty, client_for):
    sos, _created = _raise(amina, amina.patient)
    assert client_for(amina).put("/sos/").status_code == 405
    assert client_for(on_duty.user).get(f"/sos/{sos.public_id}/acknowledge/").status_code == 405
    assert client_for(on_duty.user).post("/sos/board/").status_code == 405
    assert client_for(on_duty.user).get("/sos/duty/").status_code == 405


# --- The state machine --------------------------------------------------------------------------


def test_open_acknowledged_dispatched_resolved(amina, on_duty, django_capture_on_commit_callbacks):
    sos, _created = _raise(amina, amina.patient)
    clara = on_duty.user

    sos = sos_acknowledge(sos=sos, by=clara)
    assert (sos.status, sos.acknowledged_by) == (Status.ACKNOWLEDGED, clara)
    assert sos.acknowledged_at is not None
    sos = sos_dispatch(sos=sos, by=clara)
    assert sos.status == Status.DISPATCHED and sos.dispatched_at is not None
    sos = sos_resolve(sos=sos, by=clara, note="Asthma attack, inhaler given.")
    assert (sos.status, sos.closed_by, sos.close_reason) == (
        Status.RESOLVED,
        clara,
        "Asthma attack, inhaler given.",
    )
    assert list(SOSEvent.objects.filter(sos=sos).values_list("status", flat=True)) == [
        Status.OPEN,
        Status.ACKNOWLEDGED,
        Status.DISPATCHED,
        Status.RESOLVED,
    ]
    changes = AuditEvent.objects.filter(
        action=AuditEvent.Action.UPDATE, target_id=str(sos.public_id)
    )
    assert changes.count() == 3
    assert set(changes.values_list("patient_public_id", flat=True)) == {amina.patient.public_id}
    # The patient is told of each change.
    told = Notification.objects.filter(recipient=amina, kind=NotificationKind.SOS)
    assert told.count() == 3
    assert told.filter(title__contains="acknowledged by Dr Clara Weiss").exists()


def test_transitions_the_state_forbids_are_refused_with_a_reason(amina, on_duty, ada):
    sos, _created = _raise(amina, amina.patient)
    clara = on_duty.user

    with pytest.raises(SOSError, match="cannot be marked help dispatched"):
        sos_dispatch(sos=sos, by=clara)
    with pytest.raises(SOSError):
        sos_resolve(sos=sos, by=clara)
    sos_acknowledge(sos=sos, by=clara)
    with pytest.raises(SOSError, match="Already acknowledged by Dr Clara Weiss"):
        sos_acknowledge(sos=sos, by=ada)
    with pytest.raises(SOSError, match="Give the reason"):
        sos_mark_false_alarm(sos=sos, by=ada, reason="  ")
    with pytest.raises(SOSError, match="Give the reason"):
        sos_cancel(sos=sos, by=ada, reason="")
    sos_mark_false_alarm(sos=sos, by=ada, reason="Pressed by a child playing")
    for change in (
        lambda: sos_acknowledge(sos=sos, by=clara),
        lambda: sos_dispatch(sos=sos, by=clara),
        lambda: sos_resolve(sos=sos, by=clara),
        lambda: sos_cancel(sos=sos, by=amina),
        lambda: sos_mark_false_alarm(sos=sos, by=ada, reason="Again"),
    ):
        with pytest.raises(SOSError, match="already closed"):
            change()
    sos.refresh_from_db()
    assert (sos.status, sos.close_reason) == (Status.FALSE_ALARM, "Pressed by a child playing")


def test_the_patient_cancels_without_a_reason_staff_must_give_one(amina, ben, on_duty):
    sos, _created = _raise(amina, amina.patient)
    sos = sos_cancel(sos=sos, by=amina)
    assert (sos.status, sos.closed_by, sos.close_reason) == (Status.CANCELLED, amina, "")

    other, _created = _raise(ben, ben.patient)
    with pytest.raises(SOSError):
        sos_cancel(sos=other, by=on_duty.user)
    other = sos_cancel(sos=other, by=on_duty.user, reason="Ben called: he is fine")
    assert other.status == Status.CANCELLED
    # Neither may touch the other's: a patient of another patient's request is refused.
    third, _created = _raise(ben, ben.patient)
    with pytest.raises(PermissionDenied):
        sos_cancel(sos=third, by=amina)


def test_who_may_handle_a_request(amina, ben, on_duty, off_duty, eddie):
    sos, _created = _raise(amina, amina.patient)

    for outsider in (off_duty.user, eddie, amina, ben):
        with pytest.raises(PermissionDenied):
            sos_acknowledge(sos=sos, by=outsider)
    sos_acknowledge(sos=sos, by=on_duty.user)
    # The doctor who acknowledged it sees it through, even after going off duty.
    doctor_set_on_duty(doctor=on_duty, on_duty=False)
    on_duty.user.refresh_from_db()
    sos_dispatch(sos=sos, by=on_duty.user)
    with pytest.raises(PermissionDenied):
        sos_resolve(sos=sos, by=off_duty.user)


# --- Pages: the status page, the board, the actions ---------------------------------------------


def test_the_status_page_answers_each_actor_as_designed(
    amina, ben, on_duty, off_duty, ada, eddie, client_for, client
):
    sos, _created = _raise(amina, amina.patient)
    url = f"/sos/{sos.public_id}/"
    delegate = PatientUserFactory(email="grace@example.test")
    assign_perm("clinic.request_sos_patient", delegate, amina.patient)
    expected = {
        amina: 200,
        delegate: 200,
        on_duty.user: 200,
        ada: 200,
        ben: 404,
        eddie: 404,
        off_duty.user: 403,
    }
    for user, status in expected.items():
        response = client_for(user).get(url)
        assert response.status_code == status, user
        if status != 200:
            assert "Okafor" not in response.content.decode()
    assert "/accounts/login/" in client.get(url)["Location"]
    assert client_for(ada).get("/sos/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_viewing_a_request_is_audited_and_staff_see_the_summary(
    amina, amina_profile, on_duty, client_for
):
    sos, _created = _raise(amina, amina.patient)

    body = client_for(on_duty.user).get(f"/sos/{sos.public_id}/").content.decode()

    for fact in (
        "O-",
        "Penicillin",
        "Asthma",
        "Salbutamol inhaler",
        "Kofi Okafor",
        "+49 30 1234567",
    ):
        assert fact in body
    view = AuditEvent.objects.get(action=AuditEvent.Action.VIEW, actor=on_duty.user)
    assert view.patient_public_id == amina.patient.public_id
    # The patient's own page shows her the status, not a staff card.
    mine = client_for(amina).get(f"/sos/{sos.public_id}/").content.decode()
    assert "Cancel this SOS" in mine and "Emergency summary" not in mine


def test_the_board_for_doctors_on_and_off_duty_admins_and_others(
    amina, amina_profile, on_duty, off_duty, ada, eddie, client_for, client
):
    sos, _created = _raise(amina, amina.patient)

    clara_board = client_for(on_duty.user).get("/sos/board/").content.decode()
    assert f'id="sos-{sos.public_id}"' in clara_board
    assert "Penicillin" in clara_board and 'ws-connect="/ws/sos/staff/"' in clara_board
    assert "Go off duty" in clara_board
    omar = client_for(off_duty.user).get("/sos/board/")
    assert omar.status_code == 200
    omar_board = omar.content.decode()
    assert "You are off duty" in omar_board and "Go on duty" in omar_board
    assert "Okafor" not in omar_board and "/ws/sos/staff/" not in omar_board
    assert f'id="sos-{sos.public_id}"' in client_for(ada).get("/sos/board/").content.decode()
    for user in (amina, eddie):
        assert client_for(user).get("/sos/board/").status_code == 403
    assert "/accounts/login/" in client.get("/sos/board/")["Location"]
    # Each summary shown on the board is audited with its patient.
    assert (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.VIEW, patient_public_id=amina.patient.public_id
        ).count()
        == 2
    )


def test_board_actions_by_htmx_return_the_card_and_plain_posts_redirect(amina, on_duty, client_for):
    sos, _created = _raise(amina, amina.patient)
    client = client_for(on_duty.user)
    base = f"/sos/{sos.public_id}"

    response = client.post(
        f"{base}/acknowledge/", {"from": "board"}, **htmx(f"sos-{sos.public_id}")
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<article id="sos-{sos.public_id}"')
    assert "<html" not in body and "Help dispatched" in body

    again = client.post(f"{base}/acknowledge/", {"from": "board"}, **htmx(f"sos-{sos.public_id}"))
    assert again.status_code == 409
    assert "Already acknowledged by Dr Clara Weiss" in again.content.decode()

    no_reason = client.post(f"{base}/false-alarm/", {"from": "board", "reason": ""})
    assert no_reason.status_code == 400
    assert "Give the reason." in no_reason.content.decode()

    dispatched = client.post(f"{base}/dispatch/", {"from": "board"})
    assert dispatched.status_code == 302 and dispatched["Location"] == "/sos/board/"
    resolved = client.post(f"{base}/resolve/", {"reason": "All well"})
    assert resolved["Location"] == f"{base}/"
    sos.refresh_from_db()
    assert (sos.status, sos.close_reason) == (Status.RESOLVED, "All well")


def test_action_urls_answer_each_actor_as_designed(
    amina, ben, on_duty, off_duty, ada, eddie, client_for, client
):
    sos, _created = _raise(amina, amina.patient)
    url = f"/sos/{sos.public_id}/acknowledge/"
    delegate = PatientUserFactory(email="grace@example.test")
    assign_perm("clinic.request_sos_patient", delegate, amina.patient)

    for user, status in {
        ben: 404,
        eddie: 404,
        off_duty.user: 403,
        amina: 403,
        delegate: 403,
    }.items():
        assert client_for(user).post(url).status_code == status, user
    assert "/accounts/login/" in client.post(url)["Location"]
    assert SOSRequest.objects.get().status == Status.OPEN
    # Cancelling: the patient's side may; another patient may not know it exists.
    assert client_for(ben).post(f"/sos/{sos.public_id}/cancel/").status_code == 404
    assert client_for(eddie).post(f"/sos/{sos.public_id}/cancel/").status_code == 404
    cancelled = client_for(delegate).post(f"/sos/{sos.public_id}/cancel/", {"reason": ""})
    assert cancelled.status_code == 302
    sos.refresh_from_db()
    assert (sos.status, sos.closed_by) == (Status.CANCELLED, delegate)
    # The patient hears that her proxy called it off.
    assert Notification.objects.filter(
        recipient=amina, kind=NotificationKind.SOS, title__contains="cancelled"
    ).exists()


def test_the_patient_cancels_from_her_page_by_htmx(amina, client_for):
    sos, _created = _raise(amina, amina.patient)

    response = client_for(amina).post(
        f"/sos/{sos.public_id}/cancel/", {"reason": "I feel better"}, **htmx("sos-cancel")
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="sos-cancel"' in body and 'hx-swap-oob="true"' in body and "Cancelled" in body
    assert "Cancel the SOS" not in body


# --- On duty ------------------------------------------------------------------------------------


def test_a_doctor_goes_on_and_off_duty_audited(off_duty, client_for):
    client = client_for(off_duty.user)

    response = client.post("/sos/duty/", {"on_duty": "1"})
    off_duty.refresh_from_db()
    assert response["Location"] == "/sos/board/"
    assert off_duty.on_duty_since is not None
    home = client.post("/sos/duty/", {"on_duty": "0", "next": "home"})
    off_duty.refresh_from_db()
    assert home["Location"] == "/doctor/"
    assert off_duty.on_duty_since is None
    assert (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.UPDATE, target_id=str(off_duty.public_id)
        ).count()
        == 2
    )
    assert "Go on duty" in client.get("/doctor/").content.decode()


def test_only_verified_doctors_go_on_duty(dr_clara, amina, ada, client_for):
    from clinic.models import Doctor

    pending = make_doctor(dr_clara, status=Doctor.Status.PENDING)
    assert client_for(dr_clara).post("/sos/duty/", {"on_duty": "1"}).status_code == 403
    pending.refresh_from_db()
    assert pending.on_duty_since is None
    assert client_for(dr_clara).get("/sos/board/").status_code == 403
    for user in (amina, ada):
        assert client_for(user).post("/sos/duty/", {"on_duty": "1"}).status_code == 403


def test_the_admin_home_lists_open_requests(amina, ada, client_for):
    sos, _created = _raise(amina, amina.patient)

    body = client_for(ada).get("/home/", follow=True).content.decode()

    assert "1 open SOS request" in body
    assert f"/sos/{sos.public_id}/" in body


# --- Escalation ---------------------------------------------------------------------------------


@pytest.fixture
def admins(ada):
    return [ada, AdminUserFactory(email="second.admin@example.test")]


def _overdue(user, patient) -> SOSRequest:
    sos, _created = _raise(user, patient, now=timezone.now() - timedelta(seconds=121))
    return sos


def test_escalation_run_twice_escalates_once_with_one_email_per_admin(
    amina, admins, mailoutbox, django_capture_on_commit_callbacks
):
    sos = _overdue(amina, amina.patient)
    before = Notification.objects.filter(recipient__in=admins).count()

    with django_capture_on_commit_callbacks(execute=True):
        assert sos_escalate(sos_id=sos.pk) is True
    with django_capture_on_commit_callbacks(execute=True):
        assert sos_escalate(sos_id=sos.pk) is False
        assert sos_escalate_overdue() == 0

    sos.refresh_from_db()
    assert sos.escalated_at is not None and sos.status == Status.OPEN
    escalations = Notification.objects.filter(recipient__in=admins, title__contains="act now")
    assert escalations.count() == len(admins)
    assert Notification.objects.filter(recipient__in=admins).count() == before + len(admins)
    assert sorted(message.to[0] for message in mailoutbox) == sorted(a.email for a in admins)
    assert all("not been acknowledged" in message.body for message in mailoutbox)
    assert "Okafor" not in mailoutbox[0].subject
    assert SOSEvent.objects.filter(sos=sos, actor=None).count() == 1


def test_escalation_through_django_q_runs_once(
    amina, admins, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    """The one-off job and the minute job, both through django-q2's own functions."""
    monkeypatch.setattr(Conf, "SYNC", True)
    sos = _overdue(amina, amina.patient)

    # The test's transaction never commits: run the on-commit emails as a commit would.
    with django_capture_on_commit_callbacks(execute=True):
        async_task("clinic.tasks.sos_escalate", sos.pk)
        async_task("clinic.tasks.sos_escalate", sos.pk)
        async_task("clinic.tasks.sos_escalate_overdue")

    assert len(mailoutbox) == len(admins)
    sos.refresh_from_db()
    assert sos.escalated_at is not None


def test_the_scheduled_one_off_job_escalates_when_due(
    amina, admins, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    from django_q.brokers import get_broker
    from django_q.scheduler import scheduler

    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        sos = _overdue(amina, amina.patient)
    schedule = Schedule.objects.get(name=f"SOS escalation {sos.public_id}")
    assert schedule.next_run <= timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        scheduler(broker=get_broker())
        scheduler(broker=get_broker())

    sos.refresh_from_db()
    assert sos.escalated_at is not None
    assert len(mailoutbox) == len(admins)
    # A one-off schedule is gone once it ran.
    assert not Schedule.objects.filter(name=f"SOS escalation {sos.public_id}").exists()


def test_escalation_is_skipped_when_acknowledged_in_time(amina, admins, on_duty, mailoutbox):
    sos = _overdue(amina, amina.patient)
    sos_acknowledge(sos=sos, by=on_duty.user)

    assert sos_escalate(sos_id=sos.pk) is False
    assert sos_escalate_overdue() == 0
    sos.refresh_from_db()
    assert sos.escalated_at is None
    assert mailoutbox == []


def test_escalation_waits_for_the_delay(amina, admins, mailoutbox):
    sos, _created = _raise(amina, amina.patient)

    assert sos_escalate(sos_id=sos.pk) is False
    assert sos_escalate_overdue() == 0
    sos.refresh_from_db()
    assert sos.escalated_at is None


def test_the_minute_job_is_registered():
    from core.schedules import PERIODIC_SCHEDULES

    job = PERIODIC_SCHEDULES["Escalate unacknowledged SOS requests"]
    assert job == {
        "func": "clinic.tasks.sos_escalate_overdue",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    }


# --- The CMS listing ----------------------------------------------------------------------------


def test_the_cms_lists_sos_requests_with_response_times_for_admins_only(
    amina, on_duty, ada, eddie, client_for
):
    sos = _overdue(amina, amina.patient)
    sos_acknowledge(sos=sos, by=on_duty.user, now=sos.created_at + timedelta(seconds=40))
    sos_resolve(sos=sos, by=on_duty.user, now=sos.created_at + timedelta(seconds=100))

    response = client_for(ada).get("/cms/sos-requests/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Amina Okafor" in body and "40 s" in body and "1 min 40 s" in body
    assert client_for(ada).get("/cms/sos-requests/?status=resolved").status_code == 200
    for user in (eddie, on_duty.user):
        denied = client_for(user).get("/cms/sos-requests/")
        assert denied.status_code in (302, 403)
        assert "Amina Okafor" not in denied.content.decode()


# --- The demo -----------------------------------------------------------------------------------


def test_the_demo_has_dr_weiss_on_duty_and_a_resolved_sos_with_a_response_time():
    from django.core.management import call_command

    call_command("seed_demo")
    call_command("seed_demo")

    sos = SOSRequest.objects.get()
    assert sos.status == Status.RESOLVED
    assert sos.patient.user.email == "amina.patient@demo.hospital"
    assert (sos.acknowledged_at - sos.created_at).total_seconds() == 40
    assert sos.acknowledged_by.email == "clara.doctor@demo.hospital"
    assert sos.acknowledged_by.doctor.on_duty_since is not None
    # Its alerts are history: nobody finds them unread.
    assert not Notification.objects.filter(kind=NotificationKind.SOS, read_at__isnull=True).exists()


def test_the_board_reads_the_same_number_of_queries_for_one_request_or_many(
    amina, on_duty, client_for
):
    from django.test.utils import CaptureQueriesContext

    client = client_for(on_duty.user)
    client.get("/sos/board/")  # warm up: session and user-session rows exist afterwards

    def counts() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/sos/board/").status_code == 200
        reads = [q for q in captured.captured_queries if q["sql"].startswith("SELECT")]
        audits = [
            q for q in captured.captured_queries if 'INSERT INTO "core_auditevent"' in q["sql"]
        ]
        return len(reads), len(audits)

    _raise(amina, amina.patient)
    one = counts()
    for n in range(3):
        patient_user = PatientUserFactory(email=f"p{n}@example.test")
        _raise(patient_user, patient_user.patient)
    four = counts()

    # The reads do not grow with the requests; each summary shown is one audit line.
    assert four[0] == one[0]
    assert (one[1], four[1]) == (1, 4)


# --- At the same moment, on PostgreSQL ------------------------------------------------------------

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)"
)


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simultaneous_presses_acknowledgements_and_escalations_each_happen_once(
    amina, on_duty, admins, mailoutbox
):
    from tests.test_scheduling_concurrency import race

    crowd = 10
    raised = race([lambda: _raise(amina, amina.patient) for _ in range(crowd)])
    assert SOSRequest.objects.count() == 1
    assert sum(created for _sos, created in raised) == 1
    sos = SOSRequest.objects.get()

    SOSRequest.objects.filter(pk=sos.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    escalated = race([lambda: sos_escalate(sos_id=sos.pk) for _ in range(crowd)])
    assert escalated.count(True) == 1
    assert len(mailoutbox) == len(admins)

    staff = [on_duty.user, *admins]
    users = [staff[i % len(staff)] for i in range(crowd)]
    acknowledged = race([lambda user=user: sos_acknowledge(sos=sos, by=user) for user in users])
    assert sum(isinstance(result, SOSRequest) for result in acknowledged) == 1
    assert all(isinstance(result, SOSRequest | SOSError) for result in acknowledged), acknowledged
    assert SOSEvent.objects.filter(sos=sos, status=Status.ACKNOWLEDGED).count() == 1


def test_htmx_refreshes_get_only_their_region(amina, on_duty, client_for):
    """What a page reloads when its socket comes back after a drop."""
    sos, _created = _raise(amina, amina.patient)

    board = client_for(on_duty.user).get("/sos/board/", **htmx("sos-board-lists"))
    status = client_for(amina).get(f"/sos/{sos.public_id}/", **htmx("sos-status"))

    assert board.content.decode().lstrip().startswith('<div id="sos-board-lists">')
    assert f'id="sos-{sos.public_id}"' in board.content.decode()
    assert status.content.decode().lstrip().startswith('<section id="sos-status"')
    for response in (board, status):
        assert "<html" not in response.content.decode()
