"""Notifications arrive live over the WebSocket, only on their recipient's pages, under the CSP."""

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    NAV_TIMEOUT_MS,
    SHOTS,
    UI_TIMEOUT_MS,
    log_in,
    notification_create_live,
    url_path_re,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Runs before the page's own scripts (outside the page's CSP, like a browser extension would):
# notes when htmx's ws extension has opened the live-notification socket.
WS_OPEN_FLAG = """
document.addEventListener("htmx:wsOpen", function () { window.__liveSocketOpen = true; }, true);
"""
LIVE_WITHIN_S = 2.0


def _open_home_live(tab, account) -> list[str]:
    """Sign in, wait on the home page until its live socket is open; returns frames received."""
    frames: list[str] = []
    page = tab.page
    page.add_init_script(WS_OPEN_FLAG)
    page.on(
        "websocket",
        lambda socket: socket.on("framereceived", lambda payload: frames.append(str(payload))),
    )
    log_in(page, account)
    expect(page).to_have_url(url_path_re(account.home), timeout=NAV_TIMEOUT_MS)
    page.wait_for_function("() => window.__liveSocketOpen === true", timeout=NAV_TIMEOUT_MS)
    return frames


def test_notification_shows_live_only_on_its_recipients_page(live_asgi, make_account, new_tab):
    amina = make_account("patient", "Amina", "Okafor")
    ben = make_account("patient", "Ben", "Keller")
    tab_a, tab_b = new_tab(), new_tab()
    frames_a = _open_home_live(tab_a, amina)
    frames_b = _open_home_live(tab_b, ben)
    page_a, page_b = tab_a.page, tab_b.page
    badge_a, badge_b = page_a.locator("#unread-count"), page_b.locator("#unread-count")
    expect(badge_a).to_have_text("0", timeout=UI_TIMEOUT_MS)
    expect(badge_b).to_have_text("0", timeout=UI_TIMEOUT_MS)
    expect(page_a.locator("#toasts .toast")).to_have_count(0, timeout=UI_TIMEOUT_MS)

    title = "Your lab results are ready"
    started = time.monotonic()
    notification_create_live(live_asgi, amina.user.pk, title, body="Blood panel from Monday")

    # Amina sees it without reloading: a toast with the title, and the unread badge at 1.
    toast_a = page_a.locator("#toasts .toast")
    expect(toast_a).to_contain_text(title, timeout=int(LIVE_WITHIN_S * 1000))
    expect(badge_a).to_have_text("1", timeout=int(LIVE_WITHIN_S * 1000))
    elapsed = time.monotonic() - started
    assert elapsed <= LIVE_WITHIN_S, f"shown after {elapsed:.2f} s"
    expect(badge_a).not_to_have_class("badge badge-empty", timeout=UI_TIMEOUT_MS)
    expect(toast_a).to_contain_text("Blood panel from Monday", timeout=UI_TIMEOUT_MS)
    # It is also at the top of her "Latest notifications" widget, as a link to open it.
    latest_a = page_a.locator("#latest-notifications")
    expect(latest_a.get_by_role("link", name=title)).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert len(frames_a) == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page_a.screenshot(path=str(SHOTS / "patient_live_notification.png"))

    # Ben's page, two seconds on, shows nothing of it: no toast, badge still 0, not a byte sent.
    remaining_ms = (started + LIVE_WITHIN_S + 0.5 - time.monotonic()) * 1000
    page_b.wait_for_timeout(max(remaining_ms, 0))
    expect(badge_b).to_have_text("0", timeout=UI_TIMEOUT_MS)
    expect(badge_b).to_have_class("badge badge-empty", timeout=UI_TIMEOUT_MS)
    expect(page_b.locator("#toasts .toast")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(page_b.locator("main")).not_to_contain_text(title, timeout=UI_TIMEOUT_MS)
    assert frames_b == []

    # The other way round: Ben's own notification reaches Ben, and Amina's page stays as it was.
    ben_title = "Appointment moved to Thursday"
    started = time.monotonic()
    notification_create_live(live_asgi, ben.user.pk, ben_title)
    expect(page_b.locator("#toasts .toast")).to_contain_text(
        ben_title, timeout=int(LIVE_WITHIN_S * 1000)
    )
    expect(badge_b).to_have_text("1", timeout=int(LIVE_WITHIN_S * 1000))
    assert time.monotonic() - started <= LIVE_WITHIN_S
    page_a.wait_for_timeout(max((started + LIVE_WITHIN_S + 0.5 - time.monotonic()) * 1000, 0))
    expect(badge_a).to_have_text("1", timeout=UI_TIMEOUT_MS)
    expect(page_a.locator("#toasts")).not_to_contain_text(ben_title, timeout=UI_TIMEOUT_MS)
    expect(page_a.locator("main")).not_to_contain_text(ben_title, timeout=UI_TIMEOUT_MS)
    assert len(frames_a) == 1

    # The pushed entry works like any other: "Mark read" clears Amina's badge in place.
    latest_a.get_by_role("button", name="Mark read").click()
    expect(badge_a).to_have_text("0", timeout=NAV_TIMEOUT_MS)
    expect(latest_a.get_by_role("button", name="Mark read")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(latest_a.get_by_role("link", name=title)).to_be_visible(timeout=UI_TIMEOUT_MS)

    # Live updates, htmx and the site's script all ran under the strict CSP.
    assert tab_a.csp_violations() == []
    assert tab_b.csp_violations() == []
    assert tab_a.errors == [] and tab_b.errors == []


def test_live_notification_replaces_the_empty_state(live_asgi, make_account, tab):
    amina = make_account("patient", "Amina", "Okafor")
    _open_home_live(tab, amina)
    latest = tab.page.locator("#latest-notifications")
    expect(latest).to_contain_text("No notifications yet.", timeout=UI_TIMEOUT_MS)

    notification_create_live(live_asgi, amina.user.pk, "Your lab results are ready")

    expect(latest.get_by_role("link", name="Your lab results are ready")).to_be_visible(
        timeout=int(LIVE_WITHIN_S * 1000)
    )
    expect(latest).not_to_contain_text("No notifications yet.", timeout=1000)


def test_reading_in_one_tab_updates_the_badge_in_the_other(live_asgi, make_account, tab):
    amina = make_account("patient", "Amina", "Okafor")
    _open_home_live(tab, amina)
    for title in ("Your lab results are ready", "Appointment confirmed"):
        notification_create_live(live_asgi, amina.user.pk, title)
    # A second tab of the same browser (same session) on the notifications page.
    other = tab.context.new_page()
    other.add_init_script(WS_OPEN_FLAG)
    other.goto("/notifications/")
    other.wait_for_function("() => window.__liveSocketOpen === true", timeout=NAV_TIMEOUT_MS)
    home_badge, list_badge = tab.page.locator("#unread-count"), other.locator("#unread-count")
    expect(home_badge).to_have_text("2", timeout=UI_TIMEOUT_MS)
    expect(list_badge).to_have_text("2", timeout=UI_TIMEOUT_MS)

    # Mark one read on the list: the home tab's badge follows without a reload.
    other.locator("#notification-items").get_by_role("button", name="Mark read").first.click()
    expect(list_badge).to_have_text("1", timeout=NAV_TIMEOUT_MS)
    expect(home_badge).to_have_text("1", timeout=int(LIVE_WITHIN_S * 1000))

    # Mark all read: both are at zero.
    other.get_by_role("button", name="Mark all read").click()
    expect(list_badge).to_have_text("0", timeout=NAV_TIMEOUT_MS)
    expect(home_badge).to_have_text("0", timeout=int(LIVE_WITHIN_S * 1000))
    expect(home_badge).to_have_class("badge badge-empty", timeout=UI_TIMEOUT_MS)
    assert tab.csp_violations() == [] and tab.errors == []


def test_email_choices_are_saved_from_the_settings_page(live_asgi, make_account, tab):
    amina = make_account("patient", "Amina", "Okafor")
    _open_home_live(tab, amina)
    page = tab.page
    page.goto("/notifications/")
    page.get_by_role("link", name="Choose which notifications also come by email").click()
    expect(page).to_have_url(url_path_re("/notifications/settings/"), timeout=NAV_TIMEOUT_MS)
    sos = page.get_by_label("SOS emergency requests")
    expect(sos).to_be_checked(timeout=UI_TIMEOUT_MS)
    expect(sos).to_be_disabled(timeout=UI_TIMEOUT_MS)

    page.get_by_label("Bookings, confirmations, moves and cancellations").uncheck()
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#messages")).to_contain_text("Saved.", timeout=NAV_TIMEOUT_MS)
    page.reload()
    expect(page.get_by_label("Bookings, confirmations, moves and cancellations")).not_to_be_checked(
        timeout=UI_TIMEOUT_MS
    )
    expect(page.get_by_label("Medical records and results")).to_be_checked(timeout=UI_TIMEOUT_MS)
    assert tab.csp_violations() == [] and tab.errors == []
