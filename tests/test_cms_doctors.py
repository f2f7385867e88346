"""The CMS screen of doctor applications (/cms/doctor-applications/): the listing with its
filters, search and order, the inspect view with credentials and decision history, and the
verify, reject, deactivate and reactivate actions. Admins only: everyone else gets nothing."""

import io
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from clinic.models import Doctor, Language, Specialty
from clinic.selectors import doctors_listed
from clinic.services.doctors import CredentialUpload, doctor_apply, doctor_reject
from core.models import AuditEvent, Notification, Role
from tests.factories import DoctorUserFactory, PatientUserFactory, make_doctor

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
LISTING = "/cms/doctor-applications/"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def apply(user, *, licence: str, specialty: str = "cardiology", **profile) -> Doctor:
    """An application made through the site's service, with one credential document."""
    return doctor_apply(
        user=user,
        specialty=Specialty.objects.get(slug=specialty),
        licence_number=licence,
        documents=[
            CredentialUpload(
                file=SimpleUploadedFile("scan.pdf", PDF),
                original_name=f"Licence {licence}.pdf",
                content_type="application/pdf",
            )
        ],
        **profile,
    )


def inspect_url(doctor: Doctor) -> str:
    return reverse("doctor_applications:inspect", args=(doctor.pk,))


def action_url(action: str, doctor: Doctor) -> str:
    return reverse(f"doctor_applications:{action}", args=(doctor.pk,))


@pytest.fixture
def hanna(db):
    return PatientUserFactory(email="hanna@example.test", first_name="Hanna", last_name="Berg")


@pytest.fixture
def application(hanna, ada) -> Doctor:
    """Hanna's pending cardiology application, with a full profile, a photo and a document."""
    return apply(
        hanna,
        licence="LIC-BERG-2024",
        bio="Heart failure and rhythm clinic.",
        education="Charité Berlin, cardiology residency",
        years_of_experience=9,
        location="Cardiology, building B",
        languages=Language.objects.filter(code__in=["de", "en"]),
        photo=SimpleUploadedFile("me.png", png_bytes(), content_type="image/png"),
    )


@pytest.fixture
def admin_client(ada, client_for):
    return client_for(ada)


def status_of(doctor: Doctor) -> str:
    doctor.refresh_from_db()
    return doctor.status


# --- the listing -------------------------------------------------------------------------------


def test_listing_shows_each_application_with_its_columns(admin_client, application):
    response = admin_client.get(LISTING)
    assert response.status_code == 200
    page = response.content.decode()
    for text in (
        "Doctor applications",
        "Hanna Berg",
        "hanna@example.test",
        "Cardiology",
        "LIC-BERG-2024",
        "Pending verification",
        timezone.localtime(application.created_at).strftime("%-d %b %Y"),
    ):
        assert text in page
    for column in ("Email", "Specialty", "Licence number", "Status", "Applied on", "Decided on"):
        assert column in page
    # Pending rows carry the row actions; nothing to add, edit or delete.
    assert action_url("verify", application) in page
    assert f"{inspect_url(application)}#decision" in page
    assert "/cms/doctor-applications/new/" not in page
    assert "/edit/" not in page and "/delete/" not in page


def test_pending_come_first_the_longest_waiting_at_the_top(admin_client, ada):
    now = timezone.now()
    rows = {}
    for name, status, changed_days_ago in [
        ("Vera Verified", Doctor.Status.VERIFIED, 1),
        ("Petra Recent", Doctor.Status.PENDING, 1),
        ("Rolf Rejected", Doctor.Status.REJECTED, 2),
        ("Otto Oldest", Doctor.Status.PENDING, 9),
    ]:
        first, last = name.split()
        doctor = make_doctor(
            PatientUserFactory(first_name=first, last_name=last),
            status=status,
            status_changed_at=now - timedelta(days=changed_days_ago),
        )
        rows[name] = doctor
    page = admin_client.get(LISTING).content.decode()
    order = sorted(rows, key=lambda name: page.index(name))
    assert order == ["Otto Oldest", "Petra Recent", "Vera Verified", "Rolf Rejected"]


@pytest.mark.parametrize(
    ("status", "shown", "hidden"),
    [
        ("pending", "Petra Pending", ["Vera Verified", "Rolf Rejected"]),
        ("verified", "Vera Verified", ["Petra Pending", "Rolf Rejected"]),
        ("rejected", "Rolf Rejected", ["Petra Pending", "Vera Verified"]),
    ],
)
def test_the_status_filter(admin_client, status, shown, hidden):
    for name, doctor_status in [
        ("Petra Pending", Doctor.Status.PENDING),
        ("Vera Verified", Doctor.Status.VERIFIED),
        ("Rolf Rejected", Doctor.Status.REJECTED),
    ]:
        first, last = name.split()
        make_doctor(PatientUserFactory(first_name=first, last_name=last), status=doctor_status)
    # The operations board links to the pending filter exactly like this.
    response = admin_client.get(f"{LISTING}?status={status}")
    assert response.status_code == 200
    page = response.content.decode()
    assert shown in page
    for name in hidden:
        assert name not in page


def test_the_specialty_filter(admin_client, application):
    paediatrician = make_doctor(
        PatientUserFactory(first_name="Kim", last_name="Kinder"), status=Doctor.Status.PENDING
    )
    paediatrician.specialty = Specialty.objects.get(slug="pediatrics")
    paediatrician.save()
    specialty = Specialty.objects.get(slug="pediatrics")
    page = admin_client.get(f"{LISTING}?specialty={specialty.pk}").content.decode()
    assert "Kim Kinder" in page
    assert "Hanna Berg" not in page


@pytest.mark.parametrize("query", ["Hanna Berg", "berg", "hanna@example", "lic-berg"])
def test_search_by_name_email_or_licence(admin_client, application, query):
    make_doctor(PatientUserFactory(first_name="Omar", last_name="Other"))
    page = admin_client.get(LISTING, {"q": query}).content.decode()
    assert "Hanna Berg" in page
    assert "Omar Other" not in page


def test_search_results_refresh_returns_only_the_results(admin_client, application):
    response = admin_client.get(f"{LISTING}results/", {"q": "Berg", "status": "pending"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Hanna Berg" in page
    assert "<html" not in page


# Session and user, MFA check, permissions (user and groups), Wagtail's user profile, the page
# count, locales, page and collection permissions (the menu), the specialty filter's choices,
# and the rows with applicant and specialty joined.
LISTING_QUERIES = 11


def test_listing_query_count_does_not_grow_with_applications(
    admin_client, application, django_assert_num_queries
):
    with django_assert_num_queries(LISTING_QUERIES):
        assert admin_client.get(f"{LISTING}?status=pending").status_code == 200
    for number in range(12):
        make_doctor(
            PatientUserFactory(first_name=f"Applicant{number}", last_name="Many"),
            status=Doctor.Status.PENDING,
        )
    with django_assert_num_queries(LISTING_QUERIES):
        response = admin_client.get(f"{LISTING}?status=pending")
    # Thirteen rows, each with its Verify action.
    assert response.content.decode().count(f"{LISTING}verify/") == 13


# --- the inspect view --------------------------------------------------------------------------


def test_inspect_shows_the_applicant_licence_documents_and_status(admin_client, application):
    response = admin_client.get(inspect_url(application))
    assert response.status_code == 200
    page = response.content.decode()
    for text in (
        "LIC-BERG-2024",
        "Cardiology",
        "Heart failure and rhythm clinic.",
        "Charité Berlin, cardiology residency",
        "English, German",
        "9",
        "Cardiology, building B",
        "Pending verification",
        "hanna@example.test",
    ):
        assert text in page, text
    document = application.documents.get()
    assert reverse("credential_document", args=(document.public_id,)) in page
    assert "Licence LIC-BERG-2024.pdf" in page
    assert reverse("doctor_photo", args=(application.public_id,)) in page
    # The decision forms, each a POST with the CSRF token.
    assert f'action="{action_url("verify", application)}"' in page
    assert f'action="{action_url("reject", application)}"' in page
    assert "csrfmiddlewaretoken" in page


def test_the_admin_downloads_a_credential_document_and_the_photo(admin_client, application):
    document = application.documents.get()
    response = admin_client.get(reverse("credential_document", args=(document.public_id,)))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert "attachment" in response["Content-Disposition"]
    photo = admin_client.get(reverse("doctor_photo", args=(application.public_id,)))
    assert photo.status_code == 200


@pytest.mark.parametrize("who", ["amina", "dr_clara", "eddie"])
def test_nobody_else_downloads_an_applicants_document(request, client_for, application, who):
    make_doctor(request.getfixturevalue("dr_clara"))
    document = application.documents.get()
    client = client_for(request.getfixturevalue(who))
    response = client.get(reverse("credential_document", args=(document.public_id,)))
    assert response.status_code == 404


def test_anonymous_visitor_cannot_download_a_document(client, application):
    document = application.documents.get()
    response = client.get(reverse("credential_document", args=(document.public_id,)))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_decision_history_lists_each_step_with_who_when_and_why(
    admin_client, application, ada, hanna, client_for
):
    reason = "The scan of the licence is unreadable."
    doctor_reject(doctor=application, by=ada, reason=reason)
    page = admin_client.get(inspect_url(application)).content.decode()
    history = page[page.index('id="decision-history"') :]
    assert history.index("Applied") < history.index("Rejected")
    assert "Hanna Berg" in history  # who applied
    assert "Ada Admin" in history  # who decided
    assert reason in history
    # The reason is also shown as the current one, and there is nothing left to decide.
    assert 'id="status-reason"' in page
    assert f'action="{action_url("verify", application)}"' not in page


def test_history_follows_resubmission_verification_and_deactivation(admin_client, application, ada):
    from clinic.services.doctors import (
        doctor_deactivate,
        doctor_reactivate,
        doctor_resubmit,
        doctor_verify,
    )

    doctor_reject(doctor=application, by=ada, reason="Missing diploma")
    doctor_resubmit(
        doctor=application,
        by=application.user,
        specialty=application.specialty,
        licence_number=application.licence_number,
    )
    doctor_verify(doctor=application, by=ada)
    doctor_deactivate(doctor=application, by=ada, reason="Licence suspended")
    doctor_reactivate(doctor=application, by=ada, reason="Suspension lifted")
    page = admin_client.get(inspect_url(application)).content.decode()
    history = page[page.index('id="decision-history"') :]
    steps = ["Applied", "Rejected", "Resubmitted", "Verified", "Deactivated", "Reactivated"]
    positions = [history.index(f"<td>{step}</td>") for step in steps]
    assert positions == sorted(positions)
    for reason in ("Missing diploma", "Licence suspended", "Suspension lifted"):
        assert reason in history


# The session, user, MFA and permission checks and the menu, then the application with its
# documents and languages, and its history with each actor joined.
INSPECT_QUERIES = 12


def test_inspect_query_count_is_fixed(admin_client, application, ada, django_assert_num_queries):
    with django_assert_num_queries(INSPECT_QUERIES):
        assert admin_client.get(inspect_url(application)).status_code == 200
    doctor_reject(doctor=application, by=ada, reason="Unreadable scan")
    with django_assert_num_queries(INSPECT_QUERIES):
        response = admin_client.get(inspect_url(application))
    assert "Unreadable scan" in response.content.decode()


def test_an_unknown_application_is_404(admin_client):
    assert (
        admin_client.get(reverse("doctor_applications:inspect", args=(999999,))).status_code == 404
    )
    assert admin_client.post(action_url("verify", Doctor(pk=999999))).status_code == 404


# --- verify ------------------------------------------------------------------------------------


def test_verify_lists_the_doctor_and_tells_the_applicant(
    admin_client, application, hanna, ada, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(action_url("verify", application))
    assert response.status_code == 302
    assert response["Location"] == LISTING
    application.refresh_from_db()
    hanna.refresh_from_db()
    assert application.status == Doctor.Status.VERIFIED
    assert hanna.role == Role.DOCTOR
    assert application in doctors_listed()
    notification = Notification.objects.get(recipient=hanna)
    assert notification.title == "Your doctor application is verified"
    assert [message.to for message in mail.outbox] == [["hanna@example.test"]]
    assert "Your doctor account is ready" in mail.outbox[0].subject
    assert AuditEvent.objects.filter(
        actor=ada, target_id=str(application.public_id), details__status="verified"
    ).exists()
    listing = admin_client.get(response["Location"]).content.decode()
    assert "Dr Hanna Berg is verified" in listing


def test_verifying_twice_says_why_and_changes_nothing(admin_client, application, hanna):
    admin_client.post(action_url("verify", application))
    notifications = Notification.objects.filter(recipient=hanna).count()
    response = admin_client.post(action_url("verify", application), follow=True)
    assert "Only a pending application can be verified." in response.content.decode()
    assert Notification.objects.filter(recipient=hanna).count() == notifications


def test_get_on_an_action_changes_nothing(admin_client, application):
    for action in ("verify", "reject", "deactivate", "reactivate"):
        response = admin_client.get(action_url(action, application))
        assert response.status_code == 405
    assert status_of(application) == Doctor.Status.PENDING
    assert not Notification.objects.filter(recipient=application.user).exists()


def test_an_admin_cannot_verify_their_own_application(client_for, ada):
    # A doctor's profile that belongs to an admin login (say, a doctor promoted to admin).
    own = make_doctor(ada, status=Doctor.Status.PENDING)
    client = client_for(ada)
    assert client.post(action_url("verify", own)).status_code == 403
    assert client.post(action_url("reject", own), {"reason": "Mine"}).status_code == 403
    assert status_of(own) == Doctor.Status.PENDING
    assert not AuditEvent.objects.filter(target_id=str(own.public_id)).exists()


def test_verify_needs_csrf(ada, application):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(ada)
    assert client.post(action_url("verify", application)).status_code == 403
    assert status_of(application) == Doctor.Status.PENDING


# --- reject ------------------------------------------------------------------------------------


def test_reject_needs_a_reason_shown_next_to_the_field(admin_client, application, hanna):
    response = admin_client.post(action_url("reject", application), {"reason": "   "})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Give the applicant a reason for the rejection." in page
    # The message sits in the reason field's wrapper of the reject form.
    form = page[page.index(f'action="{action_url("reject", application)}"') :]
    form = form[: form.index("</form>")]
    assert "Give the applicant a reason for the rejection." in form
    assert status_of(application) == Doctor.Status.PENDING
    assert not Notification.objects.filter(recipient=hanna).exists()
    assert not AuditEvent.objects.filter(
        target_id=str(application.public_id), details__status="rejected"
    ).exists()


def test_reject_with_a_reason_tells_the_applicant_why(
    admin_client, application, hanna, django_capture_on_commit_callbacks
):
    reason = "The licence number is not in the register."
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(action_url("reject", application), {"reason": reason})
    assert response.status_code == 302
    assert response["Location"] == LISTING
    application.refresh_from_db()
    assert application.status == Doctor.Status.REJECTED
    assert application.status_reason == reason
    notification = Notification.objects.get(recipient=hanna)
    assert notification.body == reason
    assert notification.link == reverse("doctor_application")
    assert len(mail.outbox) == 1 and reason in mail.outbox[0].body
    assert application not in doctors_listed()
    hanna.refresh_from_db()
    assert hanna.role == Role.PATIENT
    listing = admin_client.get(LISTING).content.decode()
    assert "is rejected" in listing


# --- deactivate and reactivate -----------------------------------------------------------------


def test_deactivate_a_verified_doctor_with_a_reason_then_reactivate(
    admin_client, dr_clara, client_for
):
    doctor = make_doctor(dr_clara)
    page = admin_client.get(inspect_url(doctor)).content.decode()
    assert f'action="{action_url("deactivate", doctor)}"' in page
    assert f'action="{action_url("verify", doctor)}"' not in page

    refused = admin_client.post(action_url("deactivate", doctor), {"reason": ""})
    assert refused.status_code == 400
    assert "Give a reason for the deactivation." in refused.content.decode()
    dr_clara.refresh_from_db()
    assert dr_clara.is_active

    response = admin_client.post(action_url("deactivate", doctor), {"reason": "Licence lapsed"})
    assert response.status_code == 302
    dr_clara.refresh_from_db()
    assert not dr_clara.is_active
    assert doctor not in doctors_listed()
    page = admin_client.get(inspect_url(doctor)).content.decode()
    assert f'action="{action_url("reactivate", doctor)}"' in page
    assert "Licence lapsed" in page

    response = admin_client.post(action_url("reactivate", doctor), {"reason": ""})
    assert response.status_code == 302
    dr_clara.refresh_from_db()
    assert dr_clara.is_active
    assert doctor in doctors_listed()


# --- who may see it ----------------------------------------------------------------------------


def test_the_admin_menu_has_the_screen(admin_client):
    page = admin_client.get("/cms/").content.decode()
    assert "Doctor applications" in page
    assert LISTING in page


def test_a_superuser_sees_the_listing_without_edit_or_delete(client_for, root, application):
    client = client_for(root)
    page = client.get(LISTING).content.decode()
    assert "Hanna Berg" in page
    assert "/edit/" not in page and "/delete/" not in page
    assert client.get(inspect_url(application)).status_code == 200


@pytest.mark.parametrize(
    "suffix", ["new/", "edit/{pk}/", "delete/{pk}/", "copy/{pk}/", "history/{pk}/"]
)
def test_generic_add_edit_delete_copy_do_not_exist(client_for, root, application, suffix):
    response = client_for(root).get(LISTING + suffix.format(pk=application.pk))
    assert response.status_code == 404


def test_anonymous_visitor_is_sent_to_log_in(client, application):
    for url in (LISTING, inspect_url(application)):
        response = client.get(url)
        assert response.status_code == 302
        assert "login" in response["Location"]
    for action in ("verify", "reject"):
        response = client.post(action_url(action, application), {"reason": "x"})
        assert response.status_code == 302
        assert "login" in response["Location"]
    assert status_of(application) == Doctor.Status.PENDING


def _assert_nothing_of_the_applicant(response):
    page = response.content.decode()
    assert "LIC-BERG-2024" not in page
    assert "hanna@example.test" not in page


@pytest.mark.parametrize("who", ["amina", "dr_clara", "eddie"])
def test_patient_doctor_and_editor_get_nothing(request, client_for, application, who):
    user = request.getfixturevalue(who)
    client = client_for(user)
    for url in (
        LISTING,
        f"{LISTING}?status=pending",
        f"{LISTING}results/",
        inspect_url(application),
    ):
        response = client.get(url, follow=True)
        # Turned away: to the CMS home with "no permission" (staff) or to log in (patient).
        assert response.redirect_chain, url
        assert not response.redirect_chain[-1][0].startswith(LISTING)
        _assert_nothing_of_the_applicant(response)
    for action, data in (("verify", {}), ("reject", {"reason": "No"})):
        response = client.post(action_url(action, application), data)
        if user.role == Role.PATIENT:
            assert response.status_code == 302 and "login" in response["Location"]
        else:
            assert response.status_code == 403
        _assert_nothing_of_the_applicant(response)
    assert status_of(application) == Doctor.Status.PENDING
    assert not Notification.objects.filter(recipient=application.user).exists()


@pytest.mark.parametrize("who", ["dr_clara", "eddie"])
def test_staff_without_the_permission_have_no_menu_item(request, client_for, who):
    response = client_for(request.getfixturevalue(who)).get("/cms/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Doctor applications" not in page
    assert LISTING not in page


def test_an_admin_who_may_view_but_not_verify_cannot_decide(client_for, application):
    """Access is by permission, not by role: without `clinic.verify_doctor` the inspect view
    shows no decision forms and the actions answer 403."""
    from django.contrib.auth.models import Group, Permission

    viewer = DoctorUserFactory(first_name="Vic", last_name="Viewer")
    group = Group.objects.create(name="Doctor application readers")
    group.permissions.add(Permission.objects.get(codename="view_doctor"))
    viewer.groups.add(group)
    client = client_for(viewer)
    page = client.get(inspect_url(application)).content.decode()
    assert "LIC-BERG-2024" in page
    assert f'action="{action_url("verify", application)}"' not in page
    assert "Verify" not in client.get(LISTING).content.decode()
    assert client.post(action_url("verify", application)).status_code == 403
    assert status_of(application) == Doctor.Status.PENDING
