"""Ratings: a patient's stars and short review of a completed visit, once per appointment."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from clinic.models import Appointment, Doctor, Rating
from clinic.permissions import user_may_book_for
from core.models import AuditEvent
from core.services import audit_record

REVIEW_MAX_LENGTH = 500


class RatingError(Exception):
    """A rating rule said no; `message` is fit to show the user next to the form."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@transaction.atomic
def rating_create(
    *, appointment: Appointment, by, stars: int, review: str = "", request=None
) -> Rating:
    """Rate a completed visit: 1 to 5 stars and an optional review of at most 500 characters.

    Only someone who may book for the visit's patient (the patient, a parent, a proxy) rates,
    and only once per appointment: the one-to-one constraint decides between two concurrent
    attempts. The doctor's running count and total move in the same transaction, with F(), so
    listing pages read the average from the doctor's row without an aggregate query.
    """
    if not user_may_book_for(by, appointment.patient):
        raise PermissionDenied
    # The status as committed now, not as the caller's copy remembers it.
    status = Appointment.objects.filter(pk=appointment.pk).values_list("status", flat=True).get()
    if status != Appointment.Status.COMPLETED:
        raise RatingError(_("Only a completed visit can be rated."))
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise RatingError(_("Choose from 1 to 5 stars."))
    review = (review or "").strip()
    if len(review) > REVIEW_MAX_LENGTH:
        raise RatingError(
            _("The review can be at most %(count)d characters.") % {"count": REVIEW_MAX_LENGTH}
        )
    try:
        # A savepoint, so the transaction stays usable (PostgreSQL) after a duplicate.
        with transaction.atomic():
            rating = Rating.objects.create(
                appointment=appointment,
                doctor=appointment.doctor,
                author=by,
                stars=stars,
                review=review,
            )
    except IntegrityError as error:
        raise RatingError(_("This visit has already been rated.")) from error
    Doctor.objects.filter(pk=appointment.doctor_id).update(
        rating_count=F("rating_count") + 1, rating_total=F("rating_total") + stars
    )
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=by,
        request=request,
        target=rating,
        details={"appointment": str(appointment.public_id), "stars": stars},
    )
    return rating
