"""An admin manages a user in the CMS, in two browsers: she finds an editor, deactivates him with
a reason (his open page loses its session at once), reactivates him and resets his two-factor
authentication (he must set it up again at sign-in). Then she looks over the oversight screens."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import NAV_TIMEOUT_MS, log_in, url_path_re

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path("/tmp/shots-oversight")


def _visit_and_emergency_access(patient_user_id: int, doctor_user_id: int) -> None:
    """Something for the oversight screens: an appointment and an unreviewed emergency access."""
    from clinic.models import Patient
    from clinic.services.break_glass import break_glass_open
    from core.models import User
    from tests.factories import local_datetime, make_appointment, make_doctor

    doctor = make_doctor(User.objects.get(pk=doctor_user_id))
    patient = Patient.objects.get(user_id=patient_user_id)
    make_appointment(doctor, patient, local_datetime(1, 10))
    break_glass_open(
        doctor=doctor,
        patient=patient,
        reason="Brought in unconscious after a road accident; need allergies and medication.",
    )


def _state(user_id: int) -> dict:
    from allauth.mfa.models import Authenticator
    from allauth.usersessions.models import UserSession

    from core.models import AuditEvent, User

    user = User.objects.get(pk=user_id)
    return {
        "active": user.is_active,
        "sessions": UserSession.objects.filter(user=user).count(),
        "authenticators": Authenticator.objects.filter(user=user).count(),
        "audited": sorted(
            AuditEvent.objects.filter(target_id=str(user.public_id))
            .exclude(reason="")
            .values_list("reason", flat=True)
        ),
    }


def test_admin_deactivates_reactivates_and_resets_mfa_of_a_user(live_asgi, make_account, new_tab):
    SHOTS.mkdir(exist_ok=True)
    admin = make_account("admin", "Ada", "Boss")
    editor = make_account("editor", "Eli", "Writer")
    patient = make_account("patient", "Pia", "Patient")
    doctor = make_account("doctor", "Dora", "Heart")
    live_asgi.run(_visit_and_emergency_access, patient.user.pk, doctor.user.pk)

    # Eli is working in the CMS in his own browser.
    eli = new_tab()
    log_in(eli.page, editor)
    eli.page.goto("/cms/")
    expect(eli.page).to_have_url(url_path_re("/cms/"))
    assert live_asgi.run(_state, editor.user.pk)["sessions"] == 1

    ada = new_tab()
    log_in(ada.page, admin)
    expect(ada.page).to_have_url(url_path_re(admin.home))
    ada.page.goto("/cms/users/")
    expect(ada.page.get_by_role("heading", name="Users")).to_be_visible()
    ada.page.screenshot(path=str(SHOTS / "users-list.png"), full_page=True)

    # She finds him by name and opens his page.
    search = ada.page.locator("input[name=q]").first
    search.fill("writer")
    search.press("Enter")
    expect(ada.page).to_have_url(url_path_re("/cms/users/"))
    rows = ada.page.locator("table.listing tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("eli.writer@example.test")
    rows.first.get_by_role("link", name="Eli Writer").click()
    expect(ada.page.get_by_test_id("user-active")).to_have_text("Yes")
    expect(ada.page.get_by_test_id("user-mfa")).to_have_text("Yes")

    # Deactivate, with a reason.
    form = ada.page.locator("#deactivate-form")
    form.get_by_label("Reason (kept in the audit log)").fill("Left the editorial team.")
    form.get_by_role("button", name="Deactivate").click()
    expect(ada.page.get_by_text("is deactivated and signed out everywhere")).to_be_visible()
    expect(ada.page.get_by_test_id("user-active")).to_contain_text("No")
    expect(ada.page.get_by_role("cell", name="Left the editorial team.")).to_be_visible()
    ada.page.screenshot(path=str(SHOTS / "user-deactivated.png"), full_page=True)

    # Eli's open session is gone: his next click lands on the sign-in page.
    state = live_asgi.run(_state, editor.user.pk)
    assert state["active"] is False and state["sessions"] == 0
    eli.page.goto("/cms/pages/")
    expect(eli.page).to_have_url(url_path_re("/accounts/login/"), timeout=NAV_TIMEOUT_MS)

    # Reactivate.
    ada.page.locator("#reactivate-form").get_by_role("button", name="Reactivate").click()
    expect(ada.page.get_by_text("can sign in again")).to_be_visible()
    expect(ada.page.get_by_test_id("user-active")).to_have_text("Yes")

    # Reset his two-factor authentication: he lost his phone.
    form = ada.page.locator("#mfa-reset-form")
    form.get_by_label("Reason (kept in the audit log)").fill("Lost his phone.")
    form.get_by_role("button", name="Reset two-factor authentication").click()
    expect(ada.page.get_by_text("Two-factor authentication of Eli Writer is reset")).to_be_visible()
    expect(ada.page.get_by_test_id("user-mfa")).to_have_text("No")
    state = live_asgi.run(_state, editor.user.pk)
    assert state["active"] is True and state["authenticators"] == 0
    assert state["audited"] == ["Left the editorial team.", "Lost his phone."]

    # Eli signs in with his password only and is asked to set up an authenticator app.
    editor.totp_secret = None
    log_in(eli.page, editor)
    # (allauth confirms the password once more before an authenticator is added)
    expect(eli.page).to_have_url(
        re.compile(r"/accounts/reauthenticate/\?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F$")
    )

    # The oversight screens: the emergency access waits for review at the top of the queue.
    ada.page.goto("/cms/emergency-access/")
    rows = ada.page.locator("table.listing tbody tr")
    expect(rows.first).to_contain_text("Awaiting review")
    ada.page.screenshot(path=str(SHOTS / "emergency-access.png"), full_page=True)
    ada.page.goto("/cms/appointments/")
    expect(ada.page.locator("table.listing tbody tr")).to_have_count(1)
    expect(ada.page.locator("table.listing")).to_contain_text("Pia Patient")
    ada.page.screenshot(path=str(SHOTS / "appointments.png"), full_page=True)

    assert not ada.errors and not eli.errors
