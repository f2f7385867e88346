"""Patients: the records behind logins and dependents."""

from django.db import transaction

from clinic.models import Patient
from core.models import AuditEvent
from core.services import audit_record


@transaction.atomic
def patient_create_for_account(*, user, request=None) -> Patient:
    """The account holder's own patient record; creating it twice returns the first."""
    patient, created = Patient.objects.get_or_create(
        user=user, defaults={"first_name": user.first_name, "last_name": user.last_name}
    )
    if created:
        audit_record(action=AuditEvent.Action.CREATE, actor=user, request=request, target=patient)
    return patient
