"""Forms of the records pages. They parse input; the rules (required texts, bounds, ranges,
file types) live in `clinic.services.records`, whose errors the views put next to the field."""

from django import forms
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from clinic.models import Appointment, RecordKind
from clinic.services.records import (
    MAX_ATTACHMENT_BYTES,
    MAX_TEXT_CHARS,
    VITAL_BOUNDS,
    VITAL_LABELS,
    AnalyteInput,
)


class RecordFilterForm(forms.Form):
    kind = forms.MultipleChoiceField(
        label=_("Show"),
        choices=RecordKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def kinds(self) -> list[str]:
        return self.cleaned_data["kind"] if self.is_valid() else []


class RecordForm(forms.Form):
    """The common part of every record; the kind comes from the page's choice."""

    kind = forms.ChoiceField(choices=RecordKind.choices, widget=forms.HiddenInput)
    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        required=False,
        help_text=_("Optional; the record type is used when left empty."),
    )
    occurred_on = forms.DateField(
        label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}), required=False
    )
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        required=False,
        help_text=_("Optional: ICD-10 for a diagnosis, vaccine code for an immunization."),
    )
    text = forms.CharField(
        label=_("Text"),
        required=False,
        max_length=MAX_TEXT_CHARS,
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    appointment = forms.ModelChoiceField(
        label=_("Visit"),
        queryset=Appointment.objects.none(),
        required=False,
        empty_label=_("Not linked to a visit"),
    )

    def __init__(self, *args, appointments=None, **kwargs):
        super().__init__(*args, **kwargs)
        if appointments is not None:
            self.fields["appointment"].queryset = appointments
        self.fields["appointment"].label_from_instance = lambda appointment: (
            f"{appointment.start_at:%Y-%m-%d %H:%M} · {appointment.get_status_display()}"
        )


class VitalsForm(forms.Form):
    prefix = "vitals"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (low, high) in VITAL_BOUNDS.items():
            integer = name not in {"temperature_c", "weight_kg", "height_cm"}
            field_class = forms.IntegerField if integer else forms.DecimalField
            extra = {} if integer else {"max_digits": 5, "decimal_places": 1}
            self.fields[name] = field_class(label=VITAL_LABELS[name], required=False, **extra)
            self.fields[name].widget.attrs.update({"min": low, "max": high})

    def values(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in VITAL_BOUNDS}


class AnalyteForm(forms.Form):
    name = forms.CharField(label=_("Test"), max_length=100, required=False)
    value = forms.DecimalField(label=_("Value"), max_digits=12, decimal_places=4, required=False)
    unit = forms.CharField(label=_("Unit"), max_length=32, required=False)
    reference_low = forms.DecimalField(
        label=_("Reference low"), max_digits=12, decimal_places=4, required=False
    )
    reference_high = forms.DecimalField(
        label=_("Reference high"), max_digits=12, decimal_places=4, required=False
    )

    def clean(self):
        data = super().clean()
        if data.get("name") and data.get("value") is None and "value" not in self.errors:
            self.add_error("value", _("Enter the measured value."))
        if data.get("value") is not None and not data.get("name"):
            self.add_error("name", _("Name the test."))
        return data


AnalyteFormSet = forms.formset_factory(AnalyteForm, extra=5, max_num=30, absolute_max=30)


def analyte_inputs(formset) -> list[AnalyteInput]:
    """The filled rows of a valid analyte formset; blank rows are skipped."""
    return [
        AnalyteInput(
            name=row["name"],
            value=row["value"],
            unit=row.get("unit") or "",
            reference_low=row.get("reference_low"),
            reference_high=row.get("reference_high"),
        )
        for row in formset.cleaned_data
        if row.get("name")
    ]


class RecordEditForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    text = forms.CharField(
        label=_("Text"),
        required=False,
        max_length=MAX_TEXT_CHARS,
        widget=forms.Textarea(attrs={"rows": 10}),
    )


class AnnotationForm(forms.Form):
    text = forms.CharField(
        label=_("Add an annotation"),
        max_length=MAX_TEXT_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Annotations are dated and signed, and cannot be changed later."),
    )


class AttachmentForm(forms.Form):
    file = forms.FileField(
        label=_("Attach a file"),
        allow_empty_file=True,  # the service refuses an empty file with its own message
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/png,image/jpeg"}),
        help_text=_("PDF, PNG or JPEG, at most %(size)s.")
        % {"size": filesizeformat(MAX_ATTACHMENT_BYTES)},
    )
