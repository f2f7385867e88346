"""Who may act for which patient, and who may see which appointment.

Acting for a patient is a django-guardian object permission on that patient (granted when an
account holder adds a dependent or accepts a proxy invitation); the account holder's own
patient record needs none.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user, get_perms, get_users_with_perms

from clinic.models import (
    Address,
    Appointment,
    BreakGlassAccess,
    ConsultationMode,
    CredentialDocument,
    Delivery,
    Doctor,
    MedicalRecord,
    Patient,
    Prescription,
    RecordAttachment,
    RefillRequest,
    SOSRequest,
    WaitlistEntry,
    WaitlistOffer,
)
from core.models import Role

BOOK_FOR = "clinic.book_for_patient"
READ_RECORDS = "clinic.view_records_patient"


def patients_user_may_book_for(user) -> QuerySet[Patient]:
    """The user's own patient record and every patient they hold `book_for_patient` on."""
    if not user.is_authenticated or user.role != Role.PATIENT:
        return Patient.objects.none()
    granted = get_objects_for_user(user, BOOK_FOR, klass=Patient, accept_global_perms=False)
    return Patient.objects.filter(Q(user=user) | Q(pk__in=granted.values("pk")))


def patients_user_may_read_records_of(user) -> QuerySet[Patient]:
    """The user's own patient record and every patient they hold `view_records_patient` on."""
    if not user.is_authenticated or user.role != Role.PATIENT:
        return Patient.objects.none()
    granted = get_objects_for_user(user, READ_RECORDS, klass=Patient, accept_global_perms=False)
    return Patient.objects.filter(Q(user=user) | Q(pk__in=granted.values("pk")))


def user_may_book_for(user, patient: Patient) -> bool:
    return patients_user_may_book_for(user).filter(pk=patient.pk).exists()


def appointments_visible_to(user) -> QuerySet[Appointment]:
    """A patient sees their own and their dependents' appointments; a doctor sees theirs;
    an admin sees all; anyone else none."""
    if not user.is_authenticated:
        return Appointment.objects.none()
    if user.role == Role.ADMIN:
        return Appointment.objects.all()
    if user.role == Role.DOCTOR:
        return Appointment.objects.filter(doctor__user=user)
    if user.role == Role.PATIENT:
        return Appointment.objects.filter(patient__in=patients_user_may_book_for(user))
    return Appointment.objects.none()


def get_appointment_for_user(request: HttpRequest, public_id: UUID) -> Appointment:
    """The appointment if the signed-in user takes part in it, else 404 (never 403: an
    outsider does not learn that it exists)."""
    try:
        return (
            appointments_visible_to(request.user)
            .select_related("doctor__user", "doctor__specialty", "patient")
            .get(public_id=public_id)
        )
    except Appointment.DoesNotExist:
        raise Http404 from None


def get_doctor_for_user(request: HttpRequest) -> Doctor:
    """The signed-in user's own doctor profile, or 403: a doctor's pages act only on her own
    profile, and a doctor login without one (or any other login) may not use them."""
    doctor = getattr(request.user, "doctor", None)
    if doctor is None:
        raise PermissionDenied
    return doctor


def get_credential_document_for_user(request: HttpRequest, public_id: UUID) -> CredentialDocument:
    """A credential document for the applicant who sent it and for admins; 404 for everyone
    else (an outsider does not learn that it exists)."""
    user = request.user
    if not user.is_authenticated:
        raise Http404
    documents = CredentialDocument.objects.select_related("doctor__user")
    if user.role != Role.ADMIN:
        documents = documents.filter(doctor__user=user)
    try:
        return documents.get(public_id=public_id)
    except CredentialDocument.DoesNotExist:
        raise Http404 from None


def get_doctor_photo_for_user(request: HttpRequest, public_id: UUID) -> Doctor:
    """The doctor whose photo the signed-in user may see: any listed (verified, active) doctor,
    one's own profile at any stage, and any applicant for admins. 404 otherwise, and when
    there is no photo."""
    user = request.user
    if not user.is_authenticated:
        raise Http404
    visible = Q(status=Doctor.Status.VERIFIED, user__is_active=True) | Q(user=user)
    doctors = Doctor.objects.all() if user.role == Role.ADMIN else Doctor.objects.filter(visible)
    doctor = doctors.exclude(photo="").filter(public_id=public_id).first()
    if doctor is None:
        raise Http404
    return doctor


def waitlist_entries_visible_to(user) -> QuerySet[WaitlistEntry]:
    """The waitlist entries of the patients the user may book for; nobody else sees any."""
    return WaitlistEntry.objects.filter(patient__in=patients_user_may_book_for(user))


def get_waitlist_entry_for_user(request: HttpRequest, public_id: UUID) -> WaitlistEntry:
    """The waitlist entry if the user may book for its patient, else 404."""
    try:
        return (
            waitlist_entries_visible_to(request.user)
            .select_related("doctor__user", "doctor__specialty", "patient")
            .get(public_id=public_id)
        )
    except WaitlistEntry.DoesNotExist:
        raise Http404 from None


def get_offer_for_user(request: HttpRequest, public_id: UUID) -> WaitlistOffer:
    """The waitlist offer if the user may book for its patient, else 404 (an outsider does not
    learn that a slot was offered to anyone)."""
    try:
        return WaitlistOffer.objects.select_related(
            "entry__patient", "doctor__user", "doctor__specialty", "appointment"
        ).get(
            public_id=public_id,
            entry__patient__in=patients_user_may_book_for(request.user),
        )
    except WaitlistOffer.DoesNotExist:
        raise Http404 from None


# --- Access to a patient -----------------------------------------------------------------------


class Capability(StrEnum):
    """What someone may do with a patient's data."""

    VIEW_PROFILE = "view_profile"
    CHANGE_PROFILE = "change_profile"
    BOOK = "book"
    VIEW_RECORDS = "view_records"
    WRITE_RECORDS = "write_records"
    REQUEST_SOS = "request_sos"


# The guardian permission on the patient that grants each capability to a delegate.
DELEGATED_CAPABILITIES = {
    "view_patient": Capability.VIEW_PROFILE,
    "change_patient": Capability.CHANGE_PROFILE,
    "book_for_patient": Capability.BOOK,
    "view_records_patient": Capability.VIEW_RECORDS,
    "request_sos_patient": Capability.REQUEST_SOS,
}
SELF_CAPABILITIES = frozenset(Capability) - {Capability.WRITE_RECORDS}
TREATING_CAPABILITIES = frozenset(
    {Capability.VIEW_PROFILE, Capability.VIEW_RECORDS, Capability.WRITE_RECORDS}
)
BREAK_GLASS_CAPABILITIES = frozenset({Capability.VIEW_PROFILE, Capability.VIEW_RECORDS})


@dataclass(frozen=True)
class PatientAccess:
    """Why and how a user may touch one patient's data.

    `knows` says whether the user may learn that the patient exists at all (else 404);
    `may(capability)` whether they may do that one thing (else 403)."""

    patient: Patient
    is_self: bool = False
    delegated: frozenset = field(default_factory=frozenset)
    treating: bool = False
    break_glass: BreakGlassAccess | None = None
    is_admin: bool = False

    @property
    def capabilities(self) -> frozenset:
        granted = set(self.delegated)
        if self.is_self:
            granted |= SELF_CAPABILITIES
        if self.treating:
            granted |= TREATING_CAPABILITIES
        if self.break_glass is not None:
            granted |= BREAK_GLASS_CAPABILITIES
        return frozenset(granted)

    @property
    def knows(self) -> bool:
        # Admins manage accounts, so they know a patient exists, but read nothing clinical.
        return bool(self.capabilities) or self.is_admin

    @property
    def acting_for_patient(self) -> bool:
        """The user acts as someone else for this patient (a parent, a proxy)."""
        return not self.is_self and bool(self.delegated)

    def may(self, capability: Capability) -> bool:
        return capability in self.capabilities


def doctor_treats(doctor: Doctor, patient: Patient, now: datetime | None = None) -> bool:
    """A care relationship: an active appointment between them, or a visit completed within
    CARE_RELATIONSHIP_DAYS. One query."""
    now = now or timezone.now()
    since = now - timedelta(days=settings.CARE_RELATIONSHIP_DAYS)
    return (
        Appointment.objects.filter(doctor=doctor, patient=patient)
        .filter(
            Q(status__in=Appointment.ACTIVE_STATUSES)
            | Q(status=Appointment.Status.COMPLETED, start_at__gte=since)
        )
        .exists()
    )


def break_glass_active(
    doctor: Doctor, patient: Patient, now: datetime | None = None
) -> BreakGlassAccess | None:
    """The doctor's emergency access to this patient's records, while it lasts."""
    now = now or timezone.now()
    return (
        BreakGlassAccess.objects.filter(doctor=doctor, patient=patient, expires_at__gt=now)
        .order_by("-expires_at")
        .first()
    )


def patient_access(user, patient: Patient, now: datetime | None = None) -> PatientAccess:
    """Everything that gives `user` access to `patient`: being them, guardian permissions
    held on them (a parent, a proxy), treating them, emergency access, or being an admin."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return PatientAccess(patient=patient)
    if user.role == Role.PATIENT:
        if patient.user_id == user.pk:
            # Being the patient grants every delegable capability: no permission lookup.
            return PatientAccess(patient=patient, is_self=True)
        perms = get_perms(user, patient)
        delegated = frozenset(
            capability
            for codename, capability in DELEGATED_CAPABILITIES.items()
            if codename in perms
        )
        return PatientAccess(patient=patient, delegated=delegated)
    if user.role == Role.DOCTOR:
        doctor = getattr(user, "doctor", None)
        if doctor is None or not doctor.is_verified:
            return PatientAccess(patient=patient)
        treating = doctor_treats(doctor, patient, now)
        return PatientAccess(
            patient=patient,
            treating=treating,
            break_glass=None if treating else break_glass_active(doctor, patient, now),
        )
    if user.role == Role.ADMIN:
        return PatientAccess(patient=patient, is_admin=True)
    return PatientAccess(patient=patient)


def get_patient_for_user(
    request: HttpRequest, public_id: UUID, capability: Capability
) -> tuple[Patient, PatientAccess]:
    """The patient and the user's access to them, if the user may do `capability`: 404 when
    the user may not know the patient exists, 403 when they know it but may not do this."""
    try:
        patient = Patient.objects.select_related("user").get(public_id=public_id)
    except Patient.DoesNotExist:
        raise Http404 from None
    access = patient_access(request.user, patient)
    if not access.knows:
        raise Http404
    if not access.may(capability):
        raise PermissionDenied
    return patient, access


# --- Prescriptions, refills, deliveries, addresses ---------------------------------------------


def _prescription_access(user, prescription, capability: Capability) -> PatientAccess:
    """The user's access to the prescription's patient, if they may do `capability` with it:
    404 when they may not know the patient, 403 when they know it but may not do this. The
    prescribing doctor always reads what she wrote, even after the care relationship ends."""
    access = patient_access(user, prescription.patient)
    wrote_it = (
        getattr(user, "is_authenticated", False)
        and user.is_active
        and prescription.doctor.user_id == user.pk
    )
    if wrote_it and capability == Capability.VIEW_RECORDS:
        return access
    if not access.knows:
        raise Http404
    if not access.may(capability):
        raise PermissionDenied
    return access


def get_prescription_for_user(
    request: HttpRequest, public_id: UUID, capability: Capability = Capability.VIEW_RECORDS
) -> tuple[Prescription, PatientAccess]:
    """The prescription and the user's access to its patient, if they may do `capability`
    (reading by default): the patient, a delegate with view-records, a treating doctor and the
    prescribing doctor read it; 404 for anyone who may not know the patient, 403 for a known
    patient and a forbidden action."""
    try:
        prescription = Prescription.objects.select_related(
            "patient__user", "doctor__user", "doctor__specialty", "appointment", "refill_of"
        ).get(public_id=public_id)
    except Prescription.DoesNotExist:
        raise Http404 from None
    return prescription, _prescription_access(request.user, prescription, capability)


def get_refill_request_for_user(
    request: HttpRequest, public_id: UUID, *, decide: bool = False
) -> tuple[RefillRequest, PatientAccess]:
    """A refill request for whoever may read its prescription; with `decide`, only the
    prescribing doctor (403 for anyone else who may read it, 404 for the rest)."""
    try:
        refill = RefillRequest.objects.select_related(
            "prescription__patient__user", "prescription__doctor__user", "requested_by"
        ).get(public_id=public_id)
    except RefillRequest.DoesNotExist:
        raise Http404 from None
    access = _prescription_access(request.user, refill.prescription, Capability.VIEW_RECORDS)
    if decide and refill.prescription.doctor.user_id != request.user.pk:
        raise PermissionDenied
    return refill, access


def get_delivery_for_user(
    request: HttpRequest, public_id: UUID
) -> tuple[Delivery, PatientAccess | None]:
    """A delivery for its requester, for whoever may read its prescription, and for admins
    (who run deliveries; their access is None: they see the parcel, not the prescription).
    404 for everyone else."""
    user = request.user
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise Http404
    try:
        delivery = Delivery.objects.select_related(
            "prescription__patient__user", "prescription__doctor__user", "requested_by"
        ).get(public_id=public_id)
    except Delivery.DoesNotExist:
        raise Http404 from None
    if user.role == Role.ADMIN:
        return delivery, None
    try:
        access = _prescription_access(user, delivery.prescription, Capability.VIEW_RECORDS)
    except PermissionDenied:
        raise Http404 from None
    return delivery, access


def get_address_for_user(request: HttpRequest, public_id: UUID) -> Address:
    """One of the signed-in user's own saved addresses (archived ones too), else 404: nobody
    learns of anyone else's."""
    user = request.user
    if not getattr(user, "is_authenticated", False):
        raise Http404
    try:
        return Address.objects.get(public_id=public_id, owner=user)
    except Address.DoesNotExist:
        raise Http404 from None


# --- Medical records and their attachments -------------------------------------------------------


def sees_unreleased_records(access: PatientAccess) -> bool:
    """Doctors reading a patient's record (treating, or in an emergency) see everything;
    patients and their delegates only what has been released to them."""
    return access.treating or access.break_glass is not None


def _record_access(user, record: MedicalRecord, capability: Capability) -> PatientAccess:
    """404 when the user may not know the patient, or may not know the record yet (a held lab
    result before review); 403 when they know it but may not do `capability`."""
    access = patient_access(user, record.patient)
    if not access.knows:
        raise Http404
    if record.released_at is None and not sees_unreleased_records(access):
        raise Http404
    if not access.may(capability):
        raise PermissionDenied
    return access


def get_record_for_user(
    request: HttpRequest, public_id: UUID, capability: Capability = Capability.VIEW_RECORDS
) -> tuple[MedicalRecord, PatientAccess]:
    """The medical record and the user's access to its patient, if they may do `capability`
    with it: the patient and delegates with view-records read released records; treating
    doctors (and doctors with emergency access, read-only) read all; treating doctors write.
    404 for what the user may not know exists, 403 for a forbidden action on a known record."""
    try:
        record = MedicalRecord.objects.select_related(
            "patient__user", "author__user", "author__specialty", "reviewed_by__user", "appointment"
        ).get(public_id=public_id)
    except MedicalRecord.DoesNotExist:
        raise Http404 from None
    return record, _record_access(request.user, record, capability)


def get_attachment_for_user(
    request: HttpRequest, public_id: UUID, capability: Capability = Capability.VIEW_RECORDS
) -> tuple[RecordAttachment, PatientAccess]:
    """An attachment for whoever may do `capability` with its record (same answers as
    `get_record_for_user`)."""
    try:
        attachment = RecordAttachment.objects.select_related("record__patient__user").get(
            public_id=public_id
        )
    except RecordAttachment.DoesNotExist:
        raise Http404 from None
    return attachment, _record_access(request.user, attachment.record, capability)


def get_verified_doctor_for_user(request: HttpRequest) -> Doctor:
    """The signed-in doctor's own profile if an admin has verified it, else 403."""
    doctor = get_doctor_for_user(request)
    if not doctor.is_verified:
        raise PermissionDenied
    return doctor


def get_patient_for_emergency(public_id: UUID) -> Patient:
    """Any patient, for a verified doctor about to break the glass (the caller checks that):
    emergency access exists for patients the doctor does not know yet. 404 if none."""
    try:
        return Patient.objects.select_related("user").get(public_id=public_id)
    except Patient.DoesNotExist:
        raise Http404 from None


# --- Consultation chat ---------------------------------------------------------------------------

# The appointment statuses whose chat may be open; a cancelled, moved or missed visit has none.
CHAT_STATUSES = (
    Appointment.Status.PENDING,
    Appointment.Status.CONFIRMED,
    Appointment.Status.COMPLETED,
)


@dataclass(frozen=True)
class ChatParticipant:
    """Someone who takes part in an online appointment's chat: its doctor, the patient, or a
    delegate who reads the patient's records (`acting_for_patient`)."""

    user: object
    is_doctor: bool = False
    acting_for_patient: bool = False


def chat_participant(user, appointment: Appointment) -> ChatParticipant | None:
    """Whether `user` takes part in the chat of `appointment` (an ONLINE one): the doctor of the
    appointment, the patient's own login and delegates holding the records scope. Admins,
    editors, other doctors and delegates without that scope do not. At most one query."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if appointment.mode != ConsultationMode.ONLINE:
        return None
    if user.role == Role.DOCTOR:
        if appointment.doctor.user_id == user.pk:
            return ChatParticipant(user=user, is_doctor=True)
        return None
    if user.role != Role.PATIENT:
        return None
    access = patient_access(user, appointment.patient)
    if not access.may(Capability.VIEW_RECORDS):
        return None
    return ChatParticipant(user=user, acting_for_patient=access.acting_for_patient)


def chat_room_for(user, public_id: UUID) -> tuple[Appointment, ChatParticipant] | None:
    """The online appointment and the user's part in its chat, or None when the user may not
    know of it (unknown id, not online, not a participant): for pages and sockets alike."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    appointment = (
        Appointment.objects.select_related("doctor__user", "patient__user", "chat_closed_by")
        .filter(public_id=public_id, mode=ConsultationMode.ONLINE)
        .first()
    )
    if appointment is None:
        return None
    participant = chat_participant(user, appointment)
    if participant is None:
        return None
    return appointment, participant


def get_chat_appointment_for_user(
    request: HttpRequest, public_id: UUID
) -> tuple[Appointment, ChatParticipant]:
    """The online appointment whose chat the signed-in user takes part in, with their part in
    it; 404 for everyone else (an outsider does not learn that it exists)."""
    room = chat_room_for(request.user, public_id)
    if room is None:
        raise Http404
    return room


def chat_participant_users(appointment: Appointment) -> list:
    """Everyone who takes part in the chat of `appointment`: its doctor, the patient's own
    login and the delegates holding the records scope (active logins only). Two queries."""
    users = [appointment.doctor.user]
    if appointment.patient.user_id:
        users.append(appointment.patient.user)
    delegates = get_users_with_perms(
        appointment.patient,
        only_with_perms_in=["view_records_patient"],
        with_group_users=False,
        with_superusers=False,
    ).filter(role=Role.PATIENT)
    users.extend(delegates.exclude(pk=appointment.patient.user_id))
    return [user for user in users if user.is_active]


def chat_window(appointment: Appointment) -> tuple[datetime, datetime]:
    """When the chat opens and when it closes: CHAT_OPENS_MINUTES_BEFORE the start until the
    doctor ends it or CHAT_CLOSES_MINUTES_AFTER the end, whichever comes first."""
    opens_at = appointment.start_at - timedelta(minutes=settings.CHAT_OPENS_MINUTES_BEFORE)
    closes_at = appointment.end_at + timedelta(minutes=settings.CHAT_CLOSES_MINUTES_AFTER)
    if appointment.chat_closed_at is not None:
        closes_at = min(closes_at, appointment.chat_closed_at)
    return opens_at, closes_at


def chat_is_open(appointment: Appointment, now: datetime | None = None) -> bool:
    """Whether messages may be sent (and sockets join) now. No query."""
    if appointment.mode != ConsultationMode.ONLINE or appointment.status not in CHAT_STATUSES:
        return False
    now = now or timezone.now()
    opens_at, closes_at = chat_window(appointment)
    return opens_at <= now < closes_at


# --- SOS emergency requests ----------------------------------------------------------------------

REQUEST_SOS = "clinic.request_sos_patient"


def patients_user_may_request_sos_for(user) -> QuerySet[Patient]:
    """The user's own patient record and every patient they hold `request_sos_patient` on."""
    if not user.is_authenticated or user.role != Role.PATIENT:
        return Patient.objects.none()
    granted = get_objects_for_user(user, REQUEST_SOS, klass=Patient, accept_global_perms=False)
    return Patient.objects.filter(Q(user=user) | Q(pk__in=granted.values("pk")))


@dataclass(frozen=True)
class SOSAccess:
    """How a user stands to one SOS request: on the patient's side (the patient, or a delegate
    with the SOS scope: follows and may cancel it) or on the staff side (an admin, a doctor on
    duty, or the doctor who acknowledged it: sees the emergency summary and handles it)."""

    sos: SOSRequest
    patient_side: bool = False
    staff: bool = False
    acting_for_patient: bool = False


def sos_access(user, sos: SOSRequest) -> SOSAccess | None:
    """The user's access to the request, None when they may not know it exists (404), and an
    access with neither side for a doctor off duty (she knows SOS requests exist: 403)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.role == Role.PATIENT:
        access = patient_access(user, sos.patient)
        if not access.may(Capability.REQUEST_SOS):
            return None
        return SOSAccess(sos=sos, patient_side=True, acting_for_patient=access.acting_for_patient)
    if user.role == Role.ADMIN:
        return SOSAccess(sos=sos, staff=True)
    if user.role == Role.DOCTOR:
        doctor = getattr(user, "doctor", None)
        if doctor is None or not doctor.is_verified:
            return None
        on_call = doctor.on_duty_since is not None or sos.acknowledged_by_id == user.pk
        return SOSAccess(sos=sos, staff=on_call)
    return None


def get_sos_for_user(
    request: HttpRequest, public_id: UUID, *, handle: bool = False
) -> tuple[SOSRequest, SOSAccess]:
    """The SOS request and the user's access to it: 404 for anyone who may not know it exists
    (other patients, editors, unverified doctors); 403 for a verified doctor off duty, and,
    with `handle` (a staff action), for the patient's side."""
    try:
        sos = SOSRequest.objects.select_related(
            "patient__user", "raised_by", "acknowledged_by", "closed_by"
        ).get(public_id=public_id)
    except SOSRequest.DoesNotExist:
        raise Http404 from None
    access = sos_access(request.user, sos)
    if access is None:
        raise Http404
    if handle and not access.staff:
        raise PermissionDenied
    if not (access.staff or access.patient_side):
        raise PermissionDenied
    return sos, access
