"""`manage.py seed_demo`: one login per role plus doctors, the same however often it runs."""

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.test import Client

from clinic.models import (
    Address,
    Appointment,
    ChatMessage,
    CredentialDocument,
    Doctor,
    MedicalRecord,
    Patient,
    Prescription,
    Rating,
    WaitlistEntry,
)
from clinic.permissions import chat_is_open, patients_user_may_book_for
from core.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS
from core.models import Role, User
from core.services import user_create


def _counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "doctors": Doctor.objects.count(),
        "verified": Doctor.objects.filter(status=Doctor.Status.VERIFIED).count(),
        "pending": Doctor.objects.filter(status=Doctor.Status.PENDING).count(),
        "patients": Patient.objects.count(),
        "emails": EmailAddress.objects.count(),
        "appointments": Appointment.objects.count(),
        "ratings": Rating.objects.count(),
        "waiting": WaitlistEntry.objects.filter(status=WaitlistEntry.Status.WAITING).count(),
        "documents": CredentialDocument.objects.count(),
        "records": MedicalRecord.objects.released().count(),
        "prescriptions": Prescription.objects.count(),
        "addresses": Address.objects.count(),
        "chat_messages": ChatMessage.objects.count(),
    }


@pytest.mark.django_db
def test_seed_demo_is_idempotent(capsys):
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")

    assert _counts() == first
    assert first == {
        "users": 7,
        "doctors": 3,
        "verified": 2,
        "pending": 1,
        "patients": 3,  # Amina, Ben, and Amina's son Noah (no login)
        "emails": 7,
        "appointments": 9,  # the last one Amina's online consultation, its chat open now
        "ratings": 2,  # Amina's and Ben's completed visits with Dr Weiss
        "waiting": 1,  # Ben, for an earlier time with Dr Weiss
        "documents": 1,  # the pending applicant's licence scan
        "records": 3,  # Amina's visit note, vital signs and reviewed lipid panel
        "prescriptions": 1,  # from that visit, which issuing it completed
        "addresses": 1,  # Amina's home, for deliveries
        "chat_messages": 3,  # in that consultation's chat, open as the demo starts
    }
    assert "Demo data ready" in capsys.readouterr().out
    consultation = Appointment.objects.filter(chat_messages__isnull=False).distinct().get()
    assert chat_is_open(consultation)  # the demo opens on a live consultation chat


@pytest.mark.django_db
def test_every_demo_login_has_a_verified_email_and_its_role_group():
    call_command("seed_demo")

    for email, _first, _last, role in DEMO_USERS:
        user = User.objects.get(email=email)
        assert user.role == role
        assert list(user.groups.values_list("name", flat=True)) == [role]
        address = EmailAddress.objects.get(user=user)
        assert address.email == email
        assert address.verified and address.primary
        assert user.check_password(DEMO_PASSWORD)


@pytest.mark.django_db
def test_demo_doctors_have_a_profile_only_patients_have_a_patient_record():
    call_command("seed_demo")

    assert set(Doctor.objects.values_list("user__role", flat=True)) == {Role.DOCTOR}
    # Every patient login has a patient record; the child dependent has no login.
    assert set(Patient.objects.filter(user__isnull=False).values_list("user__role", flat=True)) == {
        Role.PATIENT
    }
    pending = Doctor.objects.get(status=Doctor.Status.PENDING)
    assert pending.status_changed_at is None
    assert all(d.status_changed_at for d in Doctor.objects.filter(status=Doctor.Status.VERIFIED))


@pytest.mark.django_db
def test_demo_patient_can_sign_in_with_the_published_password():
    call_command("seed_demo")
    client = Client()
    email = next(email for email, *_rest, role in DEMO_USERS if role == Role.PATIENT)

    response = client.post("/accounts/login/", {"login": email, "password": DEMO_PASSWORD})

    assert response.status_code == 302
    assert client.get("/home/")["Location"] == "/patient/"
    assert client.get("/patient/").status_code == 200


@pytest.mark.django_db
def test_seed_demo_completes_existing_demo_logins():
    # A demo patient login created earlier without a patient record gets one on the next run.
    email, first, last, role = DEMO_USERS[0]
    user_create(email=email, password=DEMO_PASSWORD, role=role, first_name=first, last_name=last)
    assert not Patient.objects.filter(user__email=email).exists()

    call_command("seed_demo")

    assert Patient.objects.filter(user__email=DEMO_USERS[0][0]).count() == 1


@pytest.mark.django_db
def test_demo_has_appointments_in_every_status_and_a_child_amina_books_for():
    call_command("seed_demo")

    assert set(Appointment.objects.values_list("status", flat=True)) == set(
        Appointment.Status.values
    )
    amina = User.objects.get(email="amina.patient@demo.hospital")
    ben = User.objects.get(email="ben.patient@demo.hospital")
    child = Patient.objects.get(first_name="Noah", user=None)
    assert set(patients_user_may_book_for(amina)) == {amina.patient, child}
    assert child not in patients_user_may_book_for(ben)
    # The demo doctors have working hours, so the directory has free slots to offer.
    for doctor in Doctor.objects.filter(status=Doctor.Status.VERIFIED):
        assert doctor.weekly_hours.exists()
