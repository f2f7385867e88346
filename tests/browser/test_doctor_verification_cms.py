"""Doctor verification in the CMS, in a real browser: an admin filters the pending applications,
inspects one with its licence and credential documents and verifies it; the new doctor is then
in the patients' directory and a patient books her. A second applicant is rejected with a
reason (an empty one is refused first) and reads that reason on her own pages."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import NAV_TIMEOUT_MS, UI_TIMEOUT_MS, log_in, url_path_re

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path("/tmp/shots-verify")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
LISTING = "/cms/doctor-applications/"
INSPECT = re.compile(r"^https?://[^/]+/cms/doctor-applications/inspect/\d+/$")
BOOKED = re.compile(r"^https?://[^/]+/appointments/[0-9a-f-]{36}/$")


def _apply(user_id: int, *, specialty: str, licence: str, document: str, **profile) -> int:
    """The user applies from the site's form service, with one credential document."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from clinic.models import Language, Specialty
    from clinic.services.doctors import CredentialUpload, doctor_apply
    from core.models import User

    doctor = doctor_apply(
        user=User.objects.get(pk=user_id),
        specialty=Specialty.objects.get(slug=specialty),
        licence_number=licence,
        languages=Language.objects.filter(code__in=["de", "en"]),
        documents=[
            CredentialUpload(
                file=SimpleUploadedFile("licence.pdf", PDF),
                original_name=document,
                content_type="application/pdf",
            )
        ],
        **profile,
    )
    return doctor.pk


def _verified_colleague() -> None:
    """A doctor verified long ago, so the listing has more than pending rows."""
    from tests.factories import DoctorUserFactory, make_doctor

    make_doctor(DoctorUserFactory(first_name="Omar", last_name="Haddad"))


def _weekly_hours(doctor_pk: int) -> None:
    """The new doctor's working hours, every day 09:00-12:00 (she would set them herself
    after enrolling her authenticator app)."""
    from clinic.models import Doctor
    from tests.scheduling_fixtures import EVERY_DAY, weekly

    weekly(Doctor.objects.get(pk=doctor_pk), EVERY_DAY, "09:00", "12:00")


def _doctor_state(doctor_pk: int) -> dict:
    from clinic.models import Appointment, Doctor

    doctor = Doctor.objects.select_related("user").get(pk=doctor_pk)
    return {
        "status": doctor.status,
        "reason": doctor.status_reason,
        "role": doctor.user.role,
        "appointments": Appointment.objects.filter(doctor=doctor).count(),
    }


def _outbox_for(email: str) -> list[str]:
    """Subject and body of each email sent to `email`."""
    from django.core import mail

    return [f"{message.subject}\n{message.body}" for message in mail.outbox if email in message.to]


def _screenshot(page, name: str) -> None:
    # The CMS scrolls inside its own frame, so a full-page shot needs a tall window instead.
    page.set_viewport_size({"width": 1280, "height": 1700})
    page.screenshot(path=str(SHOTS / name))
    page.set_viewport_size({"width": 1280, "height": 900})


def test_admin_verifies_one_applicant_who_is_then_booked_and_rejects_another(
    live_asgi, make_account, new_tab
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ada = make_account("admin", "Ada", "Admin")
    hanna = make_account("patient", "Hanna", "Berg")
    paula = make_account("patient", "Paula", "Novak")
    amina = make_account("patient", "Amina", "Okafor")
    live_asgi.run(_verified_colleague)
    hanna_pk = live_asgi.run(
        _apply,
        hanna.user.pk,
        specialty="cardiology",
        licence="LIC-BERG-2024",
        document="Approbation Hanna Berg.pdf",
        location="Cardiology, building B",
        years_of_experience=9,
        education="Charité Berlin",
        bio="Heart failure and rhythm clinic.",
    )
    paula_pk = live_asgi.run(
        _apply,
        paula.user.pk,
        specialty="cardiology",
        licence="LIC-NOVAK-17",
        document="Diploma Paula Novak.pdf",
    )

    # The admin signs in (password and authenticator code) and opens the CMS.
    admin_tab = new_tab()
    page = admin_tab.page
    log_in(page, ada)
    expect(page).to_have_url(url_path_re(ada.home), timeout=NAV_TIMEOUT_MS)
    page.goto("/cms/")
    page.get_by_role("link", name="Doctor applications").click()
    expect(page).to_have_url(url_path_re(LISTING), timeout=NAV_TIMEOUT_MS)
    listing = page.locator("#listing-results")
    expect(listing).to_contain_text("Omar Haddad", timeout=UI_TIMEOUT_MS)

    # Only the pending ones, the longest waiting first: chosen in the filter drawer, the results
    # change in place and the filter lands in the address bar (the operations board links there).
    page.get_by_role("button", name="Show filters").click()
    page.locator(".w-drilldown__toggle", has_text="Status").click()
    page.get_by_label("Status").select_option("pending")
    expect(page).to_have_url(re.compile(r"\?(.*&)?status=pending"), timeout=NAV_TIMEOUT_MS)
    expect(listing).not_to_contain_text("Omar Haddad", timeout=UI_TIMEOUT_MS)
    rows = listing.locator("tbody tr")
    expect(rows).to_have_count(2, timeout=UI_TIMEOUT_MS)
    expect(rows.nth(0)).to_contain_text("Hanna Berg")
    expect(rows.nth(0)).to_contain_text("LIC-BERG-2024")
    expect(rows.nth(1)).to_contain_text("Paula Novak")
    _screenshot(page, "listing_pending.png")

    # Her application: licence, documents, history.
    rows.nth(0).get_by_role("link", name="Hanna Berg", exact=True).click()
    expect(page).to_have_url(INSPECT, timeout=NAV_TIMEOUT_MS)
    expect(page.locator("#licence-number")).to_have_text("LIC-BERG-2024")
    documents = page.locator("#credential-documents")
    expect(documents).to_contain_text("Approbation Hanna Berg.pdf")
    expect(page.locator("#decision-history")).to_contain_text("Applied")
    _screenshot(page, "inspect_pending.png")

    # The document opens for the admin (a download).
    with page.expect_download(timeout=NAV_TIMEOUT_MS) as download_info:
        documents.get_by_role("link", name=re.compile("Approbation Hanna Berg.pdf")).click()
    assert Path(download_info.value.path()).read_bytes() == PDF

    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(url_path_re(LISTING), timeout=NAV_TIMEOUT_MS)
    expect(page.locator(".messages")).to_contain_text("is verified", timeout=UI_TIMEOUT_MS)
    state = live_asgi.run(_doctor_state, hanna_pk)
    assert state["status"] == "verified" and state["role"] == "doctor"
    assert any("Your doctor account is ready" in mail for mail in _outbox_for(hanna.email))

    # She sets her hours; a patient finds her in the directory and books her.
    live_asgi.run(_weekly_hours, hanna_pk)
    patient_tab = new_tab()
    patient_page = patient_tab.page
    log_in(patient_page, amina)
    expect(patient_page).to_have_url(url_path_re(amina.home), timeout=NAV_TIMEOUT_MS)
    patient_page.goto("/doctors/")
    results = patient_page.locator("#results")
    expect(results).to_contain_text("Dr Hanna Berg", timeout=UI_TIMEOUT_MS)
    expect(results).not_to_contain_text("Paula Novak")
    results.get_by_role("link", name="Dr Hanna Berg").click()
    patient_page.locator("main").get_by_role("button", name="Book", exact=True).click()
    expect(patient_page.get_by_role("heading", level=1)).to_have_text(
        "Book with Dr Hanna Berg", timeout=NAV_TIMEOUT_MS
    )
    patient_page.locator("#slots input[type=radio]").first.check()
    patient_page.get_by_label("Reason for the visit").fill("Palpitations")
    patient_page.get_by_role("button", name="Book this time").click()
    expect(patient_page).to_have_url(BOOKED, timeout=NAV_TIMEOUT_MS)
    assert live_asgi.run(_doctor_state, hanna_pk)["appointments"] == 1

    # The second applicant: a rejection needs a reason.
    page.goto(f"{LISTING}?status=pending")
    expect(rows).to_have_count(1, timeout=UI_TIMEOUT_MS)
    rows.nth(0).get_by_role("link", name="Paula Novak", exact=True).click()
    expect(page).to_have_url(INSPECT, timeout=NAV_TIMEOUT_MS)
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("#decision")).to_contain_text(
        "Give the applicant a reason for the rejection.", timeout=NAV_TIMEOUT_MS
    )
    assert live_asgi.run(_doctor_state, paula_pk)["status"] == "pending"
    _screenshot(page, "inspect_reject_needs_reason.png")
    reason = "The licence number is not in the medical council's register. Send a certified copy."
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name="Reject").click()
    expect(page).to_have_url(url_path_re(LISTING), timeout=NAV_TIMEOUT_MS)
    expect(page.locator(".messages")).to_contain_text("is rejected", timeout=UI_TIMEOUT_MS)
    state = live_asgi.run(_doctor_state, paula_pk)
    assert state["status"] == "rejected" and state["reason"] == reason
    page.goto(f"{LISTING}?status=rejected")
    listing.get_by_role("link", name="Paula Novak", exact=True).click()
    expect(page.locator("#decision-history")).to_contain_text(reason, timeout=NAV_TIMEOUT_MS)
    expect(page.locator("#decision-history")).to_contain_text("Ada Admin")
    _screenshot(page, "inspect_rejected.png")

    # She reads the reason in her notifications, her email and on her application page.
    applicant_tab = new_tab()
    applicant_page = applicant_tab.page
    log_in(applicant_page, paula)
    expect(applicant_page).to_have_url(url_path_re(paula.home), timeout=NAV_TIMEOUT_MS)
    applicant_page.goto("/notifications/")
    expect(applicant_page.locator("main")).to_contain_text(
        "Your doctor application was not approved", timeout=UI_TIMEOUT_MS
    )
    expect(applicant_page.locator("main")).to_contain_text(reason)
    applicant_page.goto("/doctors/application/")
    expect(applicant_page.locator("#doctor-application")).to_contain_text(reason)
    assert any(reason in body for body in _outbox_for(paula.email))

    for tab in (patient_tab, applicant_tab):
        assert tab.csp_violations() == []
        assert tab.errors == []
    assert admin_tab.errors == []
