"""The doctor application form and the checks on its uploads.

Files are judged by their bytes, never by the name or content type the browser sends: a
photo must open in Pillow as JPEG, PNG or WebP; a credential document must start like a PDF,
JPEG or PNG. Each file is then renamed with the extension of what it really is (the models'
`upload_to` adds a random name)."""

from pathlib import Path

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from clinic.models import Doctor
from clinic.services.doctors import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENTS,
    MAX_PHOTO_BYTES,
    CredentialUpload,
)
from clinic.uploads import document_type, download_name, image_format

# Pillow format name -> stored extension.
PHOTO_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
# A portrait needs nothing near this; it refuses decompression bombs before decoding.
MAX_PHOTO_PIXELS = 40_000_000


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input; cleans to a list (Django's documented pattern)."""

    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = [item for item in (data if isinstance(data, list | tuple) else [data]) if item]
        if not files:
            if self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return []
        single = super().clean
        return [single(item, initial) for item in files]


def _display_name(upload: UploadedFile) -> str:
    return Path(upload.name or "").name[:100] or str(_("file"))


class DoctorApplicationForm(forms.ModelForm):
    """Profile, licence, photo and credential documents of an application (or of a rejected
    application sent again: then documents are optional if some were sent before)."""

    photo = forms.FileField(
        label=_("Photo"),
        required=False,
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        help_text=_("Optional. JPEG, PNG or WebP, at most %(size)s. Shown on your profile.")
        % {"size": filesizeformat(MAX_PHOTO_BYTES)},
    )
    documents = MultipleFileField(
        label=_("Credential documents"),
        widget=MultipleFileInput(attrs={"accept": "application/pdf,image/jpeg,image/png"}),
        help_text=_(
            "Your licence and diplomas: PDF, JPEG or PNG, up to %(count)d files of at most "
            "%(size)s each. Only you and the hospital's admins can open them."
        )
        % {"count": MAX_DOCUMENTS, "size": filesizeformat(MAX_DOCUMENT_BYTES)},
    )

    class Meta:
        model = Doctor
        fields = [
            "specialty",
            "licence_number",
            "location",
            "years_of_experience",
            "consultation_fee",
            "languages",
            "education",
            "bio",
        ]
        labels = {
            "years_of_experience": _("Years of experience"),
            "consultation_fee": _("Consultation fee (€)"),
            "bio": _("About you"),
        }
        help_texts = {
            "licence_number": _("As on your medical licence. Each licence can be used once."),
            "bio": _("Shown to patients on your profile."),
        }
        widgets = {
            "languages": forms.CheckboxSelectMultiple,
            "education": forms.Textarea(attrs={"rows": 3}),
            "bio": forms.Textarea(attrs={"rows": 4}),
        }
        error_messages = {
            "licence_number": {
                "unique": _(
                    "This licence number is already registered. "
                    "Contact the hospital if it is yours."
                )
            }
        }

    def __init__(self, *args, documents_required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["documents"].required = documents_required
        self.fields["specialty"].empty_label = _("Choose your specialty")

    def clean_licence_number(self) -> str:
        return (self.cleaned_data.get("licence_number") or "").strip()

    def clean_photo(self) -> UploadedFile | None:
        photo = self.cleaned_data.get("photo")
        if not photo:
            return None
        if photo.size > MAX_PHOTO_BYTES:
            raise forms.ValidationError(
                _("The photo is larger than %(size)s.") % {"size": filesizeformat(MAX_PHOTO_BYTES)},
                code="too_large",
            )
        found_format = image_format(photo, max_pixels=MAX_PHOTO_PIXELS)
        if found_format not in PHOTO_FORMATS:
            raise forms.ValidationError(
                _("The photo must be a JPEG, PNG or WebP image."), code="invalid_image"
            )
        photo.name = f"photo{PHOTO_FORMATS[found_format]}"
        return photo

    def clean_documents(self) -> list[CredentialUpload]:
        uploads = self.cleaned_data.get("documents") or []
        if len(uploads) > MAX_DOCUMENTS:
            raise forms.ValidationError(
                _("Add at most %(count)d documents.") % {"count": MAX_DOCUMENTS},
                code="too_many",
            )
        errors = []
        checked = []
        for upload in uploads:
            name = _display_name(upload)
            if upload.size > MAX_DOCUMENT_BYTES:
                errors.append(
                    forms.ValidationError(
                        _("“%(name)s” is larger than %(size)s.")
                        % {"name": name, "size": filesizeformat(MAX_DOCUMENT_BYTES)},
                        code="too_large",
                    )
                )
                continue
            sniffed = document_type(upload)
            if sniffed is None:
                errors.append(
                    forms.ValidationError(
                        _("“%(name)s” is not a PDF, JPEG or PNG file.") % {"name": name},
                        code="invalid_document",
                    )
                )
                continue
            content_type, extension = sniffed
            original_name = download_name(name, extension, fallback="document")
            upload.name = f"document{extension}"
            checked.append(
                CredentialUpload(
                    file=upload, original_name=original_name, content_type=content_type
                )
            )
        if errors:
            raise forms.ValidationError(errors)
        return checked

    def service_arguments(self) -> dict:
        """The cleaned values as keyword arguments of `doctor_apply` / `doctor_resubmit`."""
        data = self.cleaned_data
        return {
            "specialty": data["specialty"],
            "licence_number": data["licence_number"],
            "bio": data.get("bio") or "",
            "years_of_experience": data.get("years_of_experience"),
            "education": data.get("education") or "",
            "languages": list(data.get("languages") or []),
            "consultation_fee": data.get("consultation_fee"),
            "location": data.get("location") or "",
            "photo": data.get("photo"),
            "documents": data.get("documents") or [],
        }
