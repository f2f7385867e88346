"""Medical records: writing, reviewing, correcting and annotating them, and their attachments.

Only a doctor with a care relationship (`Capability.WRITE_RECORDS` in `patient_access`) writes;
records are never deleted, and annotations are append-only. Each service is atomic, writes its
audit line with the patient it concerns, and sends notifications on commit."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from guardian.shortcuts import get_users_with_perms

from clinic.models import (
    Appointment,
    Doctor,
    LabAnalyte,
    MedicalRecord,
    Patient,
    RecordAnnotation,
    RecordAttachment,
    RecordKind,
    RecordKindPolicy,
    VitalSigns,
)
from clinic.permissions import Capability, patient_access
from clinic.scheduling import hospital_zone
from clinic.uploads import document_type, download_name
from core.models import AuditEvent, NotificationKind
from core.services import audit_record, notification_create

# Visit notes, diagnoses, findings and annotations: long enough for a discharge letter.
MAX_TEXT_CHARS = 10_000
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# Kinds whose whole content is their text.
TEXT_REQUIRED = {
    RecordKind.VISIT_NOTE: gettext_lazy("A visit note needs a text."),
    RecordKind.DIAGNOSIS: gettext_lazy("A diagnosis needs a text."),
    RecordKind.IMAGING: gettext_lazy("An imaging report needs its findings."),
}
# Physiological bounds: anything outside is a typing error, not a measurement.
VITAL_BOUNDS: dict[str, tuple[Decimal, Decimal]] = {
    "systolic_mmhg": (Decimal(40), Decimal(300)),
    "diastolic_mmhg": (Decimal(20), Decimal(200)),
    "heart_rate_bpm": (Decimal(20), Decimal(300)),
    "temperature_c": (Decimal(25), Decimal(45)),
    "respiratory_rate": (Decimal(2), Decimal(80)),
    "spo2_percent": (Decimal(50), Decimal(100)),
    "weight_kg": (Decimal("0.3"), Decimal(500)),
    "height_cm": (Decimal(20), Decimal(275)),
}
VITAL_LABELS = {
    "systolic_mmhg": gettext_lazy("Systolic blood pressure (mmHg)"),
    "diastolic_mmhg": gettext_lazy("Diastolic blood pressure (mmHg)"),
    "heart_rate_bpm": gettext_lazy("Heart rate (beats/min)"),
    "temperature_c": gettext_lazy("Temperature (°C)"),
    "respiratory_rate": gettext_lazy("Respiratory rate (breaths/min)"),
    "spo2_percent": gettext_lazy("SpO2 (%)"),
    "weight_kg": gettext_lazy("Weight (kg)"),
    "height_cm": gettext_lazy("Height (cm)"),
}


class RecordError(Exception):
    """A record write refused, with a message for the user and the field it concerns."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class AnalyteInput:
    name: str
    value: Decimal
    unit: str = ""
    reference_low: Decimal | None = None
    reference_high: Decimal | None = None


def _require_writer(doctor: Doctor, patient: Patient) -> None:
    if not patient_access(doctor.user, patient).may(Capability.WRITE_RECORDS):
        raise PermissionDenied


def _clean_text(kind: str, text: str, *, field: str = "text") -> str:
    text = (text or "").strip()
    if not text and kind in TEXT_REQUIRED:
        raise RecordError(str(TEXT_REQUIRED[kind]), field=field)
    if len(text) > MAX_TEXT_CHARS:
        raise RecordError(
            _("Keep the text under %(max)d characters (it has %(count)d).")
            % {"max": MAX_TEXT_CHARS, "count": len(text)},
            field=field,
        )
    return text


def _clean_title(kind: str, title: str) -> str:
    title = (title or "").strip()
    if len(title) > 200:
        raise RecordError(_("Keep the title under 200 characters."), field="title")
    return title or str(RecordKind(kind).label)


def _clean_analytes(analytes: Sequence[AnalyteInput]) -> list[LabAnalyte]:
    if not analytes:
        raise RecordError(_("A lab result needs at least one measured value."), field="analytes")
    rows = []
    for number, analyte in enumerate(analytes, start=1):
        name = analyte.name.strip()
        if not name:
            raise RecordError(
                _("Row %(row)d: name the measured value.") % {"row": number}, field="analytes"
            )
        low, high = analyte.reference_low, analyte.reference_high
        if low is not None and high is not None and low > high:
            raise RecordError(
                _("Row %(row)d (%(name)s): the reference range's low end is above its high end.")
                % {"row": number, "name": name},
                field="analytes",
            )
        out_of_range = (low is not None and analyte.value < low) or (
            high is not None and analyte.value > high
        )
        rows.append(
            LabAnalyte(
                name=name[:100],
                value=analyte.value,
                unit=analyte.unit.strip()[:32],
                reference_low=low,
                reference_high=high,
                out_of_range=out_of_range,
            )
        )
    return rows


def _clean_vitals(vitals: dict[str, Decimal | int | None]) -> VitalSigns:
    values = {name: vitals.get(name) for name in VITAL_BOUNDS}
    if all(value is None for value in values.values()):
        raise RecordError(_("Enter at least one vital sign."), field="vitals")
    for name, value in values.items():
        low, high = VITAL_BOUNDS[name]
        if value is not None and not low <= Decimal(value) <= high:
            raise RecordError(
                _("%(label)s must be between %(low)s and %(high)s.")
                % {"label": VITAL_LABELS[name], "low": low, "high": high},
                field=name,
            )
    systolic, diastolic = values["systolic_mmhg"], values["diastolic_mmhg"]
    if (systolic is None) != (diastolic is None):
        raise RecordError(
            _("Enter both blood pressure values, or neither."), field="diastolic_mmhg"
        )
    if systolic is not None and diastolic >= systolic:
        raise RecordError(
            _("The diastolic pressure must be below the systolic."), field="diastolic_mmhg"
        )
    return VitalSigns(**values)


def _released_on_create(kind: str) -> bool:
    return not RecordKindPolicy.objects.filter(kind=kind, release_after_review=True).exists()


@transaction.atomic
def record_create(
    *,
    patient: Patient,
    author: Doctor,
    kind: str,
    title: str = "",
    text: str = "",
    code: str = "",
    occurred_on: date | None = None,
    appointment: Appointment | None = None,
    analytes: Sequence[AnalyteInput] = (),
    vitals: dict[str, Decimal | int | None] | None = None,
    request: HttpRequest | None = None,
) -> MedicalRecord:
    """Write a record for a patient the doctor treats. Lab results carry analytes (their
    out-of-range flag computed from the range), vital signs one set of checked values. The
    record reaches the patient now, or after review when its kind's policy says so."""
    _require_writer(author, patient)
    if kind not in RecordKind.values:
        raise RecordError(_("Choose a record type."), field="kind")
    text = _clean_text(kind, text)
    title = _clean_title(kind, title)
    code = (code or "").strip()
    if len(code) > 32:
        raise RecordError(_("Keep the code under 32 characters."), field="code")
    today = timezone.localdate(timezone=hospital_zone())
    occurred_on = occurred_on or today
    if occurred_on > today:
        raise RecordError(_("The date cannot be in the future."), field="occurred_on")
    if appointment is not None and (
        appointment.doctor_id != author.pk or appointment.patient_id != patient.pk
    ):
        raise RecordError(
            _("Link only an appointment between you and this patient."), field="appointment"
        )
    analyte_rows = _clean_analytes(analytes) if kind == RecordKind.LAB_RESULT else []
    vital_row = _clean_vitals(vitals or {}) if kind == RecordKind.VITALS else None

    now = timezone.now()
    record = MedicalRecord.objects.create(
        patient=patient,
        author=author,
        appointment=appointment,
        kind=kind,
        title=title,
        text=text,
        code=code,
        occurred_on=occurred_on,
        released_at=now if _released_on_create(kind) else None,
    )
    for row in analyte_rows:
        row.record = record
    LabAnalyte.objects.bulk_create(analyte_rows)
    if vital_row is not None:
        vital_row.record = record
        vital_row.save()
    access = patient_access(author.user, patient)
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=author.user,
        request=request,
        target=record,
        patient=patient,
        acting_for_patient=access.acting_for_patient,
        details={
            "kind": kind,
            "analytes": len(analyte_rows),
            "out_of_range": sum(row.out_of_range for row in analyte_rows),
            "released": record.released_at is not None,
        },
    )
    return record


def _record_readers(patient: Patient) -> list:
    """The patient's own login and everyone holding view-records on them, active only."""
    readers = {
        user.pk: user
        for user in get_users_with_perms(
            patient,
            only_with_perms_in=["view_records_patient"],
            with_superusers=False,
            with_group_users=False,
        )
        if user.is_active
    }
    if patient.user_id and patient.user.is_active:
        readers[patient.user_id] = patient.user
    return list(readers.values())


@transaction.atomic
def record_review(
    *, record: MedicalRecord, by: Doctor, request: HttpRequest | None = None
) -> MedicalRecord:
    """The treating doctor marks a record reviewed, which releases it to the patient and their
    proxies if it was held; they are told a new result is there (no health details in the
    notification). Reviewing twice changes nothing."""
    record = (
        MedicalRecord.objects.select_for_update(of=("self",))
        .select_related("patient__user")
        .get(pk=record.pk)
    )
    _require_writer(by, record.patient)
    if record.reviewed_at is not None:
        return record
    now = timezone.now()
    newly_released = record.released_at is None
    record.reviewed_at = now
    record.reviewed_by = by
    record.released_at = record.released_at or now
    record.save(update_fields=["reviewed_at", "reviewed_by", "released_at", "updated_at"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by.user,
        request=request,
        target=record,
        patient=record.patient,
        details={"reviewed": True, "released": newly_released},
    )
    if newly_released:
        link = reverse("record_detail", args=[record.public_id])
        for reader in _record_readers(record.patient):
            notification_create(
                recipient=reader,
                title=_("A new result is available"),
                body=_("Open your records to read it."),
                link=link,
                kind=NotificationKind.RECORD,
            )
    return record


@transaction.atomic
def record_update(
    *,
    record: MedicalRecord,
    by: Doctor,
    title: str,
    text: str,
    request: HttpRequest | None = None,
) -> MedicalRecord:
    """The author corrects the title and text of their own record while they still treat the
    patient. Values, dates and kinds stay as written; later corrections are annotations."""
    record = (
        MedicalRecord.objects.select_for_update(of=("self",))
        .select_related("patient")
        .get(pk=record.pk)
    )
    if record.author_id != by.pk:
        raise PermissionDenied
    _require_writer(by, record.patient)
    before = {"title": len(record.title), "text": len(record.text)}
    record.title = _clean_title(record.kind, title)
    record.text = _clean_text(record.kind, text)
    record.save(update_fields=["title", "text", "updated_at"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by.user,
        request=request,
        target=record,
        patient=record.patient,
        details={
            "before": before,
            "after": {"title": len(record.title), "text": len(record.text)},
        },
    )
    return record


@transaction.atomic
def record_annotate(
    *, record: MedicalRecord, by: Doctor, text: str, request: HttpRequest | None = None
) -> RecordAnnotation:
    """Add a timestamped note to a record. Annotations are never edited or removed."""
    _require_writer(by, record.patient)
    text = (text or "").strip()
    if not text:
        raise RecordError(_("Write the annotation first."), field="text")
    if len(text) > MAX_TEXT_CHARS:
        raise RecordError(
            _("Keep the annotation under %(max)d characters.") % {"max": MAX_TEXT_CHARS},
            field="text",
        )
    annotation = RecordAnnotation.objects.create(record=record, author=by, text=text)
    audit_record(
        action=AuditEvent.Action.CREATE,
        actor=by.user,
        request=request,
        target=annotation,
        patient=record.patient,
        details={"record": str(record.public_id), "length": len(text)},
    )
    return annotation


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def attachment_add(
    *,
    record: MedicalRecord,
    by: Doctor,
    upload: UploadedFile,
    request: HttpRequest | None = None,
) -> RecordAttachment:
    """Attach a PDF, PNG or JPEG of at most 10 MB to a record, judged by its bytes. The file is
    stored under a random name outside any public URL with its sha256; nothing is stored when
    it is refused."""
    _require_writer(by, record.patient)
    if upload is None or not upload.size:
        raise RecordError(_("The file is empty. Choose the file again."), field="file")
    if upload.size > MAX_ATTACHMENT_BYTES:
        raise RecordError(
            _("The file is %(size)s; attachments can be at most %(max)s.")
            % {"size": filesizeformat(upload.size), "max": filesizeformat(MAX_ATTACHMENT_BYTES)},
            field="file",
        )
    sniffed = document_type(upload)
    if sniffed is None:
        raise RecordError(
            _(
                "Only PDF, PNG and JPEG files can be attached, and this file is none of them "
                "(whatever its name says)."
            ),
            field="file",
        )
    content_type, extension = sniffed
    original_name = download_name(upload.name, extension, fallback="attachment")
    sha256 = _sha256(upload)
    # The stored name is random and carries the real type's extension, never the client's.
    upload.name = f"{uuid.uuid4().hex}{extension}"
    attachment = RecordAttachment(
        record=record,
        original_name=original_name,
        content_type=content_type,
        size=upload.size,
        sha256=sha256,
        uploaded_by=by.user,
    )
    try:
        with transaction.atomic():
            attachment.file = upload
            attachment.save()
            audit_record(
                action=AuditEvent.Action.CREATE,
                actor=by.user,
                request=request,
                target=attachment,
                patient=record.patient,
                details={
                    "record": str(record.public_id),
                    "content_type": content_type,
                    "size": upload.size,
                    "sha256": sha256,
                },
            )
    except Exception:
        # The row is gone with the transaction; the file written before it must go too.
        if attachment.file.name:
            attachment.file.storage.delete(attachment.file.name)
        raise
    return attachment
