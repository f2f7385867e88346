"""The booking journey in a real browser: a mother finds a cardiologist, books the next free slot
for her son, finds it on her home page, downloads the calendar file, moves it and cancels it,
while the doctor's agenda, open in another browser, follows every step without a reload."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    NAV_TIMEOUT_MS,
    SHOTS,
    UI_TIMEOUT_MS,
    log_in,
    path_of,
    url_path_re,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Runs before the page's own scripts (outside the page's CSP): notes when htmx's ws extension
# has opened the live-notification socket.
WS_OPEN_FLAG = """
document.addEventListener("htmx:wsOpen", function () { window.__liveSocketOpen = true; }, true);
"""
# A live change reaches the agenda within this (the push plus the agenda's own refresh).
LIVE_MS = 5_000
APPOINTMENT_PATH = re.compile(r"^https?://[^/]+/appointments/([0-9a-f-]{36})/$")


def _clinic_setup(patient_id: int, doctor_id: int) -> dict:
    """Dr Weiss, a cardiologist working 09:00-12:00 every day; a paediatrician the specialty
    filter must leave out; Amina's son Noah, for whom she may book. Returns the next free slot
    (local day and time) as the booking page will offer it first."""
    from guardian.shortcuts import assign_perm

    from clinic.models import Patient, Specialty
    from clinic.scheduling import slot_next_free
    from core.models import User
    from tests.factories import DoctorUserFactory, make_doctor
    from tests.scheduling_fixtures import EVERY_DAY, weekly

    clara = make_doctor(User.objects.get(pk=doctor_id), location="Cardiology, building B")
    weekly(clara, EVERY_DAY, "09:00", "12:00", location="Cardiology, building B")
    paediatrician = make_doctor(
        DoctorUserFactory(first_name="Omar", last_name="Haddad"),
        location="Children's clinic",
    )
    paediatrician.specialty = Specialty.objects.get(slug="pediatrics")
    paediatrician.save()
    weekly(paediatrician, EVERY_DAY, "09:00", "12:00")
    noah = Patient.objects.create(first_name="Noah", last_name="Okafor")
    assign_perm("clinic.book_for_patient", User.objects.get(pk=patient_id), noah)
    first = slot_next_free(clara)
    return {"day": first.local_start.date(), "time": f"{first.local_start:%H:%M}"}


def _appointment_state(public_id: str) -> dict:
    from clinic.models import Appointment

    appointment = Appointment.objects.select_related("patient", "rescheduled_to").get(
        public_id=public_id
    )
    return {
        "status": appointment.status,
        "patient": str(appointment.patient),
        "successor": str(appointment.rescheduled_to.public_id)
        if appointment.rescheduled_to
        else None,
        "local": appointment.start_at.astimezone(_zone()).strftime("%H:%M"),
        "reason": appointment.cancellation_reason,
    }


def _zone():
    from clinic.scheduling import hospital_zone

    return hospital_zone()


def test_book_for_a_child_then_move_and_cancel_while_the_agenda_follows_live(
    live_asgi, make_account, new_tab
):
    amina = make_account("patient", "Amina", "Okafor")
    clara = make_account("doctor", "Clara", "Weiss")
    first = live_asgi.run(_clinic_setup, amina.user.pk, clara.user.pk)
    day = first["day"]

    # The doctor signs in (password and authenticator code) and opens the agenda on that day.
    doctor_tab = new_tab()
    agenda_page = doctor_tab.page
    agenda_page.add_init_script(WS_OPEN_FLAG)
    log_in(agenda_page, clara)
    expect(agenda_page).to_have_url(url_path_re(clara.home), timeout=NAV_TIMEOUT_MS)
    agenda_page.goto(f"/doctor/agenda/?day={day.isoformat()}")
    agenda_page.wait_for_function("() => window.__liveSocketOpen === true", timeout=NAV_TIMEOUT_MS)
    agenda = agenda_page.locator("#agenda-day")
    expect(agenda).to_contain_text("No appointments on this day.", timeout=UI_TIMEOUT_MS)
    # Gone if the page reloads: every later change must arrive by the socket and htmx.
    agenda_page.evaluate("() => { window.__sameAgendaPage = true; }")

    # The mother signs in and looks for a cardiologist.
    patient_tab = new_tab()
    page = patient_tab.page
    log_in(page, amina)
    expect(page).to_have_url(url_path_re(amina.home), timeout=NAV_TIMEOUT_MS)
    page.get_by_role("link", name="Find a doctor").click()
    expect(page).to_have_url(url_path_re("/doctors/"), timeout=NAV_TIMEOUT_MS)
    results = page.locator("#results")
    expect(results).to_contain_text("Dr Omar Haddad", timeout=UI_TIMEOUT_MS)
    page.get_by_label("Specialty").select_option(label="Cardiology")
    # The results change in place (HTMX) and the filter lands in the address bar.
    expect(page).to_have_url(re.compile(r"specialty=cardiology"), timeout=NAV_TIMEOUT_MS)
    expect(results).not_to_contain_text("Dr Omar Haddad", timeout=UI_TIMEOUT_MS)
    expect(results).to_contain_text("1 doctor", timeout=UI_TIMEOUT_MS)
    expect(results).to_contain_text("No ratings yet", timeout=UI_TIMEOUT_MS)
    results.get_by_role("link", name="Dr Clara Weiss").click()

    # Her profile, then the booking page with the first free day chosen.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Dr Clara Weiss", timeout=NAV_TIMEOUT_MS
    )
    # A link styled (and announced) as a button.
    page.locator("main").get_by_role("button", name="Book", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Book with Dr Clara Weiss", timeout=NAV_TIMEOUT_MS
    )
    slots = page.locator("#slots")
    expect(slots.locator('[aria-current="date"]')).to_contain_text(
        f"{day:%a} {day.day} {day:%b}", timeout=UI_TIMEOUT_MS
    )
    slots.get_by_label(re.compile(rf"\b{first['time']} · In person")).check()
    page.get_by_label("For whom").select_option(label="Noah Okafor")
    page.get_by_label("Reason for the visit").fill("Check-up before sports camp")
    page.get_by_role("button", name="Book this time").click()

    expect(page).to_have_url(APPOINTMENT_PATH, timeout=NAV_TIMEOUT_MS)
    expect(page.locator("#messages")).to_contain_text(
        "Your appointment is booked.", timeout=UI_TIMEOUT_MS
    )
    booked_id = APPOINTMENT_PATH.match(page.url).group(1)
    booked = live_asgi.run(_appointment_state, booked_id)
    assert booked["patient"] == "Noah Okafor" and booked["local"] == first["time"]

    # The doctor's agenda shows the booking without a reload.
    booked_row = agenda.locator(f"#appointment-{booked_id}")
    expect(booked_row).to_contain_text("Noah Okafor", timeout=LIVE_MS)
    expect(booked_row).to_contain_text(first["time"], timeout=UI_TIMEOUT_MS)

    # Her home page lists it, for her son.
    page.get_by_role("link", name="Home", exact=True).click()
    expect(page).to_have_url(url_path_re(amina.home), timeout=NAV_TIMEOUT_MS)
    upcoming = page.locator("main")
    expect(upcoming).to_contain_text("Dr Clara Weiss", timeout=UI_TIMEOUT_MS)
    expect(upcoming).to_contain_text("for Noah Okafor", timeout=UI_TIMEOUT_MS)
    page.get_by_role("link", name="Appointments", exact=True).click()
    expect(page).to_have_url(url_path_re("/appointments/"), timeout=NAV_TIMEOUT_MS)
    page.locator(f'#upcoming-appointments a[href="/appointments/{booked_id}/"]').click()
    expect(page).to_have_url(url_path_re(f"/appointments/{booked_id}/"), timeout=NAV_TIMEOUT_MS)

    # The calendar file downloads as a booking request naming the doctor.
    with page.expect_download(timeout=NAV_TIMEOUT_MS) as download_info:
        page.get_by_role("link", name="Add to my calendar (.ics)").click()
    download = download_info.value
    assert download.suggested_filename == "appointment.ics"
    ics = Path(download.path()).read_text()
    assert "METHOD:REQUEST" in ics
    assert "Clara Weiss" in ics
    assert f"UID:appointment-{booked_id}@hospital" in ics

    # She moves it to another time that day on the reschedule page.
    page.get_by_role("button", name="Change the time").click()
    expect(page).to_have_url(
        url_path_re(f"/appointments/{booked_id}/reschedule/"), timeout=NAV_TIMEOUT_MS
    )
    reschedule_slots = page.locator("#slots")
    expect(reschedule_slots.get_by_label(re.compile("current time"))).to_have_count(
        1, timeout=UI_TIMEOUT_MS
    )
    other = reschedule_slots.locator("label").filter(has_not_text="current time").first
    new_time = other.inner_text().strip()[:5]
    assert new_time != first["time"]
    other.locator("input").check()
    page.get_by_role("button", name="Move to this time").click()

    expect(page).to_have_url(APPOINTMENT_PATH, timeout=NAV_TIMEOUT_MS)
    expect(page.locator("#messages")).to_contain_text(
        "moved to the new time", timeout=UI_TIMEOUT_MS
    )
    moved_id = APPOINTMENT_PATH.match(page.url).group(1)
    assert moved_id != booked_id
    assert live_asgi.run(_appointment_state, booked_id)["successor"] == moved_id
    moved_row = agenda.locator(f"#appointment-{moved_id}")
    expect(moved_row).to_contain_text(new_time, timeout=LIVE_MS)
    expect(agenda.locator(f"#appointment-{booked_id}")).to_have_count(0, timeout=UI_TIMEOUT_MS)

    # She cancels it with a reason (the browser asks first).
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Reason for cancelling").fill("Camp is cancelled")
    page.get_by_role("button", name="Cancel appointment").click()
    expect(page.locator("#messages")).to_contain_text(
        "The appointment is cancelled.", timeout=NAV_TIMEOUT_MS
    )
    expect(page.locator("#appointment")).to_contain_text("Camp is cancelled", timeout=UI_TIMEOUT_MS)
    cancelled = live_asgi.run(_appointment_state, moved_id)
    assert cancelled["status"] == "cancelled" and cancelled["reason"] == "Camp is cancelled"

    # The agenda shows the cancellation, still without a reload.
    expect(moved_row).to_contain_text("Cancelled", timeout=LIVE_MS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    agenda_page.screenshot(path=str(SHOTS / "doctor_agenda_live_cancellation.png"))
    page.screenshot(path=str(SHOTS / "patient_appointment_cancelled.png"))

    assert agenda_page.evaluate("() => window.__sameAgendaPage === true")
    assert path_of(agenda_page.url) == f"/doctor/agenda/?day={day.isoformat()}"

    # All of it under the strict CSP, with no script errors in either browser.
    for tab in (doctor_tab, patient_tab):
        assert tab.csp_violations() == []
        assert tab.errors == []
