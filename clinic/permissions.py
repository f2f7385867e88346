"""Who may act for which patient, and who may see which appointment.

Acting for a patient is a django-guardian object permission on that patient (granted when an
account holder adds a dependent or accepts a proxy invitation); the account holder's own
patient record needs none.
"""

from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest
from guardian.shortcuts import get_objects_for_user

from clinic.models import (
    Appointment,
    CredentialDocument,
    Doctor,
    Patient,
    WaitlistEntry,
    WaitlistOffer,
)
from core.models import Role

BOOK_FOR = "clinic.book_for_patient"


def patients_user_may_book_for(user) -> QuerySet[Patient]:
    """The user's own patient record and every patient they hold `book_for_patient` on."""
    if not user.is_authenticated or user.role != Role.PATIENT:
        return Patient.objects.none()
    granted = get_objects_for_user(user, BOOK_FOR, klass=Patient, accept_global_perms=False)
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
