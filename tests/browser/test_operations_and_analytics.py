"""The admin in Chromium: the operations board shows today's figures and refreshes a changed
figure without a reload (on its 30-second poll and at once on a notification), on a desktop
and a phone; the CMS home draws the analytics charts without console errors."""

from datetime import datetime, time, timedelta
from itertools import pairwise

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    NAV_TIMEOUT_MS,
    UI_TIMEOUT_MS,
    log_in,
    notification_create_live,
    url_path_re,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = "/tmp/shots-analytics"


def _seed() -> dict:
    """Today: one confirmed and one completed appointment with Dr Weiss, one open SOS request,
    one pending doctor application; and a month of history for the charts."""
    from django.utils import timezone

    from clinic.models import Appointment, Doctor, SOSRequest
    from clinic.scheduling import hospital_zone
    from tests.factories import (
        DoctorUserFactory,
        PatientUserFactory,
        make_appointment,
        make_doctor,
    )

    clara = make_doctor(DoctorUserFactory(first_name="Clara", last_name="Weiss"))
    make_doctor(
        DoctorUserFactory(first_name="Lena", last_name="Vogel"), status=Doctor.Status.PENDING
    )
    amina = PatientUserFactory(first_name="Amina", last_name="Okafor")
    ben = PatientUserFactory(first_name="Ben", last_name="Keller")
    today = timezone.localdate()
    zone = hospital_zone()
    make_appointment(
        clara,
        amina.patient,
        datetime.combine(today, time(0, 30), tzinfo=zone),
        status=Appointment.Status.COMPLETED,
    )
    make_appointment(clara, ben.patient, datetime.combine(today, time(23, 0), tzinfo=zone))
    statuses = [
        Appointment.Status.COMPLETED,
        Appointment.Status.COMPLETED,
        Appointment.Status.CANCELLED,
        Appointment.Status.NO_SHOW,
    ]
    for days in range(1, 29):
        for n, patient in enumerate((amina, ben)):
            start = datetime.combine(today - timedelta(days=days), time(9 + n), tzinfo=zone)
            make_appointment(
                clara, patient.patient, start, status=statuses[(days + n) % len(statuses)]
            )
    now = timezone.now()
    SOSRequest.objects.create(
        patient=amina.patient,
        raised_by=amina,
        created_at=now - timedelta(days=2),
        acknowledged_at=now - timedelta(days=2) + timedelta(seconds=50),
        status=SOSRequest.Status.RESOLVED,
        closed_at=now - timedelta(days=2) + timedelta(minutes=20),
    )
    SOSRequest.objects.create(patient=amina.patient, raised_by=amina)
    return {"ben_id": ben.pk}


def _raise_sos(patient_user_id: int) -> None:
    from clinic.models import SOSRequest
    from core.models import User

    user = User.objects.get(pk=patient_user_id)
    SOSRequest.objects.create(patient=user.patient, raised_by=user)


def test_the_board_refreshes_itself_and_the_cms_home_draws_the_charts(
    live_asgi, new_tab, make_account
):
    from pathlib import Path

    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    ada = make_account("admin", "Ada", "Admin")
    seeded = live_asgi.run(_seed)
    tab = new_tab()
    page = tab.page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # A controllable clock: the 30-second poll can be fast-forwarded instead of waited for.
    page.clock.install()

    log_in(page, ada)
    expect(page).to_have_url(url_path_re("/operations/"), timeout=NAV_TIMEOUT_MS)
    board = page.locator("#operations")
    expect(board.locator("#ops-appointments")).to_contain_text("2 appointments today")
    expect(board.locator("#ops-appointments")).to_contain_text("1 still to come")
    expect(board.locator("#ops-sos")).to_contain_text("1 open SOS request")
    expect(board.locator("#ops-applications")).to_contain_text("1 doctor application pending")
    expect(board.locator("#ops-applications")).to_contain_text("Dr Lena Vogel")
    expect(board.locator("#ops-deliveries")).to_contain_text("0 deliveries in progress")
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    page.screenshot(path=f"{SHOTS}/operations_desktop.png", full_page=True)

    # A marker on the window survives only if the page is not reloaded.
    page.evaluate("window.__notReloaded = true")
    live_asgi.run(_raise_sos, seeded["ben_id"])
    page.clock.fast_forward(31_000)
    expect(board.locator("#ops-sos")).to_contain_text("2 open SOS requests", timeout=UI_TIMEOUT_MS)
    expect(board.locator("#ops-sos")).to_contain_text("Ben Keller")

    # A notification reaching the admin's socket refreshes the board at once.
    live_asgi.run(_raise_sos, seeded["ben_id"])
    notification_create_live(live_asgi, ada.user.pk, "SOS raised")
    expect(board.locator("#ops-sos")).to_contain_text("3 open SOS requests", timeout=UI_TIMEOUT_MS)
    assert page.evaluate("window.__notReloaded") is True

    page.set_viewport_size({"width": 390, "height": 844})
    expect(board.locator("#ops-deliveries")).to_be_visible()
    regions = [
        board.locator(f"#ops-{name}").bounding_box()
        for name in ("appointments", "sos", "applications", "deliveries")
    ]
    # One column on a phone: the regions stack, each as wide as the screen allows.
    assert all(box["x"] == regions[0]["x"] for box in regions)
    assert all(a["y"] < b["y"] for a, b in pairwise(regions))
    assert all(box["x"] + box["width"] <= 390 for box in regions)
    page.screenshot(path=f"{SHOTS}/operations_phone.png", full_page=True)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/cms/")
    panel = page.locator("#analytics-section")
    expect(panel).to_be_visible()
    for chart in ("daily", "specialties", "patients"):
        canvas = page.locator(f"#analytics-{chart}")
        expect(canvas).to_be_visible()
        drawn = page.evaluate(
            """id => {
                const chart = Chart.getChart(document.getElementById(id));
                return chart ? chart.data.datasets.reduce(
                    (sum, set) => sum + set.data.reduce((a, b) => a + b, 0), 0) : -1;
            }""",
            f"analytics-{chart}",
        )
        assert drawn > 0, chart
        box = canvas.bounding_box()
        assert box["width"] > 200 and box["height"] > 100
    expect(panel.locator('[data-figure="no-show-rate"]')).to_contain_text("%")
    expect(panel.locator('[data-figure="sos-median"]')).to_contain_text("50 s")
    # Wagtail scrolls its main column itself: each part is shot as an element.
    page.screenshot(path=f"{SHOTS}/cms_home.png")
    panel.locator(".analytics__chart--wide").screenshot(path=f"{SHOTS}/cms_analytics_daily.png")
    panel.locator(".analytics__pair").screenshot(path=f"{SHOTS}/cms_analytics_pair.png")
    panel.get_by_text("Show as a table").first.click()
    expect(panel.locator("caption", has_text="Appointments per day")).to_be_visible()

    assert errors == []
    assert tab.errors == []
    assert tab.csp_violations() == []
