"""The live chat socket at /ws/chat/<appointment>/, through the real ASGI application (origin
check, session auth, routing) with channels' WebsocketCommunicator.

A refused socket is accepted and then closed, so a browser sees the code: 4401 not signed in,
4403 not a participant (or no such chat), 4410 the room is closed.
"""

import json
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone
from guardian.shortcuts import assign_perm

from clinic.models import Appointment, ChatMessage, ChatReadMark, ConsultationMode
from clinic.services.chat import chat_message_send
from core.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_AUTHENTICATED, CLOSE_ROOM_CLOSED
from hospital.asgi import application
from tests.factories import (
    DoctorUserFactory,
    PatientUserFactory,
    local_datetime,
    make_appointment,
    make_doctor,
)

# Transactional: the socket loads the session in another thread, which must see committed data.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SAME_ORIGIN = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]


@pytest.fixture
def clara(dr_clara):
    return make_doctor(dr_clara)


@pytest.fixture
def online(clara, amina):
    """Amina's online consultation with Dr Clara, started 5 minutes ago: the chat is open."""
    return make_appointment(
        clara, amina.patient, timezone.now() - timedelta(minutes=5), mode=ConsultationMode.ONLINE
    )


def _proxy(amina, email: str, *, records: bool):
    proxy = PatientUserFactory(email=email, first_name=email.split("@")[0].title())
    assign_perm("clinic.view_patient", proxy, amina.patient)
    assign_perm("clinic.book_for_patient", proxy, amina.patient)
    if records:
        assign_perm("clinic.view_records_patient", proxy, amina.patient)
    return proxy


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def _connect(user, appointment_id, origin=SAME_ORIGIN):
    """A socket to the chat as `user` (None: anonymous): (communicator, connected)."""
    headers = list(origin)
    if user is not None:
        key = await database_sync_to_async(_session_cookie)(user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode()))
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{appointment_id}/", headers=headers
    )
    connected, _code = await communicator.connect(timeout=5)
    return communicator, connected


async def _join(user, appointment) -> tuple[WebsocketCommunicator, str]:
    """A participant's socket, open, with the backlog it got on connect."""
    communicator, connected = await _connect(user, appointment.public_id)
    assert connected
    backlog = await communicator.receive_from(timeout=5)
    return communicator, backlog


async def _close_code(communicator) -> int:
    """The code the server closed the (accepted) socket with."""
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close", output
    return output["code"]


async def _say(communicator, body: str, **extra) -> None:
    await communicator.send_to(text_data=json.dumps({"body": body, **extra}))


def _messages(appointment) -> list[str]:
    return list(ChatMessage.objects.filter(appointment=appointment).values_list("body", flat=True))


# --- Refusals ------------------------------------------------------------------------------------


async def test_anonymous_is_refused_with_4401(online):
    communicator, connected = await _connect(None, online.public_id)

    assert connected  # accepted, so that the browser gets the code
    assert await _close_code(communicator) == CLOSE_NOT_AUTHENTICATED == 4401


async def test_a_foreign_origin_is_refused_even_for_a_participant(online, amina):
    evil = [(b"origin", b"http://evil.example"), (b"host", b"127.0.0.1:8000")]

    _communicator, connected = await _connect(amina, online.public_id, origin=evil)

    assert not connected


async def test_non_participants_are_refused_with_4403(online, amina, ben, ada, eddie):
    other_doctor = await database_sync_to_async(DoctorUserFactory)(email="nadia@example.test")
    await database_sync_to_async(make_doctor)(other_doctor)
    without_records = await database_sync_to_async(_proxy)(
        amina, "paul@example.test", records=False
    )

    for outsider in (ben, other_doctor, without_records, ada, eddie):
        communicator, _connected = await _connect(outsider, online.public_id)
        assert await _close_code(communicator) == CLOSE_FORBIDDEN == 4403, outsider


async def test_unknown_ids_and_in_person_visits_look_the_same_4403(clara, amina):
    in_person = await database_sync_to_async(make_appointment)(
        clara, amina.patient, timezone.now() - timedelta(minutes=5)
    )

    for target in (uuid.uuid4(), in_person.public_id):
        communicator, _connected = await _connect(amina, target)
        assert await _close_code(communicator) == CLOSE_FORBIDDEN


async def test_a_closed_room_is_refused_with_4410(clara, amina, online):
    later = await database_sync_to_async(make_appointment)(
        clara, amina.patient, local_datetime(3, 10), mode=ConsultationMode.ONLINE
    )
    long_ago = await database_sync_to_async(make_appointment)(
        clara,
        amina.patient,
        local_datetime(-3, 10),
        mode=ConsultationMode.ONLINE,
        status=Appointment.Status.COMPLETED,
    )
    online.status = Appointment.Status.CANCELLED
    await database_sync_to_async(online.save)(update_fields=["status"])

    for room in (later, long_ago, online):
        communicator, _connected = await _connect(amina, room.public_id)
        assert await _close_code(communicator) == CLOSE_ROOM_CLOSED == 4410


# --- Messages ------------------------------------------------------------------------------------


async def test_messages_persist_in_order_and_reach_everyone_in_the_room(online, amina, dr_clara):
    patient, _ = await _join(amina, online)
    doctor, _ = await _join(dr_clara, online)

    await _say(patient, "Good morning, doctor.")
    mine = await patient.receive_from(timeout=5)
    theirs = await doctor.receive_from(timeout=5)
    await _say(doctor, "Good morning, Amina. How is the cough?")
    await doctor.receive_from(timeout=5)
    reply = await patient.receive_from(timeout=5)

    assert await database_sync_to_async(_messages)(online) == [
        "Good morning, doctor.",
        "Good morning, Amina. How is the cough?",
    ]
    message = await database_sync_to_async(ChatMessage.objects.first)()
    assert f'id="chat-message-{message.public_id}"' in mine
    assert 'id="chat-transcript" hx-swap-oob="beforeend"' in mine
    assert "You" in mine and "chat-message-mine" in mine
    assert "Amina Okafor" in theirs and "chat-message-mine" not in theirs
    assert "Dr Clara Weiss" in reply and "How is the cough?" in reply
    await patient.disconnect()
    await doctor.disconnect()


async def test_htmx_ws_send_frames_work_and_their_extra_keys_are_ignored(online, amina):
    patient, _ = await _join(amina, online)

    await _say(patient, "Sent by the form", HEADERS={"HX-Request": "true"})

    assert "Sent by the form" in await patient.receive_from(timeout=5)
    await patient.disconnect()


async def test_reconnecting_gets_the_backlog_in_order(online, amina, dr_clara):
    for n, sender in enumerate([amina, dr_clara, amina]):
        await database_sync_to_async(chat_message_send)(
            appointment=online, sender=sender, body=f"Earlier message {n}"
        )
    first, backlog = await _join(amina, online)
    await _say(first, "Just before the connection dropped")
    await first.receive_from(timeout=5)
    await first.disconnect()

    _again, backlog = await _join(amina, online)

    assert 'id="chat-transcript"' in backlog and 'hx-swap-oob="true"' in backlog
    positions = [backlog.index(f"Earlier message {n}") for n in range(3)]
    assert positions == sorted(positions)
    assert backlog.index("Earlier message 2") < backlog.index("Just before the connection")
    await _again.disconnect()


async def test_an_html_or_script_payload_arrives_inert(online, amina, dr_clara):
    patient, _ = await _join(amina, online)
    doctor, _ = await _join(dr_clara, online)
    payload = '<script>alert("x")</script><img src=x onerror="alert(1)">'

    await _say(patient, payload)
    await patient.receive_from(timeout=5)
    live = await doctor.receive_from(timeout=5)
    await doctor.disconnect()
    _again, backlog = await _join(dr_clara, online)

    for html in (live, backlog):
        assert "<script>" not in html and "<img" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert await database_sync_to_async(_messages)(online) == [payload]
    await patient.disconnect()
    await _again.disconnect()


async def test_blank_and_malformed_frames_are_ignored(online, amina):
    patient, _ = await _join(amina, online)

    await _say(patient, "   ")
    await patient.send_to(text_data="not json")
    await patient.send_to(text_data='["body", "x"]')
    await patient.send_to(text_data='{"body": 42}')
    await patient.send_to(bytes_data=b'{"body": "bytes"}')

    assert await patient.receive_nothing(timeout=0.3)
    assert await database_sync_to_async(_messages)(online) == []
    await patient.disconnect()


async def test_over_the_rate_limit_the_sender_alone_gets_an_error(
    online, amina, dr_clara, settings
):
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    patient, _ = await _join(amina, online)
    doctor, _ = await _join(dr_clara, online)

    for n in range(2):
        await _say(patient, f"Question {n}")
        await patient.receive_from(timeout=5)
        await doctor.receive_from(timeout=5)
    await _say(patient, "Question 2")

    error = await patient.receive_from(timeout=5)
    assert 'id="chat-error"' in error and "too fast" in error
    assert await doctor.receive_nothing(timeout=0.3)
    assert await database_sync_to_async(_messages)(online) == ["Question 0", "Question 1"]
    await patient.disconnect()
    await doctor.disconnect()


async def test_over_the_length_cap_nothing_is_stored(online, amina, settings):
    settings.CHAT_MESSAGE_MAX_LENGTH = 10
    patient, _ = await _join(amina, online)

    await _say(patient, "x" * 11)

    assert "Keep messages under 10 characters." in await patient.receive_from(timeout=5)
    assert await database_sync_to_async(_messages)(online) == []
    await patient.disconnect()


# --- Read receipts -------------------------------------------------------------------------------


async def test_a_read_receipt_reaches_the_sender(online, amina, dr_clara):
    patient, _ = await _join(amina, online)
    doctor, _ = await _join(dr_clara, online)
    await _say(patient, "Is the rash worse in the sun?")
    await patient.receive_from(timeout=5)
    await doctor.receive_from(timeout=5)
    message = await database_sync_to_async(ChatMessage.objects.get)()

    await doctor.send_to(text_data=json.dumps({"read": str(message.public_id)}))

    receipt = await patient.receive_from(timeout=5)
    assert "Seen by Dr Clara Weiss" in receipt
    assert f'id="chat-receipts-{message.public_id}" hx-swap-oob="beforeend"' in receipt
    assert 'hx-swap-oob="delete"' not in receipt  # her first read: no earlier line to remove
    assert await doctor.receive_nothing(timeout=0.3)  # no receipt of her own reading
    mark = await database_sync_to_async(ChatReadMark.objects.get)(user=dr_clara)
    assert mark.last_read_id == message.pk

    await _say(patient, "And it itches at night.")
    await patient.receive_from(timeout=5)
    await doctor.receive_from(timeout=5)
    later = await database_sync_to_async(ChatMessage.objects.latest)("pk")
    await doctor.send_to(text_data=json.dumps({"read": str(later.public_id)}))

    moved = await patient.receive_from(timeout=5)
    assert 'hx-swap-oob="delete"' in moved  # the line leaves the earlier message
    assert f'id="chat-receipts-{later.public_id}" hx-swap-oob="beforeend"' in moved
    await patient.disconnect()
    await doctor.disconnect()


async def test_joining_marks_the_backlog_read_and_tells_the_others(online, amina, dr_clara):
    patient, _ = await _join(amina, online)
    await _say(patient, "Are you there?")
    await patient.receive_from(timeout=5)

    doctor, backlog = await _join(dr_clara, online)

    assert "Are you there?" in backlog
    assert "Seen by Dr Clara Weiss" in await patient.receive_from(timeout=5)
    await patient.disconnect()
    await doctor.disconnect()


# --- Proxies -------------------------------------------------------------------------------------


async def test_a_proxy_with_the_records_scope_joins_and_one_without_does_not(online, amina):
    grace = await database_sync_to_async(_proxy)(amina, "grace@example.test", records=True)
    paul = await database_sync_to_async(_proxy)(amina, "paul@example.test", records=False)

    proxy, _ = await _join(grace, online)
    await _say(proxy, "I am here for my mother.")
    assert "I am here for my mother." in await proxy.receive_from(timeout=5)
    refused, _connected = await _connect(paul, online.public_id)

    assert await _close_code(refused) == CLOSE_FORBIDDEN
    await proxy.disconnect()


# --- Ending --------------------------------------------------------------------------------------


async def test_the_doctor_ending_the_chat_closes_every_socket_and_refuses_reconnecting(
    online, amina, dr_clara
):
    patient, _ = await _join(amina, online)
    doctor, _ = await _join(dr_clara, online)
    browser = await database_sync_to_async(Client)()
    await database_sync_to_async(browser.force_login)(dr_clara)

    response = await database_sync_to_async(browser.post)(
        f"/appointments/{online.public_id}/chat/end/"
    )
    assert response.status_code == 302

    for socket in (patient, doctor):
        ended = await socket.receive_from(timeout=5)
        assert 'id="chat-compose"' in ended and 'name="body"' not in ended
        assert "The chat ended on" in ended
        assert await _close_code(socket) == CLOSE_ROOM_CLOSED
    again, _connected = await _connect(amina, online.public_id)
    assert await _close_code(again) == CLOSE_ROOM_CLOSED


async def test_a_message_after_the_window_closes_the_room_for_everyone(online, amina, dr_clara):
    patient, _ = await _join(amina, online)
    doctor, _ = await _join(dr_clara, online)
    # Time passes: the visit ended more than two hours ago.
    start = timezone.now() - timedelta(hours=3)
    await database_sync_to_async(Appointment.objects.filter(pk=online.pk).update)(
        start_at=start, end_at=start + timedelta(minutes=30)
    )

    await _say(patient, "Hello, anyone?")

    for socket in (patient, doctor):
        assert "The chat ended on" in await socket.receive_from(timeout=5)
        assert await _close_code(socket) == CLOSE_ROOM_CLOSED
    assert await database_sync_to_async(_messages)(online) == []


async def test_signing_out_closes_the_chat_socket_with_4401(online, amina):
    browser = await database_sync_to_async(Client)()
    await database_sync_to_async(browser.force_login)(amina)
    key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    headers = [*SAME_ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode())]
    socket = WebsocketCommunicator(application, f"/ws/chat/{online.public_id}/", headers=headers)
    assert (await socket.connect(timeout=5))[0]
    await socket.receive_from(timeout=5)

    await database_sync_to_async(browser.post)("/accounts/logout/")

    assert await _close_code(socket) == CLOSE_NOT_AUTHENTICATED
