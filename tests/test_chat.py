"""Consultation chat pages and services: who takes part, when the room is open, sending with
and without JavaScript, the rate limit and length cap, read receipts, ending the chat, paging
back through the transcript, and an audit line for every read."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from clinic.models import Appointment, ChatMessage, ChatReadMark, ConsultationMode
from clinic.permissions import chat_is_open, chat_participant
from clinic.selectors import chat_transcript
from clinic.services.chat import (
    ChatError,
    chat_close,
    chat_mark_read,
    chat_message_send,
)
from core.models import AuditEvent
from tests.conftest import htmx
from tests.factories import (
    DoctorUserFactory,
    PatientUserFactory,
    local_datetime,
    make_appointment,
    make_doctor,
)


@pytest.fixture
def clara(dr_clara):
    return make_doctor(dr_clara)


@pytest.fixture
def online(clara, amina):
    """Amina's online consultation with Dr Clara, started 5 minutes ago: the chat is open."""
    return make_appointment(
        clara,
        amina.patient,
        timezone.now() - timedelta(minutes=5),
        mode=ConsultationMode.ONLINE,
    )


@pytest.fixture
def other_doctor(db):
    """A verified doctor (authenticator enrolled) who is not in the appointment."""
    user = DoctorUserFactory(email="nadia@example.test", first_name="Nadia", last_name="Berg")
    make_doctor(user)
    return user


@pytest.fixture
def grace(amina):
    """A proxy who reads Amina's records (and books for her)."""
    proxy = PatientUserFactory(email="grace@example.test", first_name="Grace", last_name="Mensah")
    assign_perm("clinic.view_patient", proxy, amina.patient)
    assign_perm("clinic.book_for_patient", proxy, amina.patient)
    assign_perm("clinic.view_records_patient", proxy, amina.patient)
    return proxy


@pytest.fixture
def paul(amina):
    """A proxy who books for Amina but may not read her records."""
    proxy = PatientUserFactory(email="paul@example.test", first_name="Paul", last_name="Roth")
    assign_perm("clinic.view_patient", proxy, amina.patient)
    assign_perm("clinic.book_for_patient", proxy, amina.patient)
    return proxy


# User, the appointment, the delegate's permissions (user and group), messages, read marks,
# the audit line, the unread badge: the same for one message or forty.
CHAT_PAGE_QUERIES = 8


def _url(appointment, name="appointment_chat"):
    return reverse(name, args=[appointment.public_id])


def _send(appointment, user, body, **kwargs):
    return chat_message_send(appointment=appointment, sender=user, body=body, **kwargs)


# --- Who takes part ------------------------------------------------------------------------------


def test_participants_are_the_doctor_the_patient_and_a_proxy_who_reads_records(
    online, amina, dr_clara, grace, paul, ben, dr_omar, ada, eddie
):
    make_doctor(dr_omar)

    assert chat_participant(dr_clara, online).is_doctor
    assert chat_participant(amina, online).acting_for_patient is False
    assert chat_participant(grace, online).acting_for_patient is True
    for outsider in (paul, ben, dr_omar, ada, eddie):
        assert chat_participant(outsider, online) is None


def test_an_in_person_appointment_has_no_chat(clara, amina, client_for):
    visit = make_appointment(clara, amina.patient, timezone.now() - timedelta(minutes=5))

    assert chat_participant(amina, visit) is None
    assert client_for(amina).get(_url(visit)).status_code == 404


@pytest.mark.parametrize(
    ("minutes_from_start", "is_open"),
    [(-16, False), (-15, True), (0, True), (30 + 119, True), (30 + 120, False)],
)
def test_the_room_opens_15_minutes_before_and_closes_2_hours_after_the_end(
    online, minutes_from_start, is_open
):
    at = online.start_at + timedelta(minutes=minutes_from_start)

    assert chat_is_open(online, now=at) is is_open


@pytest.mark.parametrize(
    "status",
    [Appointment.Status.CANCELLED, Appointment.Status.RESCHEDULED, Appointment.Status.NO_SHOW],
)
def test_a_called_off_visit_has_a_closed_room(online, status):
    online.status = status

    assert not chat_is_open(online)


def test_a_completed_visit_keeps_its_room_open_until_the_window_ends(online):
    online.status = Appointment.Status.COMPLETED

    assert chat_is_open(online)


# --- Sending -------------------------------------------------------------------------------------


def test_messages_are_stored_in_order_with_the_patient_and_audited(online, amina, dr_clara):
    first = _send(online, amina, "  Good morning, doctor.  ")
    second = _send(online, dr_clara, "Good morning, Amina.")

    assert list(ChatMessage.objects.filter(appointment=online)) == [first, second]
    assert first.body == "Good morning, doctor."
    assert first.patient == amina.patient
    audit = AuditEvent.objects.get(action=AuditEvent.Action.CREATE, target_id=first.public_id)
    assert audit.patient_public_id == amina.patient.public_id
    assert audit.actor == amina


def test_blank_messages_are_ignored(online, amina):
    assert _send(online, amina, "   \n  ") is None
    assert not ChatMessage.objects.exists()


def test_a_message_over_the_length_cap_is_refused_and_not_stored(online, amina, settings):
    settings.CHAT_MESSAGE_MAX_LENGTH = 20

    _send(online, amina, "x" * 20)
    with pytest.raises(ChatError) as refusal:
        _send(online, amina, "x" * 21)

    assert refusal.value.code == ChatError.TOO_LONG
    assert ChatMessage.objects.count() == 1


def test_the_rate_limit_counts_each_sender_in_any_60_seconds(online, amina, dr_clara, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 3
    now = timezone.now()
    for second in range(3):
        _send(online, amina, f"message {second}", now=now + timedelta(seconds=second))

    with pytest.raises(ChatError) as refusal:
        _send(online, amina, "one too many", now=now + timedelta(seconds=30))
    assert refusal.value.code == ChatError.RATE_LIMITED
    # The doctor has her own allowance; Amina gets hers back once the first one is 60 s old.
    _send(online, dr_clara, "Slow down, please", now=now + timedelta(seconds=31))
    _send(online, amina, "Sorry", now=now + timedelta(seconds=61))
    assert ChatMessage.objects.filter(sender=amina).count() == 4


def test_nothing_is_sent_before_the_room_opens_or_after_it_closes(online, amina):
    with pytest.raises(ChatError) as early:
        _send(online, amina, "Hello?", now=online.start_at - timedelta(minutes=16))
    with pytest.raises(ChatError) as late:
        _send(online, amina, "Hello?", now=online.end_at + timedelta(minutes=121))

    assert early.value.code == late.value.code == ChatError.CLOSED
    assert not ChatMessage.objects.exists()


def test_an_outsider_cannot_send_even_through_the_service(online, ben, paul):
    from django.core.exceptions import PermissionDenied

    for outsider in (ben, paul):
        with pytest.raises(PermissionDenied):
            _send(online, outsider, "Let me in")


# --- Read receipts -------------------------------------------------------------------------------


def test_read_marks_only_move_forward(online, amina, dr_clara):
    first = _send(online, dr_clara, "How are you feeling?")
    second = _send(online, dr_clara, "Any chest pain?")

    assert chat_mark_read(appointment=online, user=amina, message_public_id=second.public_id)
    assert not chat_mark_read(appointment=online, user=amina, message_public_id=first.public_id)
    assert not chat_mark_read(appointment=online, user=amina, message_public_id="not-a-uuid")
    assert ChatReadMark.objects.get(appointment=online, user=amina).last_read == second


def test_the_sender_sees_who_has_seen_her_latest_message(online, amina, dr_clara):
    _send(online, amina, "I have a headache.")
    latest = _send(online, amina, "Since yesterday.")
    reply = _send(online, dr_clara, "Thank you.")
    chat_mark_read(appointment=online, user=dr_clara, message_public_id=reply.public_id)

    lines, _has_earlier = chat_transcript(online, viewer=amina)
    receipts = {str(line.message.public_id): line.receipts for line in lines}

    # Dr Clara has read up to her own reply: her receipt goes under Amina's latest message.
    assert [name for _key, name in receipts[str(latest.public_id)]] == ["Dr Clara Weiss"]
    assert sum(len(r) for r in receipts.values()) == 1
    # The reader does not see her own receipt.
    lines, _ = chat_transcript(online, viewer=dr_clara)
    assert not any(line.receipts for line in lines)


# --- Pages ---------------------------------------------------------------------------------------


def test_the_page_without_javascript_shows_the_transcript_and_the_form(
    online, amina, dr_clara, client_for
):
    _send(online, dr_clara, "Please describe <b>the pain</b>.")
    _send(online, amina, "Sharp, on the left.")

    response = client_for(amina).get(_url(online))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Please describe &lt;b&gt;the pain&lt;/b&gt;." in html
    assert "<b>the pain</b>" not in html
    assert html.index("Please describe") < html.index("Sharp, on the left.")
    assert "Dr Clara Weiss" in html and "You" in html
    assert 'name="body"' in html and 'maxlength="2000"' in html
    assert f'ws-connect="/ws/chat/{online.public_id}/"' in html
    assert "End chat" not in html  # the doctor's button only
    assert "no-store" in response["Cache-Control"]


def test_the_doctor_gets_the_end_chat_button(online, dr_clara, client_for):
    html = client_for(dr_clara).get(_url(online)).content.decode()

    assert "End chat" in html
    assert "Chat with Amina Okafor" in html


def test_reading_the_transcript_is_audited_with_the_patient(online, grace, client_for):
    client_for(grace).get(_url(online))

    audit = AuditEvent.objects.get(action=AuditEvent.Action.VIEW, target_id=online.public_id)
    assert audit.actor == grace
    assert audit.patient_public_id == online.patient.public_id
    assert audit.acting_for_patient
    assert audit.details["chat"] == "transcript"


def test_posting_without_javascript_sends_and_comes_back(online, amina, client_for):
    client = client_for(amina)

    response = client.post(_url(online), {"body": "Can you hear me?"})

    assert response.status_code == 302
    assert response["Location"] == _url(online)
    assert ChatMessage.objects.get().body == "Can you hear me?"
    assert "Can you hear me?" in client.get(_url(online)).content.decode()


def test_posting_too_long_a_message_keeps_the_text_and_says_why(
    online, amina, client_for, settings
):
    settings.CHAT_MESSAGE_MAX_LENGTH = 10

    response = client_for(amina).post(_url(online), {"body": "far too long for this"})

    assert response.status_code == 400
    assert "Keep messages under 10 characters." in response.content.decode()
    assert "far too long for this" in response.content.decode()
    assert not ChatMessage.objects.exists()


@override_settings(CHAT_MESSAGES_PER_MINUTE=1)
def test_posting_too_fast_is_refused_with_429(online, amina, client_for):
    client = client_for(amina)
    client.post(_url(online), {"body": "One"})

    response = client.post(_url(online), {"body": "Two"})

    assert response.status_code == 429
    assert "too fast" in response.content.decode()
    assert ChatMessage.objects.count() == 1


def test_after_the_window_the_transcript_stays_readable_but_nothing_can_be_sent(
    clara, amina, dr_clara, client_for
):
    past = make_appointment(
        clara,
        amina.patient,
        local_datetime(-3, 10),
        mode=ConsultationMode.ONLINE,
        status=Appointment.Status.COMPLETED,
    )
    ChatMessage.objects.create(
        appointment=past, patient=amina.patient, sender=dr_clara, body="Take care."
    )
    client = client_for(amina)

    page = client.get(_url(past)).content.decode()
    refused = client.post(_url(past), {"body": "One more question"})

    assert "Take care." in page
    assert "The chat ended on" in page
    assert 'name="body"' not in page and "/ws/chat/" not in page
    assert refused.status_code == 409
    assert ChatMessage.objects.count() == 1


def test_before_the_window_the_page_says_when_it_opens(clara, amina, client_for):
    later = make_appointment(
        clara, amina.patient, local_datetime(2, 10), mode=ConsultationMode.ONLINE
    )

    html = client_for(amina).get(_url(later)).content.decode()

    assert "The chat opens on" in html
    assert 'name="body"' not in html
    assert "data-opens-in=" in html  # chat.js reloads the page when the room opens


def test_the_doctor_ends_the_chat_for_everyone(online, amina, dr_clara, client_for):
    response = client_for(dr_clara).post(_url(online, "appointment_chat_end"))

    assert response.status_code == 302
    online.refresh_from_db()
    assert online.chat_closed_by == dr_clara and online.chat_closed_at is not None
    assert not chat_is_open(online)
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.UPDATE, target_id=online.public_id, details__chat="ended"
    ).exists()
    assert client_for(amina).post(_url(online), {"body": "Wait!"}).status_code == 409
    # Ending again changes nothing.
    closed_at = online.chat_closed_at
    chat_close(appointment=online, by=dr_clara)
    online.refresh_from_db()
    assert online.chat_closed_at == closed_at


def test_only_the_doctor_may_end_the_chat(online, amina, grace, client_for):
    for participant in (amina, grace):
        assert client_for(participant).post(_url(online, "appointment_chat_end")).status_code == 403
    online.refresh_from_db()
    assert online.chat_closed_at is None


def test_earlier_messages_page_in_with_and_without_htmx(online, amina, client_for, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 100
    sent = [_send(online, amina, f"Message number {n:02d}") for n in range(55)]
    client = client_for(amina)

    latest = client.get(_url(online)).content.decode()
    assert "Message number 54" in latest and "Message number 05" in latest
    assert "Message number 04" not in latest
    earlier_link = f"?before={sent[5].public_id}"
    assert earlier_link in latest

    plain = client.get(_url(online) + earlier_link).content.decode()
    assert "Message number 00" in plain and "Message number 04" in plain
    assert "Message number 05" not in plain
    assert "Back to the latest messages" in plain

    partial = client.get(_url(online) + earlier_link, **htmx("chat-earlier")).content.decode()
    assert "<html" not in partial
    assert 'hx-swap-oob="afterbegin"' in partial
    assert "Message number 00" in partial and "Message number 05" not in partial
    assert "Earlier messages" not in partial  # nothing older left


def test_a_before_id_from_another_chat_is_ignored(online, clara, amina, ben, client_for):
    other = make_appointment(
        clara,
        ben.patient,
        timezone.now() - timedelta(minutes=40),
        mode=ConsultationMode.ONLINE,
    )
    theirs = _send(other, ben, "A private question from Ben")
    _send(online, amina, "A question from Amina")

    html = client_for(amina).get(_url(online) + f"?before={theirs.public_id}").content.decode()

    assert "A question from Amina" in html
    assert "A private question from Ben" not in html


@pytest.mark.parametrize("name", ["appointment_chat", "appointment_chat_end"])
def test_outsiders_wrong_roles_and_anonymous_get_nothing(
    online, name, ben, paul, other_doctor, ada, eddie, dr_clara, client, client_for
):
    _send(online, dr_clara, "Your results look fine, Amina.")
    url = _url(online, name)

    for outsider in (ben, paul, other_doctor, ada, eddie):
        for method in ("get", "post"):
            response = getattr(client_for(outsider), method)(url)
            if name == "appointment_chat_end" and method == "get":
                assert response.status_code == 405
                continue
            assert response.status_code == 404, (outsider, method)
            assert "Your results look fine" not in response.content.decode()
    anonymous = client.get(url) if name == "appointment_chat" else client.post(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert ChatMessage.objects.count() == 1


def test_an_unknown_id_is_404(amina, client_for):
    import uuid

    assert client_for(amina).get(f"/appointments/{uuid.uuid4()}/chat/").status_code == 404


def test_wrong_method_is_405(online, amina, client_for):
    assert client_for(amina).put(_url(online)).status_code == 405


# --- Links to the chat ---------------------------------------------------------------------------


def test_the_appointment_page_links_participants_to_the_chat(
    online, amina, grace, paul, ada, client_for
):
    url = _url(online)
    detail = reverse("appointment_detail", args=[online.public_id])

    for participant in (amina, grace):
        html = client_for(participant).get(detail).content.decode()
        assert f'href="{url}"' in html and "Open chat" in html
    # Who sees the appointment but not the chat gets no link to it.
    for onlooker in (paul, ada):
        response = client_for(onlooker).get(detail)
        assert response.status_code == 200
        assert url not in response.content.decode()


def test_the_doctor_agenda_and_home_link_open_chats_and_past_transcripts(
    online, clara, amina, ben, dr_clara, client_for
):
    earlier_today = timezone.localtime(online.start_at) - timedelta(hours=3)
    past = make_appointment(
        clara,
        ben.patient,
        earlier_today,
        mode=ConsultationMode.ONLINE,
        status=Appointment.Status.COMPLETED,
    )
    in_person = make_appointment(clara, ben.patient, online.start_at - timedelta(minutes=90))
    client = client_for(dr_clara)
    day = timezone.localtime(online.start_at).date().isoformat()

    for page in (f"{reverse('doctor_agenda')}?day={day}", reverse("doctor_home")):
        html = client.get(page).content.decode()
        assert f'<a href="{_url(online)}">Open chat</a>' in html, page
        if timezone.localtime(past.start_at).date() == timezone.localtime(online.start_at).date():
            assert f'<a href="{_url(past)}">Chat transcript</a>' in html, page
        assert _url(in_person) not in html


# --- Notifications -------------------------------------------------------------------------------


def test_the_others_are_notified_once_until_they_read_it(
    online, amina, dr_clara, grace, paul, django_capture_on_commit_callbacks
):
    from core.models import Notification, NotificationKind

    with django_capture_on_commit_callbacks(execute=True):
        _send(online, dr_clara, "Your ECG is normal.")
        _send(online, dr_clara, "No need to change the dose.")

    chat_notes = Notification.objects.filter(kind=NotificationKind.CHAT)
    assert sorted(n.recipient.email for n in chat_notes) == [amina.email, grace.email]
    note = chat_notes.get(recipient=amina)
    assert note.title == "New message from Dr Clara Weiss"
    assert note.link == _url(online)
    assert "ECG" not in note.title + note.body  # the text stays in the chat (and out of email)

    note.read_at = timezone.now()
    note.save(update_fields=["read_at"])
    _send(online, dr_clara, "See you in three months.")
    assert chat_notes.filter(recipient=amina).count() == 2
    assert chat_notes.filter(recipient=grace).count() == 1
    assert not chat_notes.filter(recipient__in=[dr_clara, paul]).exists()


@pytest.mark.parametrize("count", [1, 40])
def test_the_page_query_count_does_not_grow_with_the_transcript(
    online, amina, dr_clara, grace, client_for, django_assert_num_queries, settings, count
):
    settings.CHAT_MESSAGES_PER_MINUTE = 100
    for n in range(count):
        _send(online, [amina, dr_clara, grace][n % 3], f"Message {n}")
    last = ChatMessage.objects.last()
    for reader in (amina, dr_clara, grace):
        chat_mark_read(appointment=online, user=reader, message_public_id=last.public_id)
    client = client_for(grace)  # a delegate: the most expensive participant check
    client.get(_url(online))

    with django_assert_num_queries(CHAT_PAGE_QUERIES):
        response = client.get(_url(online))
    assert response.content.decode().count('class="chat-message') == count
