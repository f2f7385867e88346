"""The patient's SOS page in Chromium: holding the button with the keyboard, the countdown that
Escape cancels, sharing the browser's location (allowed and refused), and no CSP violations."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    NAV_TIMEOUT_MS,
    SHOTS,
    UI_TIMEOUT_MS,
    Tab,
    log_in,
    url_path_re,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SOS_STATUS_URL = re.compile(r"^https?://[^/]+/sos/[0-9a-f-]{36}/$")


def _tab(chromium, live_asgi, **context_options) -> Tab:
    context = chromium.new_context(
        base_url=live_asgi.url, viewport={"width": 390, "height": 844}, **context_options
    )
    page = context.new_page()
    page.set_default_timeout(NAV_TIMEOUT_MS)
    tab = Tab(context=context, page=page)
    page.on("console", lambda message: tab.console.append(message.text))
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    return tab


def _sos_row(public_id: str) -> tuple:
    from clinic.models import SOSRequest

    sos = SOSRequest.objects.get(public_id=public_id)
    return str(sos.latitude), str(sos.longitude), sos.location_accuracy_m, sos.description


def test_keyboard_hold_countdown_escape_then_send_with_the_shared_location(
    live_asgi, chromium, make_account
):
    amina = make_account("patient", "Amina", "Okafor")
    tab = _tab(
        chromium,
        live_asgi,
        geolocation={"latitude": 52.520008, "longitude": 13.404954, "accuracy": 20},
        permissions=["geolocation"],
    )
    page = tab.page
    try:
        log_in(page, amina)
        expect(page).to_have_url(url_path_re(amina.home), timeout=NAV_TIMEOUT_MS)
        page.goto("/sos/")
        expect(page.locator(".sos-emergency")).to_contain_text("call 112 now")
        expect(page.locator("#sos-how")).to_contain_text("Press and hold")
        page.get_by_label("What is happening").fill("My father collapsed")

        page.get_by_role("button", name="Share my location").click()
        expect(page.locator("#sos-location-status")).to_contain_text(
            "Location shared: 52.520008, 13.404954 (±20 m)", timeout=UI_TIMEOUT_MS
        )
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "sos_patient_page.png"), full_page=True)

        # Enter in a text field sends nothing: only the held button does.
        page.get_by_label("Where are you?").press("Enter")
        page.wait_for_timeout(300)
        expect(page).to_have_url(url_path_re("/sos/"))

        button = page.locator("#sos-button")
        countdown = page.locator("#sos-countdown")
        button.focus()
        page.keyboard.down(" ")
        page.wait_for_timeout(1_300)
        page.keyboard.up(" ")
        expect(countdown).to_be_visible()
        expect(page.locator("#sos-countdown-cancel")).to_be_focused()
        page.keyboard.press("Escape")
        expect(countdown).to_be_hidden()
        expect(button).to_be_focused()

        # A short press of Enter is not enough; a held one is.
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        expect(countdown).to_be_hidden()
        page.keyboard.down("Enter")
        page.wait_for_timeout(1_300)
        page.keyboard.up("Enter")
        expect(countdown).to_be_visible()
        page.wait_for_url(SOS_STATUS_URL, timeout=NAV_TIMEOUT_MS)

        public_id = page.url.rstrip("/").rsplit("/", 1)[1]
        assert live_asgi.run(_sos_row, public_id) == (
            "52.520008",
            "13.404954",
            20,
            "My father collapsed",
        )
        expect(page.locator("#sos-status")).to_contain_text("Open")
        assert tab.csp_violations() == []
        assert tab.errors == []
    finally:
        tab.context.close()


def test_a_refused_location_is_said_and_the_sos_still_goes(live_asgi, chromium, make_account):
    amina = make_account("patient", "Amina", "Okafor")
    tab = _tab(chromium, live_asgi)  # no geolocation permission: the browser refuses
    page = tab.page
    try:
        log_in(page, amina)
        expect(page).to_have_url(url_path_re(amina.home), timeout=NAV_TIMEOUT_MS)
        page.goto("/sos/")
        page.get_by_role("button", name="Share my location").click()
        expect(page.locator("#sos-location-status")).to_contain_text(
            "did not allow", timeout=UI_TIMEOUT_MS
        )
        box = page.locator("#sos-button").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.wait_for_timeout(1_300)
        page.mouse.up()
        page.wait_for_url(SOS_STATUS_URL, timeout=NAV_TIMEOUT_MS)
        public_id = page.url.rstrip("/").rsplit("/", 1)[1]
        assert live_asgi.run(_sos_row, public_id)[:3] == ("None", "None", None)
        assert tab.csp_violations() == []
        assert tab.errors == []
    finally:
        tab.context.close()
