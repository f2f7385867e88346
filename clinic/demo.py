"""Demo schedule for `manage.py seed_demo`: working hours, a child dependent and appointments in
every status, made through the same services as real bookings (past ones with `now` set back)."""

from datetime import time, timedelta
from decimal import Decimal

from django.core.files.base import ContentFile
from django.utils import timezone
from guardian.shortcuts import assign_perm

from clinic.models import (
    Appointment,
    ConsultationMode,
    CredentialDocument,
    Doctor,
    Language,
    Patient,
    PatientDelegate,
    RecordKind,
    WeeklyAvailability,
)
from clinic.scheduling import hospital_zone, slots_free
from clinic.services.appointments import (
    appointment_book,
    appointment_cancel,
    appointment_complete,
    appointment_confirm,
    appointment_mark_no_show,
    appointment_reschedule,
)
from clinic.services.chat import chat_message_send
from clinic.services.patients import adulthood_date, dependent_add
from clinic.services.prescriptions import address_add, prescription_issue
from clinic.services.ratings import rating_create
from clinic.services.records import AnalyteInput, record_create, record_review
from clinic.services.waitlist import waitlist_join

# licence -> [(weekdays, start, end, mode, location)]
DEMO_HOURS = {
    "LIC-CARD-1001": [
        (range(0, 5), time(9), time(12), ConsultationMode.IN_PERSON, "Cardiology, building B"),
        (range(0, 4), time(14), time(16), ConsultationMode.ONLINE, ""),
    ],
    "LIC-PED-2002": [
        (range(0, 5), time(8, 30), time(12, 30), ConsultationMode.IN_PERSON, "Children's clinic"),
    ],
    "LIC-DERM-3003": [
        (range(1, 4), time(10), time(15), ConsultationMode.IN_PERSON, "Dermatology, building C"),
    ],
}
# licence -> (location, language codes, bio)
DEMO_PROFILES = {
    "LIC-CARD-1001": (
        "Cardiology, building B",
        ["de", "en", "fr"],
        "Cardiologist with a focus on heart rhythm disorders and prevention.",
    ),
    "LIC-PED-2002": (
        "Children's clinic",
        ["ar", "en", "de"],
        "Paediatrician; vaccinations, check-ups and the everyday illnesses of childhood.",
    ),
    "LIC-DERM-3003": (
        "Dermatology, building C",
        ["de", "tr", "en"],
        "Dermatologist for skin checks, eczema and acne.",
    ),
}
CHILD_PERMISSIONS = (
    "clinic.book_for_patient",
    "clinic.view_records_patient",
    "clinic.request_sos_patient",
    "clinic.view_patient",
    "clinic.change_patient",
)


def demo_hours_seed() -> None:
    for doctor in Doctor.objects.filter(licence_number__in=DEMO_HOURS):
        if doctor.weekly_hours.exists():
            continue
        for weekdays, start, end, mode, location in DEMO_HOURS[doctor.licence_number]:
            for weekday in weekdays:
                WeeklyAvailability.objects.create(
                    doctor=doctor,
                    weekday=weekday,
                    start_time=start,
                    end_time=end,
                    mode=mode,
                    location=location,
                )
    for doctor in Doctor.objects.filter(licence_number__in=DEMO_PROFILES):
        location, codes, bio = DEMO_PROFILES[doctor.licence_number]
        if not doctor.bio:
            doctor.location, doctor.bio = location, bio
            doctor.save(update_fields=["location", "bio"])
        doctor.languages.add(*Language.objects.filter(code__in=codes))
    # Dr Haddad confirms each booking himself, so the demo has pending ones.
    Doctor.objects.filter(licence_number="LIC-PED-2002").update(requires_confirmation=True)


def demo_child_seed(parent_user) -> Patient:
    """Amina's son Noah, added through the same service as a parent's "add a dependent"; a
    database seeded before delegations existed gets his guardian delegation filled in."""
    child = Patient.objects.filter(
        first_name="Noah", last_name=parent_user.last_name, user=None
    ).first()
    if child is None:
        return dependent_add(
            by=parent_user,
            first_name="Noah",
            last_name=parent_user.last_name,
            date_of_birth=timezone.localdate() - timedelta(days=6 * 365),
            relationship=PatientDelegate.Relationship.CHILD,
        )
    if not child.delegates.filter(user=parent_user, revoked_at__isnull=True).exists():
        PatientDelegate.objects.create(
            patient=child,
            user=parent_user,
            kind=PatientDelegate.Kind.GUARDIAN,
            relationship=PatientDelegate.Relationship.CHILD,
            scopes=list(CHILD_PERMISSIONS),
            granted_by=parent_user,
            ends_on=adulthood_date(child.date_of_birth) if child.date_of_birth else None,
        )
    for permission in CHILD_PERMISSIONS:
        assign_perm(permission, parent_user, child)
    return child


def _first_free(doctor: Doctor, at, days_ahead: int, skip: int = 0):
    day = (at + timedelta(days=days_ahead)).astimezone(hospital_zone()).date()
    free = slots_free(doctor, day, day + timedelta(days=7), now=at)
    return free[skip].start_at


def demo_appointments_seed(*, amina, ben, child: Patient, clara: Doctor, omar: Doctor) -> None:
    """Appointments in every status; run once (skipped when the demo doctors have any)."""
    if Appointment.objects.filter(doctor__in=[clara, omar]).exists():
        return
    now = timezone.now()
    amina_self, ben_self = amina.patient, ben.patient
    past = now - timedelta(days=14)

    def book(user, patient, doctor, at, days, skip=0, reason=""):
        start = _first_free(doctor, at, days, skip)
        return appointment_book(
            booked_by=user, patient=patient, doctor=doctor, start_at=start, reason=reason, now=at
        )

    # Book the history first, then what happened to each visit.
    done = book(amina, amina_self, clara, past, 1, reason="Palpitations after exercise")
    missed = book(ben, ben_self, omar, past, 1, reason="Follow-up")
    cancelled = book(amina, child, omar, past, 2, reason="Vaccination")
    moved = book(ben, ben_self, clara, past, 3, reason="Blood pressure check")
    appointment_confirm(appointment=missed, by=omar.user, now=past)
    appointment_cancel(
        appointment=cancelled, by=amina, reason="Noah has a fever", now=past + timedelta(hours=1)
    )
    successor = appointment_reschedule(
        appointment=moved, by=ben, new_start_at=_first_free(clara, past, 4), now=past
    )
    # Issuing the prescription completes Amina's visit.
    prescription_issue(
        appointment=done,
        by=clara.user,
        items=[
            {
                "medication": "Bisoprolol",
                "strength": "2.5 mg",
                "form": "tablet",
                "dose": "1 tablet",
                "route": "oral",
                "frequency": "once daily, in the morning",
                "duration": "3 months",
                "quantity": 100,
            }
        ],
        recommended_tests="Lipid panel, 24-hour ECG",
        advice="Avoid strenuous exercise until the ECG is back.",
        now=done.end_at,
    )
    appointment_mark_no_show(appointment=missed, by=omar.user, now=missed.end_at)
    appointment_complete(appointment=successor, by=clara.user, now=successor.end_at)
    rating_create(
        appointment=done, by=amina, stars=5, review="Took her time and explained everything."
    )
    rating_create(appointment=successor, by=ben, stars=4, review="Short wait, clear advice.")

    book(amina, amina_self, clara, now, 2, reason="Results discussion")  # confirmed
    book(amina, child, omar, now, 3, reason="Check-up")  # pending: Dr Haddad confirms
    book(ben, ben_self, clara, now, 5, skip=2, reason="Annual check")  # confirmed
    demo_records_seed(amina=amina, clara=clara, visit=done)
    # Ben waits for an earlier time with Dr Weiss: cancelling one of her visits offers it to him.
    today = now.astimezone(hospital_zone()).date()
    waitlist_join(
        by=ben,
        patient=ben_self,
        doctor=clara,
        date_from=today,
        date_to=today + timedelta(days=14),
        reason="Earlier check if anything frees up",
        now=now,
    )
    demo_chat_seed(amina=amina, clara=clara, now=now)


def demo_chat_seed(*, amina, clara: Doctor, now) -> Appointment:
    """Amina's online consultation with Dr Weiss, started a few minutes ago, so its chat is
    open with a short exchange. Made directly: the booking rules keep "now" out of reach."""
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5 + 5)
    visit = Appointment.objects.create(
        doctor=clara,
        patient=amina.patient,
        booked_by=amina,
        start_at=start,
        end_at=start + timedelta(minutes=30),
        local_date=start.astimezone(hospital_zone()).date(),
        mode=ConsultationMode.ONLINE,
        reason="Palpitations follow-up",
        status=Appointment.Status.CONFIRMED,
        confirmed_at=start - timedelta(days=1),
    )
    for minutes, sender, body in (
        (4, clara.user, "Good morning, Amina. How have the palpitations been this week?"),
        (3, amina, "Better since the new tablets, only once after climbing stairs."),
        (2, clara.user, "Good. Did you manage to wear the 24-hour ECG?"),
    ):
        chat_message_send(
            appointment=visit, sender=sender, body=body, now=now - timedelta(minutes=minutes)
        )
    return visit


def demo_records_seed(*, amina, clara: Doctor, visit: Appointment) -> None:
    """Amina's record from her visit with Dr Weiss: a note, vital signs and a lab result with
    a value out of range that Dr Weiss has reviewed; and a delivery address."""
    patient = amina.patient
    on = visit.local_date
    record_create(
        patient=patient,
        author=clara,
        kind=RecordKind.VISIT_NOTE,
        title="Palpitations after exercise",
        text="Occasional palpitations after running. ECG at rest normal. Started a beta "
        "blocker at a low dose; 24-hour ECG and lipid panel ordered.",
        occurred_on=on,
        appointment=visit,
    )
    record_create(
        patient=patient,
        author=clara,
        kind=RecordKind.VITALS,
        occurred_on=on,
        appointment=visit,
        vitals={"systolic_mmhg": 138, "diastolic_mmhg": 86, "heart_rate_bpm": 92},
    )
    lab = record_create(
        patient=patient,
        author=clara,
        kind=RecordKind.LAB_RESULT,
        title="Lipid panel",
        occurred_on=on,
        appointment=visit,
        analytes=[
            AnalyteInput("LDL cholesterol", Decimal("4.6"), "mmol/L", None, Decimal("3.0")),
            AnalyteInput("HDL cholesterol", Decimal("1.4"), "mmol/L", Decimal("1.0"), None),
        ],
    )
    record_review(record=lab, by=clara)
    address_add(
        owner=amina,
        fields={
            "label": "Home",
            "recipient_name": "Amina Okafor",
            "line1": "Lindenstraße 12",
            "postal_code": "10969",
            "city": "Berlin",
        },
    )


# The smallest valid PDF that says what it is: the pending applicant's licence scan.
DEMO_LICENCE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def demo_application_seed(doctor: Doctor) -> None:
    """A credential document for the pending applicant, so admins have one to review."""
    if doctor.documents.exists():
        return
    document = CredentialDocument(
        doctor=doctor,
        original_name="licence-scan.pdf",
        content_type="application/pdf",
        description="Medical licence",
    )
    document.file.save("licence.pdf", ContentFile(DEMO_LICENCE_PDF), save=True)


def demo_sos_seed(*, amina, clara: Doctor) -> None:
    """Dr Weiss on duty, and one past SOS of Amina's that she acknowledged after 40 seconds and
    resolved (so the CMS shows a response time). Run once (skipped when Amina has any SOS); the
    alerts of that past request are marked read: they are history."""
    from django.urls import reverse

    from clinic.models import SOSRequest
    from clinic.services.sos import (
        doctor_set_on_duty,
        sos_acknowledge,
        sos_dispatch,
        sos_raise,
        sos_resolve,
    )
    from core.models import Notification, NotificationKind

    if clara.on_duty_since is None:
        doctor_set_on_duty(doctor=clara, on_duty=True)
    if not SOSRequest.objects.filter(patient=amina.patient).exists():
        raised = timezone.now() - timedelta(days=3, hours=2)
        sos, _created = sos_raise(
            by=amina,
            patient=amina.patient,
            description="Heart racing and dizzy after climbing the stairs",
            place="Home, Lindenstraße 12, 3rd floor",
            now=raised,
        )
        sos_acknowledge(sos=sos, by=clara.user, now=raised + timedelta(seconds=40))
        sos_dispatch(sos=sos, by=clara.user, now=raised + timedelta(seconds=95))
        sos_resolve(
            sos=sos,
            by=clara.user,
            note="Palpitations settled with rest; no ambulance needed. Review at the next visit.",
            now=raised + timedelta(minutes=14),
        )
        Notification.objects.filter(
            kind=NotificationKind.SOS, link=reverse("sos_detail", args=[sos.public_id])
        ).update(read_at=raised + timedelta(minutes=15))
