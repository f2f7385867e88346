"""Doctor applications: applying from the site with checked uploads, the applicant's status
page, verification and rejection by an admin, the private credential documents and the
photo, and deactivation that leaves every appointment as it was."""

import io
from datetime import timedelta
from importlib import import_module

import pytest
from allauth.usersessions.models import UserSession
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from clinic.models import Appointment, CredentialDocument, Doctor, Language, Specialty
from clinic.selectors import doctors_listed
from clinic.services.doctors import (
    MAX_DOCUMENT_BYTES,
    CredentialUpload,
    DoctorApplicationError,
    doctor_apply,
    doctor_deactivate,
    doctor_reactivate,
    doctor_reject,
    doctor_verify,
)
from core.models import AuditEvent, Notification, Role
from tests.factories import PatientUserFactory, local_datetime, make_appointment, make_doctor

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png_bytes(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, "PNG")
    return buffer.getvalue()


def pdf_file(name: str = "licence.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def png_file(name: str = "me.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(), content_type="image/png")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def cardiology() -> Specialty:
    return Specialty.objects.get(slug="cardiology")


def form_data(specialty: Specialty, **overrides) -> dict:
    data = {
        "specialty": specialty.pk,
        "licence_number": "LIC-NEW-7",
        "location": "Cardiology, building B",
        "years_of_experience": "12",
        "consultation_fee": "80.00",
        "languages": [Language.objects.get(code="de").pk],
        "education": "Charité Berlin",
        "bio": "Heart failure clinic.",
        "documents": [pdf_file()],
    }
    data.update(overrides)
    return data


@pytest.fixture
def application(amina, ada, cardiology) -> Doctor:
    """Amina's pending application, with a photo and one credential document."""
    return doctor_apply(
        user=amina,
        specialty=cardiology,
        licence_number="LIC-AMINA-1",
        photo=SimpleUploadedFile("photo.png", png_bytes(), content_type="image/png"),
        documents=[
            CredentialUpload(
                file=SimpleUploadedFile("document.pdf", PDF),
                original_name="Licence Amina.pdf",
                content_type="application/pdf",
            )
        ],
    )


# --- applying from the site ------------------------------------------------------------------


def test_apply_form_is_a_multipart_form(amina, client_for):
    response = client_for(amina).get(reverse("doctor_apply"))
    assert response.status_code == 200
    assert b'enctype="multipart/form-data"' in response.content
    assert b'name="documents"' in response.content


def test_patient_menu_links_to_the_application(amina, client_for):
    response = client_for(amina).get(reverse("patient_home"))
    assert reverse("doctor_apply").encode() in response.content


def test_apply_with_valid_files_creates_a_pending_application(amina, ada, cardiology, client_for):
    client = client_for(amina)
    response = client.post(
        reverse("doctor_apply"),
        form_data(
            cardiology,
            photo=png_file(),
            documents=[pdf_file("Licence.pdf"), png_file("diploma scan.png")],
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("doctor_application")
    doctor = Doctor.objects.get(user=amina)
    assert doctor.status == Doctor.Status.PENDING
    assert doctor.licence_number == "LIC-NEW-7"
    assert [language.code for language in doctor.languages.all()] == ["de"]
    assert doctor.photo.name.startswith(f"doctors/{doctor.public_id}/")
    assert doctor.photo.name.endswith(".png")
    documents = list(doctor.documents.order_by("original_name"))
    assert [(d.original_name, d.content_type) for d in documents] == [
        ("Licence.pdf", "application/pdf"),
        ("diploma_scan.png", "image/png"),
    ]
    for document in documents:
        # Stored under a random name, never the client's.
        assert document.file.name.startswith(f"credentials/{doctor.public_id}/")
        assert "Licence" not in document.file.name and "diploma" not in document.file.name
    assert documents[0].file.read() == PDF
    # The user stays a patient until verified.
    amina.refresh_from_db()
    assert amina.role == Role.PATIENT
    notice = Notification.objects.get(recipient=ada, title__contains="doctor application")
    # The admin's notice opens the application on the CMS verification screen.
    assert notice.link == f"/cms/doctor-applications/inspect/{doctor.pk}/"
    assert client_for(ada).get(notice.link).status_code == 200
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CREATE, target_id=str(doctor.public_id), actor=amina
    ).exists()
    status_page = client.get(reverse("doctor_application"))
    assert b"Pending verification" in status_page.content
    assert b"Licence.pdf" in status_page.content


def test_the_download_name_ends_like_what_the_file_is(amina, cardiology, client_for):
    disguised = SimpleUploadedFile("scan.exe", PDF, content_type="application/octet-stream")
    response = client_for(amina).post(
        reverse("doctor_apply"), form_data(cardiology, documents=[disguised])
    )
    assert response.status_code == 302
    document = CredentialDocument.objects.get(doctor__user=amina)
    assert document.original_name == "scan.exe.pdf"
    assert document.content_type == "application/pdf"
    assert document.file.name.endswith(".pdf")


def test_a_document_named_pdf_that_is_text_is_refused(amina, cardiology, client_for):
    fake = SimpleUploadedFile("licence.pdf", b"just some text", content_type="application/pdf")
    response = client_for(amina).post(
        reverse("doctor_apply"), form_data(cardiology, documents=[fake])
    )
    assert response.status_code == 400
    assert "is not a PDF, JPEG or PNG file" in response.content.decode()
    assert not Doctor.objects.filter(user=amina).exists()
    assert not CredentialDocument.objects.exists()


def test_an_oversize_document_is_refused(amina, cardiology, client_for):
    big = pdf_file("big.pdf", PDF + b"0" * MAX_DOCUMENT_BYTES)
    response = client_for(amina).post(
        reverse("doctor_apply"), form_data(cardiology, documents=[big])
    )
    assert response.status_code == 400
    assert "is larger than" in response.content.decode()
    assert not Doctor.objects.filter(user=amina).exists()


def test_a_photo_that_is_not_an_image_is_refused(amina, cardiology, client_for):
    fake = SimpleUploadedFile("me.png", b"<svg onload=alert(1)>", content_type="image/png")
    response = client_for(amina).post(reverse("doctor_apply"), form_data(cardiology, photo=fake))
    assert response.status_code == 400
    assert "must be a JPEG, PNG or WebP image" in response.content.decode()
    assert not Doctor.objects.filter(user=amina).exists()


def test_a_gif_photo_is_refused(amina, cardiology, client_for):
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "GIF")
    gif = SimpleUploadedFile("me.png", buffer.getvalue(), content_type="image/png")
    response = client_for(amina).post(reverse("doctor_apply"), form_data(cardiology, photo=gif))
    assert response.status_code == 400


@pytest.mark.parametrize("documents", [[], [pdf_file(f"{n}.pdf") for n in range(6)]])
def test_no_documents_or_too_many_are_refused(amina, cardiology, client_for, documents):
    response = client_for(amina).post(
        reverse("doctor_apply"), form_data(cardiology, documents=documents)
    )
    assert response.status_code == 400
    assert not Doctor.objects.filter(user=amina).exists()


def test_the_service_also_requires_a_document(amina, cardiology):
    with pytest.raises(DoctorApplicationError) as error:
        doctor_apply(user=amina, specialty=cardiology, licence_number="LIC-X", documents=[])
    assert error.value.field == "documents"


def test_a_duplicate_licence_number_is_refused(amina, ben, cardiology, client_for, application):
    response = client_for(ben).post(
        reverse("doctor_apply"), form_data(cardiology, licence_number="LIC-AMINA-1")
    )
    assert response.status_code == 400
    assert "already registered" in response.content.decode()
    # Differently typed, still the same licence.
    response = client_for(ben).post(
        reverse("doctor_apply"), form_data(cardiology, licence_number="  lic-amina-1 ")
    )
    assert response.status_code == 400
    assert "already registered" in response.content.decode()
    assert not Doctor.objects.filter(user=ben).exists()


def test_an_applicant_sees_their_status_instead_of_the_form(amina, client_for, application):
    client = client_for(amina)
    response = client.get(reverse("doctor_apply"))
    assert response.status_code == 302
    assert response["Location"] == reverse("doctor_application")
    response = client.post(reverse("doctor_apply"), form_data(application.specialty))
    assert response.status_code == 302
    assert Doctor.objects.filter(user=amina).count() == 1


def test_status_page_without_an_application_leads_to_the_form(ben, client_for):
    response = client_for(ben).get(reverse("doctor_application"))
    assert response.status_code == 302
    assert response["Location"] == reverse("doctor_apply")


@pytest.mark.parametrize("who", ["ada", "eddie"])
def test_admins_and_editors_may_not_apply(request, client_for, who):
    user = request.getfixturevalue(who)
    assert client_for(user).get(reverse("doctor_apply")).status_code == 403


def test_apply_pages_need_a_login(client):
    for name in ("doctor_apply", "doctor_application"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert reverse("account_login") in response["Location"]


def test_apply_pages_refuse_other_methods(amina, client_for):
    client = client_for(amina)
    assert client.put(reverse("doctor_apply")).status_code == 405
    assert client.post(reverse("doctor_application")).status_code == 405


# --- pending, verified, rejected ---------------------------------------------------------------


def test_a_pending_doctor_is_neither_listed_nor_bookable(ben, client_for, application):
    assert application not in doctors_listed()
    client = client_for(ben)
    assert client.get(reverse("doctor_profile", args=[application.public_id])).status_code == 404
    assert client.get(reverse("doctor_book", args=[application.public_id])).status_code == 404
    assert b"Amina" not in client.get(reverse("doctor_directory")).content


def test_verify_makes_a_doctor_and_lists_them(
    amina, ada, application, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        doctor_verify(doctor=application, by=ada)
    application.refresh_from_db()
    amina.refresh_from_db()
    assert application.status == Doctor.Status.VERIFIED
    assert application.status_changed_at is not None
    assert amina.role == Role.DOCTOR
    assert list(amina.groups.values_list("name", flat=True)) == ["doctor"]
    assert application in doctors_listed()
    notification = Notification.objects.get(recipient=amina)
    assert "verified" in notification.title
    assert notification.link == reverse("doctor_application")
    (email,) = mailoutbox
    assert email.to == [amina.email]
    assert "two-factor" in email.body
    assert "/accounts/login/" in email.body
    assert AuditEvent.objects.filter(
        actor=ada, target_id=str(application.public_id), details__status="verified"
    ).exists()
    # Only once.
    with pytest.raises(DoctorApplicationError):
        doctor_verify(doctor=application, by=ada)


def test_reject_needs_a_reason_and_tells_the_applicant(
    amina, ada, application, client_for, mailoutbox, django_capture_on_commit_callbacks
):
    for reason in ("", "   "):
        with pytest.raises(DoctorApplicationError) as error:
            doctor_reject(doctor=application, by=ada, reason=reason)
        assert error.value.field == "reason"
    application.refresh_from_db()
    assert application.status == Doctor.Status.PENDING

    with django_capture_on_commit_callbacks(execute=True):
        doctor_reject(doctor=application, by=ada, reason="The licence scan is unreadable.")
    application.refresh_from_db()
    amina.refresh_from_db()
    assert application.status == Doctor.Status.REJECTED
    assert application.status_reason == "The licence scan is unreadable."
    assert amina.role == Role.PATIENT
    assert application not in doctors_listed()
    notification = Notification.objects.get(recipient=amina)
    assert notification.body == "The licence scan is unreadable."
    (email,) = mailoutbox
    assert "The licence scan is unreadable." in email.body
    assert "unreadable" not in email.subject
    page = client_for(amina).get(reverse("doctor_application"))
    assert b"The licence scan is unreadable." in page.content
    assert AuditEvent.objects.filter(
        actor=ada, reason="The licence scan is unreadable.", details__status="rejected"
    ).exists()


def test_a_rejected_applicant_may_send_the_application_again(amina, ada, application, client_for):
    doctor_reject(doctor=application, by=ada, reason="Wrong specialty.")
    client = client_for(amina)
    page = client.get(reverse("doctor_apply"))
    assert page.status_code == 200
    assert b"Wrong specialty." in page.content
    assert b"LIC-AMINA-1" in page.content  # the form is filled in
    pediatrics = Specialty.objects.get(slug="pediatrics")
    # Documents sent before count: none is required this time.
    response = client.post(
        reverse("doctor_apply"),
        form_data(pediatrics, licence_number="LIC-AMINA-1", documents=[]),
    )
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == Doctor.Status.PENDING
    assert application.specialty == pediatrics
    assert application.status_reason == ""
    assert application.documents.count() == 1
    assert Doctor.objects.filter(user=amina).count() == 1


@pytest.mark.parametrize("who", ["amina", "ben", "dr_clara", "eddie"])
def test_only_an_admin_verifies_or_rejects(request, application, who):
    user = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        doctor_verify(doctor=application, by=user)
    with pytest.raises(PermissionDenied):
        doctor_reject(doctor=application, by=user, reason="No.")
    application.refresh_from_db()
    assert application.status == Doctor.Status.PENDING


def test_admin_home_counts_pending_applications(ada, client_for, application):
    response = client_for(ada).get(reverse("admin_home"))
    assert response.status_code == 200
    assert b"1 doctor application pending" in response.content


# --- credential documents and photos -----------------------------------------------------------


@pytest.mark.parametrize("who", ["amina", "ada"])
def test_the_applicant_and_admins_download_a_document(request, client_for, application, who):
    user = request.getfixturevalue(who)
    document = application.documents.get()
    response = client_for(user).get(reverse("credential_document", args=[document.public_id]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")
    assert "Licence" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "private" in response["Cache-Control"]
    assert "no-store" in response["Cache-Control"]
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.VIEW, actor=user, target_id=str(document.public_id)
    ).exists()


@pytest.mark.parametrize("who", ["ben", "dr_clara", "eddie"])
def test_nobody_else_learns_of_a_document(request, client_for, application, who):
    user = request.getfixturevalue(who)
    document = application.documents.get()
    response = client_for(user).get(reverse("credential_document", args=[document.public_id]))
    assert response.status_code == 404


def test_anonymous_visitors_are_sent_to_login_for_a_document(client, application):
    document = application.documents.get()
    response = client.get(reverse("credential_document", args=[document.public_id]))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_document_download_refuses_other_methods(amina, client_for, application):
    document = application.documents.get()
    response = client_for(amina).post(reverse("credential_document", args=[document.public_id]))
    assert response.status_code == 405


def test_a_document_whose_file_is_gone_is_404_not_500(amina, client_for, application):
    document = application.documents.get()
    document.file.storage.delete(document.file.name)
    response = client_for(amina).get(reverse("credential_document", args=[document.public_id]))
    assert response.status_code == 404


def test_photo_of_a_pending_applicant_is_theirs_and_admins_only(
    amina, ben, ada, client, client_for, application
):
    url = reverse("doctor_photo", args=[application.public_id])
    for user in (amina, ada):
        response = client_for(user).get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response["X-Content-Type-Options"] == "nosniff"
    assert client_for(ben).get(url).status_code == 404
    assert client.get(url).status_code == 302  # to the login page
    assert client_for(amina).post(url).status_code == 405


def test_a_verified_doctors_photo_is_on_the_profile(ben, ada, client_for, application):
    doctor_verify(doctor=application, by=ada)
    client = client_for(ben)
    photo_url = reverse("doctor_photo", args=[application.public_id])
    profile = client.get(reverse("doctor_profile", args=[application.public_id]))
    assert profile.status_code == 200
    assert photo_url.encode() in profile.content
    response = client.get(photo_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_a_doctor_without_a_photo_has_none(ben, dr_clara, client_for):
    doctor = make_doctor(dr_clara)
    client = client_for(ben)
    assert client.get(reverse("doctor_photo", args=[doctor.public_id])).status_code == 404
    profile = client.get(reverse("doctor_profile", args=[doctor.public_id]))
    assert b"doctor-photo" not in profile.content


# --- deactivation ------------------------------------------------------------------------------


def test_deactivation_leaves_every_appointment_as_it_was(
    amina, ben, ada, dr_clara, client_for, django_capture_on_commit_callbacks
):
    doctor = make_doctor(dr_clara)
    past = local_datetime(-3, 9)
    rows = [
        make_appointment(doctor, amina.patient, local_datetime(2, 9)),
        make_appointment(doctor, ben.patient, local_datetime(2, 10), status="pending"),
        make_appointment(doctor, amina.patient, past, status="completed", completed_at=past),
        make_appointment(
            doctor,
            ben.patient,
            local_datetime(-2, 9),
            status="cancelled",
            cancelled_by=ben,
            cancellation_reason="Away",
        ),
    ]
    other = make_appointment(
        make_doctor(PatientUserFactory(role=Role.DOCTOR)), amina.patient, local_datetime(5, 9)
    )
    before = list(Appointment.objects.order_by("pk").values())
    doctor_client = client_for(dr_clara)
    assert doctor in doctors_listed()

    # What allauth records at sign-in (force_login does not go through allauth).
    session_key = doctor_client.session.session_key
    UserSession.objects.create(
        user=dr_clara, session_key=session_key, ip="127.0.0.1", user_agent="test"
    )

    with django_capture_on_commit_callbacks(execute=True):
        doctor_deactivate(doctor=doctor, by=ada, reason="Left the hospital.")

    assert list(Appointment.objects.order_by("pk").values()) == before
    assert {row["id"] for row in before} == {row.pk for row in [*rows, other]}
    dr_clara.refresh_from_db()
    assert not dr_clara.is_active
    assert doctor not in doctors_listed()
    assert client_for(ben).get(reverse("doctor_book", args=[doctor.public_id])).status_code == 404
    # Signed out everywhere: the sessions are gone, not just refused.
    assert not UserSession.objects.filter(user=dr_clara).exists()
    assert not import_module(django_settings.SESSION_ENGINE).SessionStore().exists(session_key)
    response = doctor_client.get(reverse("doctor_agenda"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]
    audit = AuditEvent.objects.get(target_id=str(doctor.public_id), details__user_active=False)
    assert audit.reason == "Left the hospital."
    assert audit.details["upcoming_active_appointments"] == 2

    doctor_reactivate(doctor=doctor, by=ada)
    assert doctor in doctors_listed()
    assert list(Appointment.objects.order_by("pk").values()) == before


def test_deactivation_is_for_admins_with_a_reason(amina, ada, eddie, dr_clara):
    doctor = make_doctor(dr_clara)
    for user in (amina, eddie, dr_clara):
        with pytest.raises(PermissionDenied):
            doctor_deactivate(doctor=doctor, by=user, reason="No.")
        with pytest.raises(PermissionDenied):
            doctor_reactivate(doctor=doctor, by=user)
    with pytest.raises(DoctorApplicationError):
        doctor_deactivate(doctor=doctor, by=ada, reason=" ")
    dr_clara.refresh_from_db()
    assert dr_clara.is_active
    with pytest.raises(DoctorApplicationError):
        doctor_reactivate(doctor=doctor, by=ada)


def test_status_changed_at_moves_with_each_decision(ada, application):
    applied_at = application.status_changed_at
    assert applied_at is not None
    doctor_reject(doctor=application, by=ada, reason="Incomplete.")
    application.refresh_from_db()
    assert application.status_changed_at >= applied_at
    assert application.status_changed_at - applied_at < timedelta(minutes=1)
