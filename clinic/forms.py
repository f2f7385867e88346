from django import forms
from django.utils.translation import gettext_lazy as _


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for cancelling"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The doctor sees this. At most 500 characters."),
    )
