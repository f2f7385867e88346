"""The issue's real-time journey in two browsers: a doctor and a patient chat during an online
consultation, then the patient presses SOS and the on-duty doctor handles it, all live."""

import re
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import NAV_TIMEOUT_MS, SHOTS, UI_TIMEOUT_MS, log_in, url_path_re

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Runs before the page's scripts (outside the CSP, like an extension): notes each socket htmx's
# ws extension opens, so the test acts only once the page is listening.
WS_OPEN_COUNT = """
window.__socketsOpen = 0;
document.addEventListener("htmx:wsOpen", function () { window.__socketsOpen += 1; }, true);
"""
LIVE_WITHIN_MS = 2_000
SOS_STATUS_URL = re.compile(r"^https?://[^/]+/sos/[0-9a-f-]{36}/$")


def _consultation_now(doctor_user_id: int, patient_user_id: int) -> str:
    """An online consultation between them starting in five minutes: its chat is open."""
    from django.utils import timezone

    from clinic.models import ConsultationMode, Patient
    from core.models import User
    from tests.factories import make_appointment, make_doctor

    doctor = make_doctor(User.objects.get(pk=doctor_user_id), on_duty_since=timezone.now())
    patient = Patient.objects.get(user_id=patient_user_id)
    Patient.objects.filter(pk=patient.pk).update(
        blood_type="A+",
        allergies="Penicillin",
        chronic_conditions="Asthma",
        current_medications="Salbutamol inhaler",
        emergency_contact_name="Jonas Okafor",
        emergency_contact_phone="+49 30 1234567",
    )
    appointment = make_appointment(
        doctor,
        patient,
        timezone.now() + timedelta(minutes=5),
        mode=ConsultationMode.ONLINE,
    )
    return str(appointment.public_id)


def _wait_for_sockets(page, count: int) -> None:
    page.wait_for_function(f"() => window.__socketsOpen >= {count}", timeout=NAV_TIMEOUT_MS)


def test_doctor_and_patient_chat_live_then_sos_reaches_the_doctor_on_duty(
    live_asgi, make_account, new_tab
):
    clara = make_account("doctor", "Clara", "Weiss")
    amina = make_account("patient", "Amina", "Okafor")
    appointment_id = live_asgi.run(_consultation_now, clara.user.pk, amina.user.pk)
    chat_path = f"/appointments/{appointment_id}/chat/"

    doctor_tab, patient_tab = new_tab(), new_tab()
    doctor, patient = doctor_tab.page, patient_tab.page
    for tab, account in ((doctor_tab, clara), (patient_tab, amina)):
        tab.page.add_init_script(WS_OPEN_COUNT)
        log_in(tab.page, account)
        expect(tab.page).to_have_url(url_path_re(account.home), timeout=NAV_TIMEOUT_MS)

    # --- Chat: both open the consultation's chat and write to each other.
    doctor.goto(chat_path)
    patient.goto(chat_path)
    # Each page has the notification socket and the chat socket.
    _wait_for_sockets(doctor, 2)
    _wait_for_sockets(patient, 2)
    expect(patient.locator("#chat-state")).to_contain_text("open", timeout=UI_TIMEOUT_MS)

    patient.get_by_label("Message").fill("Good morning, the chest pain is back since yesterday.")
    patient.get_by_role("button", name="Send").click()
    doctor_transcript = doctor.locator("#chat-transcript")
    expect(doctor_transcript).to_contain_text(
        "the chest pain is back since yesterday", timeout=LIVE_WITHIN_MS
    )
    expect(doctor_transcript.locator(".chat-message").last).to_contain_text("Amina")
    # The patient's own copy is labelled as hers and the box is empty for the next message.
    expect(patient.locator("#chat-transcript .chat-message-mine")).to_contain_text("You")
    expect(patient.get_by_label("Message")).to_have_value("")

    doctor.get_by_label("Message").fill("Thank you. <b>Is it worse</b> when you climb stairs?")
    doctor.get_by_role("button", name="Send").click()
    patient_transcript = patient.locator("#chat-transcript")
    expect(patient_transcript).to_contain_text(
        "<b>Is it worse</b> when you climb stairs?", timeout=LIVE_WITHIN_MS
    )
    # The markup arrived as text, not as bold type.
    expect(patient_transcript.locator("b")).to_have_count(0)
    # The doctor sees that the patient has read it.
    expect(doctor_transcript.locator(".chat-seen").last).to_contain_text(
        "Seen by", timeout=UI_TIMEOUT_MS
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    patient.screenshot(path=str(SHOTS / "chat_patient.png"))

    # --- SOS: the doctor is on duty and watching the SOS board.
    doctor.goto("/sos/board/")
    _wait_for_sockets(doctor, 2)
    expect(doctor.locator("#sos-duty")).to_contain_text("On duty", timeout=UI_TIMEOUT_MS)

    patient.goto("/sos/")
    expect(patient.locator(".sos-emergency")).to_contain_text("112")
    patient.get_by_label("What is happening").fill("Severe chest pain and shortness of breath")
    patient.get_by_label("Where").fill("Home, 3rd floor, Lindenstraße 5")
    button = patient.locator("#sos-button")
    # A tap is not enough: the button must be held.
    button.click()
    expect(patient.locator("#sos-countdown")).to_be_hidden()
    box = button.bounding_box()
    patient.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    patient.mouse.down()
    patient.wait_for_timeout(1_300)
    patient.mouse.up()
    countdown = patient.locator("#sos-countdown")
    expect(countdown).to_be_visible()
    # Cancelling during the countdown sends nothing; holding again starts a new one.
    patient.locator("#sos-countdown-cancel").click()
    expect(countdown).to_be_hidden()
    patient.wait_for_timeout(5_500)
    expect(patient).to_have_url(url_path_re("/sos/"))
    patient.mouse.down()
    patient.wait_for_timeout(1_300)
    patient.mouse.up()
    expect(countdown).to_be_visible()
    # Five seconds later it is sent, and the patient lands on the request's status page.
    patient.wait_for_url(SOS_STATUS_URL, timeout=NAV_TIMEOUT_MS)
    sent_at = time.monotonic()

    # Within two seconds the doctor's board shows the alert with the emergency summary.
    card = doctor.locator("#sos-open-list .sos-card").first
    expect(card).to_contain_text("Amina", timeout=LIVE_WITHIN_MS)
    shown_after = time.monotonic() - sent_at
    assert shown_after <= LIVE_WITHIN_MS / 1000, f"alert shown after {shown_after:.2f} s"
    for detail in (
        "A+",
        "Penicillin",
        "Asthma",
        "Salbutamol inhaler",
        "Jonas Okafor",
        "Severe chest pain",
    ):
        expect(card).to_contain_text(detail)
    doctor.screenshot(path=str(SHOTS / "sos_board_alert.png"))

    # The patient waits on the status page; the doctor acknowledges; the page says by whom.
    _wait_for_sockets(patient, 2)
    status = patient.locator("#sos-status")
    expect(status).to_contain_text("Waiting for someone to acknowledge it")
    card.get_by_role("button", name="Acknowledge").click()
    expect(status).to_contain_text("Acknowledged", timeout=LIVE_WITHIN_MS)
    expect(status).to_contain_text("Dr Clara Weiss", timeout=LIVE_WITHIN_MS)
    patient.screenshot(path=str(SHOTS / "sos_patient_acknowledged.png"))

    for tab in (doctor_tab, patient_tab):
        assert tab.csp_violations() == []
        assert tab.errors == []
