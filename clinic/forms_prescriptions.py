"""Forms for prescriptions, refills, saved addresses and deliveries. They check shape only;
the services in `clinic.services.prescriptions` decide the rules."""

from django import forms
from django.utils.translation import gettext_lazy as _

from clinic.models import Address, Delivery, PrescriptionItem

ITEM_ROWS = 5


class PrescriptionForm(forms.Form):
    recommended_tests = forms.CharField(
        label=_("Recommended tests"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    advice = forms.CharField(
        label=_("Advice"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    follow_up_on = forms.DateField(
        label=_("Follow-up on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class PrescriptionItemForm(forms.ModelForm):
    """One medication row; a row left blank is ignored, a started row needs dose and frequency."""

    class Meta:
        model = PrescriptionItem
        fields = [
            "medication",
            "strength",
            "form",
            "dose",
            "route",
            "frequency",
            "duration",
            "quantity",
            "instructions",
        ]
        labels = {"form": _("Form (tablet, syrup…)")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False

    def clean(self):
        data = super().clean()
        started = any(value not in (None, "") for value in data.values())
        if started:
            for name in ("medication", "dose", "frequency"):
                if not data.get(name):
                    self.add_error(name, _("Required for each medication."))
        return data


PrescriptionItemFormSet = forms.formset_factory(
    PrescriptionItemForm, extra=ITEM_ROWS, max_num=20, validate_max=True
)


class RefillRequestForm(forms.Form):
    note = forms.CharField(
        label=_("Note for the doctor"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RefillDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", _("Approve")), ("decline", _("Decline"))], widget=forms.HiddenInput
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class AddressForm(forms.ModelForm):
    class Meta:
        model = Address
        fields = [
            "label",
            "recipient_name",
            "line1",
            "line2",
            "postal_code",
            "city",
            "country",
            "phone",
        ]
        labels = {
            "label": _("Label (home, work…)"),
            "line1": _("Street and number"),
            "line2": _("Address line 2"),
        }


class DeliveryRequestForm(forms.Form):
    address = forms.ModelChoiceField(
        label=_("Deliver to"),
        queryset=Address.objects.none(),
        empty_label=None,
        to_field_name="public_id",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["address"].queryset = Address.objects.filter(
            owner=user, archived_at__isnull=True
        )


class DeliveryAdvanceForm(forms.Form):
    status = forms.ChoiceField(choices=Delivery.Status.choices)
    note = forms.CharField(required=False, max_length=500)
