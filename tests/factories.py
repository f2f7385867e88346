"""factory_boy factories. Users go through `core.services.user_create`, the same path as the app."""

import itertools
from datetime import datetime, time, timedelta

import factory
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.utils import timezone

from clinic.models import Appointment, ConsultationMode, Doctor, Specialty
from clinic.scheduling import hospital_zone
from clinic.services.patients import patient_create_for_account
from core.models import Notification, Role, User
from core.services import user_create

PASSWORD = "correct-horse-battery-42"


class UserFactory(factory.django.DjangoModelFactory):
    """A login with its role group and a verified primary email address.

    `totp=True` enrols an authenticator app; the secret is kept on `user.totp_secret`.
    """

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = PASSWORD
    role = Role.PATIENT
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = "Tester"
    email_verified = True
    totp = False

    @classmethod
    def _create(cls, model_class, *args, totp=False, **kwargs):
        user = user_create(**kwargs)
        user.totp_secret = None
        if totp:
            user.totp_secret = generate_totp_secret()
            TOTP.activate(user, user.totp_secret)
        return user


class PatientUserFactory(UserFactory):
    """A patient login with its clinic Patient record, as public signup makes it."""

    role = Role.PATIENT

    @factory.post_generation
    def patient_record(obj, create, extracted, **kwargs):
        if create:
            patient_create_for_account(user=obj)


class DoctorUserFactory(UserFactory):
    role = Role.DOCTOR
    totp = True


class AdminUserFactory(UserFactory):
    role = Role.ADMIN
    totp = True


class EditorUserFactory(UserFactory):
    role = Role.EDITOR
    totp = True


ROLE_FACTORIES = {
    Role.PATIENT: PatientUserFactory,
    Role.DOCTOR: DoctorUserFactory,
    Role.ADMIN: AdminUserFactory,
    Role.EDITOR: EditorUserFactory,
}


class NotificationFactory(factory.django.DjangoModelFactory):
    """A stored notification (no live push); use `notification_create` to test the push."""

    class Meta:
        model = Notification

    recipient = factory.SubFactory(PatientUserFactory)
    title = factory.Sequence(lambda n: f"Notification {n}")
    body = "Details"
    link = ""


_licences = itertools.count(1)


def make_doctor(user, **policy) -> Doctor:
    """A verified cardiologist profile for a doctor login; keyword arguments set the policy."""
    return Doctor.objects.create(
        user=user,
        specialty=Specialty.objects.get(slug="cardiology"),
        licence_number=f"TEST-{next(_licences):05d}",
        status=policy.pop("status", Doctor.Status.VERIFIED),
        **policy,
    )


def local_datetime(days: int, hour: int, minute: int = 0) -> datetime:
    """`hour:minute` in the hospital's zone, `days` after today."""
    day = timezone.localdate() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), tzinfo=hospital_zone())


def make_appointment(
    doctor: Doctor,
    patient,
    start: datetime,
    *,
    booked_by=None,
    minutes: int = 30,
    status: str = Appointment.Status.CONFIRMED,
    **fields,
) -> Appointment:
    """An appointment row as it stands after booking, without the booking rules: for tests of
    pages and jobs that need appointments in given states and times."""
    return Appointment.objects.create(
        doctor=doctor,
        patient=patient,
        booked_by=booked_by or patient.user,
        start_at=start,
        end_at=start + timedelta(minutes=minutes),
        local_date=start.astimezone(hospital_zone()).date(),
        mode=fields.pop("mode", ConsultationMode.IN_PERSON),
        status=status,
        **fields,
    )
