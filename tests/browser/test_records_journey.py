"""The records journey in a real browser: after a visit, a doctor records a lab result with a
value out of range and marks it reviewed; the patient's mother, who acts for him, sees it
flagged, sees who viewed it, asks for the prescription to be delivered and follows the parcel
while an admin moves it on, without reloading her page."""

import re
from datetime import timedelta

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
# A live change reaches the tracking page within this (the push plus the region's refresh),
# well before its 30-second poll would.
LIVE_MS = 5_000
RECORD_PATH = re.compile(r"^https?://[^/]+/records/([0-9a-f-]{36})/$")
DELIVERY_PATH = re.compile(r"^https?://[^/]+/deliveries/([0-9a-f-]{36})/$")


def _family_and_visit(mother_id: int, doctor_id: int) -> dict:
    """Amina adds her son Noah (7) as a dependent; Noah's visit with Dr Clara started twenty
    minutes ago and she issues a prescription from it, which completes the visit; Amina has a
    saved home address."""
    from django.utils import timezone

    from clinic.services.patients import dependent_add
    from clinic.services.prescriptions import address_add, prescription_issue
    from core.models import User
    from tests.factories import make_appointment, make_doctor

    amina = User.objects.get(pk=mother_id)
    clara = make_doctor(User.objects.get(pk=doctor_id))
    today = timezone.localdate()
    noah = dependent_add(
        by=amina,
        first_name="Noah",
        last_name="Okafor",
        date_of_birth=today.replace(year=today.year - 7, day=1),
        relationship="child",
    )
    visit = make_appointment(clara, noah, timezone.now() - timedelta(minutes=20), booked_by=amina)
    prescription = prescription_issue(
        appointment=visit,
        by=clara.user,
        items=[
            {
                "medication": "Ferrous sulfate",
                "strength": "200 mg",
                "dose": "1 tablet",
                "frequency": "once daily",
            }
        ],
    )
    address_add(
        owner=amina,
        fields={
            "label": "Home",
            "recipient_name": "Amina Okafor",
            "line1": "Hauptstr. 1",
            "postal_code": "10115",
            "city": "Berlin",
        },
    )
    return {"noah": str(noah.public_id), "prescription": str(prescription.public_id)}


def _record_state(public_id: str) -> dict:
    from clinic.models import MedicalRecord

    record = MedicalRecord.objects.get(public_id=public_id)
    analyte = record.analytes.get()
    return {
        "kind": record.kind,
        "linked": record.appointment_id is not None,
        "released": record.released_at is not None,
        "reviewed": record.reviewed_at is not None,
        "out_of_range": analyte.out_of_range,
    }


def _delivery_status(public_id: str) -> str:
    from clinic.models import Delivery

    return Delivery.objects.get(public_id=public_id).status


def test_a_lab_result_out_of_range_reaches_the_mother_who_has_the_prescription_delivered(
    live_asgi, make_account, new_tab
):
    amina = make_account("patient", "Amina", "Okafor")
    clara = make_account("doctor", "Clara", "Weiss")
    ada = make_account("admin", "Ada", "Admin")
    ids = live_asgi.run(_family_and_visit, amina.user.pk, clara.user.pk)
    noah_records = f"/patients/{ids['noah']}/records/"

    # Dr Clara signs in (password and authenticator code) and writes the lab result.
    doctor_tab = new_tab()
    dpage = doctor_tab.page
    log_in(dpage, clara)
    expect(dpage).to_have_url(url_path_re(clara.home), timeout=NAV_TIMEOUT_MS)
    dpage.goto(f"{noah_records}new/?kind=lab_result")
    expect(dpage.get_by_role("heading", level=1)).to_have_text(
        "New record for Noah Okafor", timeout=NAV_TIMEOUT_MS
    )
    dpage.get_by_label("Title").fill("Full blood count")
    # The visit it follows (the only one, completed by the prescription).
    dpage.get_by_label("Visit").select_option(index=1)
    dpage.get_by_label("Test 1", exact=True).fill("Haemoglobin")
    dpage.get_by_label("Value 1", exact=True).fill("9.1")
    dpage.get_by_label("Unit 1", exact=True).fill("g/dL")
    dpage.get_by_label("Reference low 1", exact=True).fill("11.5")
    dpage.get_by_label("Reference high 1", exact=True).fill("15.5")
    dpage.get_by_label("Text").fill("Low haemoglobin; iron prescribed, recheck in six weeks.")
    dpage.get_by_role("button", name="Save record").click()

    expect(dpage).to_have_url(RECORD_PATH, timeout=NAV_TIMEOUT_MS)
    record_id = RECORD_PATH.match(dpage.url).group(1)
    expect(dpage.locator("#messages")).to_contain_text(
        "The patient sees it once you mark it reviewed.", timeout=UI_TIMEOUT_MS
    )
    results = dpage.locator("table.analytes")
    expect(results).to_contain_text("Haemoglobin", timeout=UI_TIMEOUT_MS)
    expect(results).to_contain_text("Low — out of range", timeout=UI_TIMEOUT_MS)
    held = live_asgi.run(_record_state, record_id)
    assert held == {
        "kind": "lab_result",
        "linked": True,
        "released": False,
        "reviewed": False,
        "out_of_range": True,
    }

    dpage.get_by_role("button", name="Mark reviewed").click()
    expect(dpage.locator("#messages")).to_contain_text("Marked reviewed.", timeout=NAV_TIMEOUT_MS)
    expect(dpage.locator("#review-status")).to_contain_text(
        "Reviewed by Dr Clara Weiss", timeout=UI_TIMEOUT_MS
    )
    expect(dpage.get_by_role("button", name="Mark reviewed")).to_have_count(0)
    reviewed = live_asgi.run(_record_state, record_id)
    assert reviewed["released"] and reviewed["reviewed"]

    # Amina signs in and opens her son's records: the result is there, flagged.
    patient_tab = new_tab()
    page = patient_tab.page
    page.add_init_script(WS_OPEN_FLAG)
    log_in(page, amina)
    expect(page).to_have_url(url_path_re(amina.home), timeout=NAV_TIMEOUT_MS)
    page.goto("/records/")
    page.locator("main").get_by_role("link", name="Noah Okafor").click()
    expect(page).to_have_url(url_path_re(noah_records), timeout=NAV_TIMEOUT_MS)
    timeline = page.locator("#record-timeline")
    expect(timeline).to_contain_text("Full blood count", timeout=UI_TIMEOUT_MS)
    flagged = timeline.locator("li.out-of-range")
    expect(flagged).to_contain_text("Haemoglobin: 9.1 g/dL", timeout=UI_TIMEOUT_MS)
    expect(flagged).to_contain_text("out of range", timeout=UI_TIMEOUT_MS)
    expect(timeline).not_to_contain_text("awaiting review")
    timeline.get_by_role("link", name="Full blood count").click()
    expect(page).to_have_url(url_path_re(f"/records/{record_id}/"), timeout=NAV_TIMEOUT_MS)
    expect(page.locator("table.analytes tr.out-of-range")).to_contain_text(
        "Low — out of range", timeout=UI_TIMEOUT_MS
    )
    # Read-only for her.
    expect(page.get_by_role("button", name="Mark reviewed")).to_have_count(0)
    expect(page.get_by_role("button", name="Add annotation")).to_have_count(0)

    # Who viewed Noah's records: Dr Clara, and Amina herself as his family member.
    page.goto("/patient/access-log/")
    page.get_by_label("Whose records").select_option(label="Noah Okafor")
    expect(page).to_have_url(re.compile(rf"patient={ids['noah']}"), timeout=NAV_TIMEOUT_MS)
    log = page.locator("#access-log")
    expect(log.get_by_role("heading", level=2)).to_have_text(
        "Records of Noah Okafor", timeout=UI_TIMEOUT_MS
    )
    clara_rows = log.locator("tbody tr").filter(has_text="Dr Clara Weiss")
    expect(clara_rows.filter(has_text="Full blood count").first).to_be_visible(
        timeout=UI_TIMEOUT_MS
    )
    expect(log.locator("tbody tr").filter(has_text="family member or proxy").first).to_be_visible()

    # The prescription, delivered home.
    page.goto(f"/patients/{ids['noah']}/prescriptions/")
    page.locator(f'main a[href="/prescriptions/{ids["prescription"]}/"]').click()
    expect(page).to_have_url(
        url_path_re(f"/prescriptions/{ids['prescription']}/"), timeout=NAV_TIMEOUT_MS
    )
    expect(page.locator("#prescription")).to_contain_text("Ferrous sulfate", timeout=UI_TIMEOUT_MS)
    delivery_box = page.locator("#prescription-delivery")
    delivery_box.get_by_label("Deliver to").select_option(index=0)
    delivery_box.get_by_role("button", name="Request delivery").click()
    expect(page).to_have_url(DELIVERY_PATH, timeout=NAV_TIMEOUT_MS)
    delivery_id = DELIVERY_PATH.match(page.url).group(1)
    expect(page.locator("#messages")).to_contain_text("Delivery requested.", timeout=UI_TIMEOUT_MS)
    status = page.locator("#delivery-status")
    expect(status.get_by_role("heading", level=2)).to_have_text("Requested", timeout=UI_TIMEOUT_MS)
    expect(page.locator("main address")).to_contain_text("Hauptstr. 1", timeout=UI_TIMEOUT_MS)
    page.wait_for_function("() => window.__liveSocketOpen === true", timeout=NAV_TIMEOUT_MS)
    # Gone if the page reloads: every later change must arrive by the socket and htmx.
    page.evaluate("() => { window.__sameTrackingPage = true; }")

    # Ada (password and authenticator code) moves the parcel on, step by step.
    admin_tab = new_tab()
    apage = admin_tab.page
    log_in(apage, ada)
    expect(apage).to_have_url(url_path_re(ada.home), timeout=NAV_TIMEOUT_MS)
    apage.goto("/operations/deliveries/")
    open_deliveries = apage.locator("#operations-deliveries")
    expect(open_deliveries).to_contain_text("Noah Okafor", timeout=UI_TIMEOUT_MS)
    for button, shown in (("Being prepared", "Being prepared"), ("On its way", "On its way")):
        open_deliveries.get_by_role("button", name=button).click()
        expect(apage.locator("#messages")).to_contain_text(
            "Delivery updated.", timeout=NAV_TIMEOUT_MS
        )
        expect(open_deliveries.get_by_role("button", name=button)).to_have_count(
            0, timeout=UI_TIMEOUT_MS
        )
        # Amina's tracking page follows without a reload.
        expect(status.get_by_role("heading", level=2)).to_have_text(shown, timeout=LIVE_MS)
        expect(status.locator('[aria-current="step"]')).to_contain_text(shown)
    assert live_asgi.run(_delivery_status, delivery_id) == "dispatched"
    # The steps done so far carry their times.
    expect(status.locator(".delivery-step-done time")).to_have_count(3, timeout=UI_TIMEOUT_MS)

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "proxy_delivery_tracking_live.png"))
    assert page.evaluate("() => window.__sameTrackingPage === true")
    assert path_of(page.url) == f"/deliveries/{delivery_id}/"

    # All of it under the strict CSP, with no script errors in any browser.
    for tab in (doctor_tab, patient_tab, admin_tab):
        assert tab.csp_violations() == []
        assert tab.errors == []
