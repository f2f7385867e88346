"""The waitlist's form. Dates and the doctor's horizon are checked again by the service."""

from django import forms
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from clinic.forms import PatientChoiceField
from clinic.permissions import patients_user_may_book_for


class WaitlistJoinForm(forms.Form):
    """For whom, between which local dates, and why (optional). The patient is looked up only
    among those the user may book for."""

    patient = forms.Field()  # replaced in __init__, where the user is known
    date_from = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label=_("Until"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Any free time with this doctor on these days, both included."),
    )
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

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_to < date_from:
            self.add_error("date_to", _("The last day must be on or after the first day."))
        return cleaned
