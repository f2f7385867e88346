"""The SOS sockets through the real ASGI application: the staff board's alerts at
/ws/sos/staff/ and one request's live status at /ws/sos/<id>/."""

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone
from guardian.shortcuts import assign_perm

from clinic.services.sos import doctor_set_on_duty, sos_acknowledge, sos_dispatch, sos_raise
from core.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_AUTHENTICATED
from hospital.asgi import application
from tests.factories import PatientUserFactory, make_doctor

# Transactional: the socket loads the session in another thread, which must see committed data,
# and the pushes run on commit. serialized_rollback restores the migrations' data afterwards.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SAME_ORIGIN = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
STAFF = "/ws/sos/staff/"


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def _connect(user, path: str):
    headers = list(SAME_ORIGIN)
    if user is not None:
        key = await database_sync_to_async(_session_cookie)(user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def _doctor(user, *, on_duty: bool):
    doctor = make_doctor(user)
    if on_duty:
        doctor.on_duty_since = timezone.now()
        doctor.save(update_fields=["on_duty_since"])
    return doctor


def _profile(patient) -> None:
    patient.blood_type = "AB-"
    patient.allergies = "Latex"
    patient.chronic_conditions = "Type 1 diabetes"
    patient.current_medications = "Insulin glargine"
    patient.emergency_contact_name = "Kofi Okafor"
    patient.emergency_contact_phone = "+49 30 7654321"
    patient.date_of_birth = timezone.localdate().replace(year=1990)
    patient.save()


def _raise(user, **fields):
    sos, _created = sos_raise(
        by=user,
        patient=user.patient,
        description="Severe hypo, shaking",
        place="Platform 2, Hauptbahnhof",
        **fields,
    )
    return sos


async def test_staff_socket_refuses_anonymous_patients_editors_and_doctors_off_duty(
    amina, eddie, dr_clara
):
    await database_sync_to_async(_doctor)(dr_clara, on_duty=False)
    for user, expected in (
        (None, CLOSE_NOT_AUTHENTICATED),
        (amina, CLOSE_FORBIDDEN),
        (eddie, CLOSE_FORBIDDEN),
        (dr_clara, CLOSE_FORBIDDEN),
    ):
        _communicator, connected, code = await _connect(user, STAFF)
        assert not connected, user
        assert code == expected, user


async def test_an_admin_and_a_doctor_on_duty_get_the_alert_with_the_emergency_summary(
    amina, ada, dr_clara
):
    from decimal import Decimal

    await database_sync_to_async(_doctor)(dr_clara, on_duty=True)
    await database_sync_to_async(_profile)(amina.patient)
    admin, admin_ok, _code = await _connect(ada, STAFF)
    doctor, doctor_ok, _code = await _connect(dr_clara, STAFF)
    assert admin_ok and doctor_ok

    sos = await database_sync_to_async(_raise)(
        amina, latitude=Decimal("52.525084"), longitude=Decimal("13.369402"), accuracy_m=12
    )

    for communicator in (admin, doctor):
        html = await communicator.receive_from(timeout=2)
        assert f'id="sos-{sos.public_id}"' in html
        assert 'id="sos-open-list" hx-swap-oob="afterbegin"' in html
        for fact in (
            "Amina Okafor",
            "AB-",
            "Latex",
            "Type 1 diabetes",
            "Insulin glargine",
            "Kofi Okafor",
            "+49 30 7654321",
            "Severe hypo, shaking",
            "Platform 2, Hauptbahnhof",
            "52.525084, 13.369402",
            "±12 m",
            "Acknowledge",
        ):
            assert fact in html, fact
        # No external map is loaded, and nothing runs inline.
        assert "<script" not in html and "<iframe" not in html and "http" not in html
    # A change replaces the card in place.
    await database_sync_to_async(sos_acknowledge)(sos=sos, by=dr_clara)
    update = await admin.receive_from(timeout=2)
    assert update.lstrip().startswith(f'<article id="sos-{sos.public_id}"')
    assert "Acknowledged" in update and "Clara Weiss" in update
    await admin.disconnect()
    await doctor.disconnect()


async def test_going_off_duty_closes_the_doctors_staff_socket(dr_clara, ada):
    doctor = await database_sync_to_async(_doctor)(dr_clara, on_duty=True)
    communicator, connected, _code = await _connect(dr_clara, STAFF)
    admin, admin_ok, _code = await _connect(ada, STAFF)
    assert connected and admin_ok

    await database_sync_to_async(doctor_set_on_duty)(doctor=doctor, on_duty=False)

    closed = await communicator.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
    # The admin's board stays connected.
    assert await admin.receive_nothing(timeout=0.3)
    await admin.disconnect()


async def test_the_status_socket_shows_the_patient_who_acknowledged_it(amina, dr_clara):
    await database_sync_to_async(_doctor)(dr_clara, on_duty=True)
    sos = await database_sync_to_async(_raise)(amina)
    communicator, connected, _code = await _connect(amina, f"/ws/sos/{sos.public_id}/")
    assert connected

    await database_sync_to_async(sos_acknowledge)(sos=sos, by=dr_clara)
    html = await communicator.receive_from(timeout=2)
    assert 'id="sos-status"' in html
    assert "Acknowledged" in html and "Dr Clara Weiss" in html
    # The patient's page never gets the staff's emergency summary.
    assert "Emergency summary" not in html

    await database_sync_to_async(sos_dispatch)(sos=sos, by=dr_clara)
    assert "Help is on the way." in await communicator.receive_from(timeout=2)
    await communicator.disconnect()


async def test_the_status_socket_answers_each_actor_as_designed(
    amina, ben, eddie, ada, dr_clara, dr_omar
):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    await database_sync_to_async(_doctor)(dr_clara, on_duty=True)
    await database_sync_to_async(_doctor)(dr_omar, on_duty=False)
    await database_sync_to_async(TOTP.activate)(dr_omar, generate_totp_secret())
    sos = await database_sync_to_async(_raise)(amina)
    delegate = await database_sync_to_async(PatientUserFactory)(email="grace@example.test")
    await database_sync_to_async(assign_perm)("clinic.request_sos_patient", delegate, amina.patient)
    path = f"/ws/sos/{sos.public_id}/"
    for user, allowed in (
        (amina, True),
        (delegate, True),
        (ada, True),
        (dr_clara, True),
        (ben, False),
        (eddie, False),
        (dr_omar, False),
    ):
        communicator, connected, code = await _connect(user, path)
        assert connected is allowed, user
        if allowed:
            await communicator.disconnect()
        else:
            assert code == CLOSE_FORBIDDEN, user
    _communicator, connected, code = await _connect(None, path)
    assert (connected, code) == (False, CLOSE_NOT_AUTHENTICATED)
    # An unknown id answers like a forbidden one: the socket never tells what exists.
    _communicator, connected, code = await _connect(ada, f"/ws/sos/{uuid.uuid4()}/")
    assert (connected, code) == (False, CLOSE_FORBIDDEN)


async def test_messages_from_the_browser_are_ignored(ada):
    communicator, connected, _code = await _connect(ada, STAFF)
    assert connected

    await communicator.send_to(text_data='{"type": "sos.alert", "html": "<b>x</b>"}')

    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()
