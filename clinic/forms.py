from datetime import UTC, datetime

from django import forms
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from clinic.models import ConsultationMode, Language, Patient, Specialty
from clinic.permissions import patients_user_may_book_for


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for cancelling"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The doctor sees this. At most 500 characters."),
    )


class DirectoryFilterForm(forms.Form):
    """The directory's filters; read from the query string, so every result page has a URL."""

    q = forms.CharField(label=_("Name"), max_length=100, required=False)
    specialty = forms.ModelChoiceField(
        label=_("Specialty"),
        queryset=Specialty.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label=_("Any specialty"),
    )
    location = forms.CharField(label=_("Department or location"), max_length=100, required=False)
    language = forms.ModelChoiceField(
        label=_("Language"),
        queryset=Language.objects.all(),
        to_field_name="code",
        required=False,
        empty_label=_("Any language"),
    )
    free_before = forms.DateField(
        label=_("Free on or before"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class PatientChoiceField(forms.ModelChoiceField):
    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def label_from_instance(self, patient: Patient) -> str:
        return str(_("Myself")) if patient.user_id == self.user.pk else str(patient)


class SlotStartField(forms.Field):
    """An aware ISO 8601 instant, returned in UTC. Anything else is a form error, never a 500."""

    widget = forms.RadioSelect
    default_error_messages = {"invalid": _("Choose one of the times offered.")}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            start = datetime.fromisoformat(str(value).strip())
            if start.tzinfo is None:
                raise ValueError
            start = start.astimezone(UTC)
            # Far-off years would overflow when shifted into the hospital's zone.
            if not 2000 <= start.year <= 9000:
                raise ValueError
        except (ValueError, OverflowError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        return start


class SlotChoiceForm(forms.Form):
    """A choice among one day's free slots of a doctor: the radio buttons the booking and the
    reschedule pages share. The offered slots are set by the view (`slots_offer`); whether the
    chosen one is still free is for the service to say."""

    start_at = SlotStartField(label=_("Time"))

    def __init__(self, *args, slots=(), current=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.slots_offer(slots, current=current)

    def slots_offer(self, slots, *, current: datetime | None = None) -> None:
        """The radio buttons: one per free slot, valued with its UTC start; `current` (the start
        of the appointment being moved) is marked as such."""
        self.fields["start_at"].widget.choices = [
            (
                slot.start_at.isoformat(),
                " · ".join(
                    part
                    for part in (
                        f"{slot.local_start:%H:%M}",
                        str(ConsultationMode(slot.mode).label),
                        slot.location,
                        str(_("current time")) if slot.start_at == current else "",
                    )
                    if part
                ),
            )
            for slot in slots
        ]


class ForWhomForm(forms.Form):
    """Who the visit is for and why (optional). The patient is looked up only among those the
    user may book for; booking and the waitlist both ask this."""

    patient = forms.Field()  # replaced in __init__, where the user is known
    reason = forms.CharField(
        label=_("Reason for the visit"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Optional. The doctor sees this. At most 500 characters."),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"] = PatientChoiceField(
            label=_("For whom"),
            queryset=patients_user_may_book_for(user).order_by(
                F("user").asc(nulls_last=True), "first_name"
            ),
            to_field_name="public_id",
            empty_label=None,
            user=user,
            error_messages={"invalid_choice": _("Choose someone you may book for.")},
        )


class BookingForm(ForWhomForm, SlotChoiceForm):
    """Who the visit is for, when, and why. The time is checked by the booking service."""

    field_order = ["patient", "start_at", "reason"]


class RescheduleForm(SlotChoiceForm):
    """The new time for an appointment; everything else about it stays."""


class RatingForm(forms.Form):
    """Stars and an optional short review of a completed visit (the rating service decides
    whether this visit may be rated by this user)."""

    stars = forms.TypedChoiceField(
        label=_("Your rating"),
        choices=[(stars, f"{'★' * stars} {stars}/5") for stars in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Choose from 1 to 5 stars.")},
    )
    review = forms.CharField(
        label=_("Review"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Optional. Shown on the doctor's profile without your name. At most 500 characters."
        ),
    )


class WaitlistJoinForm(ForWhomForm):
    """For whom, between which local dates, and why (optional)."""

    field_order = ["patient", "date_from", "date_to", "reason"]

    date_from = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label=_("Until"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Any free time with this doctor on these days, both included."),
    )

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_to < date_from:
            self.add_error("date_to", _("The last day must be on or after the first day."))
        return cleaned
