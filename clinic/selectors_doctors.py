"""Reads for the CMS screen of doctor applications: the listing with its joins and the
decision history of one application, both in a fixed number of queries."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, F, IntegerField, QuerySet, Value, When
from django.utils.translation import gettext_lazy as _

from clinic.models import Doctor
from core.models import AuditEvent


def doctor_applications() -> QuerySet[Doctor]:
    """Every doctor application with the applicant and specialty joined (one query per page).

    Annotated for the default order, pending ones first, the longest waiting at the top:
    `waiting_rank` is 0 for a pending application and 1 otherwise, `pending_since` is when a
    pending one was (re)submitted and NULL for the others."""
    pending = Doctor.Status.PENDING
    return Doctor.objects.select_related("user", "specialty").annotate(
        waiting_rank=Case(
            When(status=pending, then=Value(0)), default=Value(1), output_field=IntegerField()
        ),
        pending_since=Case(When(status=pending, then=F("status_changed_at")), default=None),
    )


# The default order of the listing: pending first, the longest waiting first, then the other
# applications by their latest decision.
DOCTOR_APPLICATIONS_ORDERING = ["waiting_rank", "pending_since", "-status_changed_at", "-pk"]


def doctor_application_detail(pk: int) -> Doctor:
    """One application with everything its inspect page shows (three queries)."""
    return (
        Doctor.objects.select_related("user", "specialty")
        .prefetch_related("documents", "languages")
        .get(pk=pk)
    )


@dataclass(frozen=True)
class DecisionEvent:
    """One step of an application's history, as the inspect page shows it."""

    at: datetime
    label: str
    actor: str
    reason: str


def _event_label(event: AuditEvent) -> str | None:
    details = event.details or {}
    if event.action == AuditEvent.Action.CREATE:
        return str(_("Applied"))
    if event.action != AuditEvent.Action.UPDATE:
        return None
    if details.get("resubmitted"):
        return str(_("Resubmitted"))
    if details.get("status") == Doctor.Status.VERIFIED:
        return str(_("Verified"))
    if details.get("status") == Doctor.Status.REJECTED:
        return str(_("Rejected"))
    if details.get("user_active") is False:
        return str(_("Deactivated"))
    if details.get("user_active") is True:
        return str(_("Reactivated"))
    return None


def doctor_decision_history(doctor: Doctor) -> list[DecisionEvent]:
    """The application's history from the audit log, oldest first: applied, resubmitted,
    verified, rejected (with the reason), deactivated and reactivated, with who and when.

    One query; entries of other kinds about the doctor are left out."""
    events = (
        AuditEvent.objects.filter(
            target_type=Doctor._meta.label_lower, target_id=str(doctor.public_id)
        )
        .select_related("actor")
        .order_by("at", "id")
    )
    history = []
    for event in events:
        label = _event_label(event)
        if label is None:
            continue
        if event.actor is not None:
            actor = event.actor.get_full_name() or event.actor.email
        else:
            actor = event.actor_label or str(_("System"))
        history.append(DecisionEvent(at=event.at, label=label, actor=actor, reason=event.reason))
    return history
