"""Medical records: a patient's timeline, one record, writing and correcting records, annotations,
attachments and the printable summary. Every read is audited with the patient it concerns."""

from urllib.parse import quote
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.forms_records import (
    AnalyteFormSet,
    AnnotationForm,
    AttachmentForm,
    RecordEditForm,
    RecordFilterForm,
    RecordForm,
    VitalsForm,
    analyte_inputs,
)
from clinic.models import Appointment, MedicalRecord, RecordKind
from clinic.permissions import (
    Capability,
    PatientAccess,
    get_attachment_for_user,
    get_doctor_for_user,
    get_patient_for_user,
    get_record_for_user,
    patients_user_may_read_records_of,
    sees_unreleased_records,
)
from clinic.selectors import patient_timeline
from clinic.services.records import (
    RecordError,
    attachment_add,
    record_annotate,
    record_create,
    record_review,
    record_update,
)
from core.htmx import render_page
from core.models import AuditEvent, Role
from core.permissions import role_required
from core.services import audit_record

PAGE_SIZE = 20


def _audit_read(request: HttpRequest, access: PatientAccess, action: str, target, **details):
    audit_record(
        action=action,
        actor=request.user,
        request=request,
        target=target,
        patient=access.patient,
        acting_for_patient=access.acting_for_patient,
        reason=access.break_glass.reason if access.break_glass is not None else "",
        details=details,
    )


@require_GET
@role_required(Role.PATIENT)
def my_records(request: HttpRequest) -> HttpResponse:
    """A patient's way in: straight to their own records, or a choice when they also read
    records for family members."""
    readable = list(
        patients_user_may_read_records_of(request.user)
        .select_related("user")
        .order_by("first_name", "last_name", "pk")
    )
    if len(readable) == 1:
        return redirect("patient_records", public_id=readable[0].public_id)
    return render_page(request, "clinic/records_choose.html", {"patients": readable})


@require_GET
@login_required
def patient_records(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The patient's timeline, newest first, filtered by type (the filter lives in the URL)."""
    patient, access = get_patient_for_user(request, public_id, Capability.VIEW_RECORDS)
    form = RecordFilterForm(request.GET)
    kinds = form.kinds()
    page = Paginator(patient_timeline(patient, access=access, kinds=kinds), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    _audit_read(
        request,
        access,
        AuditEvent.Action.VIEW,
        patient,
        list="records",
        kinds=kinds,
        page=page.number,
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "clinic/records.html",
        {
            "patient": patient,
            "access": access,
            "may_write": access.may(Capability.WRITE_RECORDS),
            "form": form,
            "page": page,
            "query": query.urlencode(),
        },
        partials={"record-timeline": "timeline"},
    )


def _detail_context(request, record: MedicalRecord, access: PatientAccess, **forms) -> dict:
    may_write = access.may(Capability.WRITE_RECORDS)
    doctor = getattr(request.user, "doctor", None)
    return {
        "record": record,
        "patient": record.patient,
        "access": access,
        "vitals": getattr(record, "vitals", None),
        "analytes": list(record.analytes.all()),
        "annotations": list(record.annotations.select_related("author__user")),
        "attachments": list(record.attachments.all()),
        "may_write": may_write,
        "may_edit": may_write and doctor is not None and record.author_id == doctor.pk,
        "may_review": may_write and record.reviewed_at is None,
        "annotation_form": forms.get("annotation_form") or AnnotationForm(),
        "attachment_form": forms.get("attachment_form") or AttachmentForm(),
    }


@require_GET
@login_required
def record_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """One record with its values, annotations and attachments; for treating doctors also the
    review, annotate, attach and (for the author) edit actions."""
    record, access = get_record_for_user(request, public_id, Capability.VIEW_RECORDS)
    _audit_read(request, access, AuditEvent.Action.VIEW, record)
    return render_page(
        request, "clinic/records_detail.html", _detail_context(request, record, access)
    )


@require_http_methods(["GET", "POST"])
@login_required
def record_new(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """A treating doctor writes a record: first the type, then the fields of that type."""
    patient, _access = get_patient_for_user(request, public_id, Capability.WRITE_RECORDS)
    doctor = get_doctor_for_user(request)
    appointments = Appointment.objects.filter(doctor=doctor, patient=patient).order_by("-start_at")
    data = request.POST if request.method == "POST" else None
    kind = (data or request.GET).get("kind", "")
    if kind not in RecordKind.values:
        return render_page(
            request,
            "clinic/records_new.html",
            {"patient": patient, "kinds": RecordKind.choices, "kind": None},
        )
    form = RecordForm(data, initial={"kind": kind}, appointments=appointments)
    vitals_form = VitalsForm(data) if kind == RecordKind.VITALS else None
    analyte_formset = (
        AnalyteFormSet(data, prefix="analytes") if kind == RecordKind.LAB_RESULT else None
    )
    status = 200
    if data is not None:
        status = 400
        subforms_valid = (vitals_form is None or vitals_form.is_valid()) and (
            analyte_formset is None or analyte_formset.is_valid()
        )
        if form.is_valid() and subforms_valid:
            try:
                record = record_create(
                    patient=patient,
                    author=doctor,
                    kind=form.cleaned_data["kind"],
                    title=form.cleaned_data["title"],
                    text=form.cleaned_data["text"],
                    code=form.cleaned_data["code"],
                    occurred_on=form.cleaned_data["occurred_on"],
                    appointment=form.cleaned_data["appointment"],
                    analytes=analyte_inputs(analyte_formset) if analyte_formset else (),
                    vitals=vitals_form.values() if vitals_form else None,
                    request=request,
                )
            except RecordError as error:
                if vitals_form is not None and error.field in vitals_form.fields:
                    vitals_form.add_error(error.field, error.message)
                elif error.field in form.fields:
                    form.add_error(error.field, error.message)
                else:
                    form.add_error(None, error.message)
            else:
                if record.released_at is None:
                    messages.success(
                        request,
                        _("Saved. The patient sees it once you mark it reviewed."),
                    )
                else:
                    messages.success(request, _("Saved. The patient can read it now."))
                return redirect("record_detail", public_id=record.public_id)
    return render_page(
        request,
        "clinic/records_new.html",
        {
            "patient": patient,
            "kinds": RecordKind.choices,
            "kind": kind,
            "kind_label": RecordKind(kind).label,
            "form": form,
            "vitals_form": vitals_form,
            "analyte_formset": analyte_formset,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def record_edit(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The author corrects the title and text of their record (403 for anyone else who may read
    it, patients included)."""
    record, access = get_record_for_user(request, public_id, Capability.WRITE_RECORDS)
    doctor = get_doctor_for_user(request)
    if record.author_id != doctor.pk:
        raise PermissionDenied
    status = 200
    if request.method == "POST":
        form = RecordEditForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                record_update(
                    record=record,
                    by=doctor,
                    title=form.cleaned_data["title"],
                    text=form.cleaned_data["text"],
                    request=request,
                )
            except RecordError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, _("The record is updated."))
                return redirect("record_detail", public_id=record.public_id)
    else:
        form = RecordEditForm(initial={"title": record.title, "text": record.text})
        _audit_read(request, access, AuditEvent.Action.VIEW, record, form="edit")
    return render_page(
        request, "clinic/records_edit.html", {"record": record, "form": form}, status=status
    )


@require_POST
@login_required
def record_review_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The treating doctor marks the record reviewed (releasing a held result)."""
    record, _access = get_record_for_user(request, public_id, Capability.WRITE_RECORDS)
    record_review(record=record, by=get_doctor_for_user(request), request=request)
    messages.success(request, _("Marked reviewed. The patient can read it now."))
    return redirect("record_detail", public_id=record.public_id)


@require_POST
@login_required
def record_annotate_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Add an annotation; an HTMX request gets the annotations region back."""
    record, access = get_record_for_user(request, public_id, Capability.WRITE_RECORDS)
    doctor = get_doctor_for_user(request)
    form = AnnotationForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            record_annotate(
                record=record, by=doctor, text=form.cleaned_data["text"], request=request
            )
        except RecordError as error:
            form.add_error("text", error.message)
        else:
            if not request.htmx:
                messages.success(request, _("Annotation added."))
                return redirect(reverse("record_detail", args=[record.public_id]) + "#annotations")
            form, status = None, 200
    response = render_page(
        request,
        "clinic/records_detail.html",
        _detail_context(request, record, access, annotation_form=form),
        partials={"annotations": "annotations"},
        status=status,
    )
    if status == 200:
        response["HX-Trigger"] = "recordAnnotated"
    return response


@require_POST
@login_required
def attachment_upload(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Attach a file to the record; refused files get their reason next to the field."""
    record, access = get_record_for_user(request, public_id, Capability.WRITE_RECORDS)
    doctor = get_doctor_for_user(request)
    form = AttachmentForm(request.POST, request.FILES)
    status = 400
    if form.is_valid():
        try:
            attachment_add(
                record=record, by=doctor, upload=form.cleaned_data["file"], request=request
            )
        except RecordError as error:
            form.add_error("file", error.message)
        else:
            if not request.htmx:
                messages.success(request, _("File attached."))
                return redirect(reverse("record_detail", args=[record.public_id]) + "#attachments")
            form, status = None, 200
    return render_page(
        request,
        "clinic/records_detail.html",
        _detail_context(request, record, access, attachment_form=form),
        partials={"attachments": "attachments"},
        status=status,
    )


def _ascii_fallback(name: str) -> str:
    fallback = name.encode("ascii", "ignore").decode().replace('"', "").replace("\\", "")
    return fallback.strip() or "attachment"


@require_GET
@login_required
def attachment_download(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """An attachment as a download, for whoever may read its record; each download is audited."""
    attachment, access = get_attachment_for_user(request, public_id, Capability.VIEW_RECORDS)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    _audit_read(
        request,
        access,
        AuditEvent.Action.DOWNLOAD,
        attachment,
        record=str(attachment.record.public_id),
    )
    # FileResponse writes `filename="<ascii>"` plus an RFC 5987 `filename*=` for the rest.
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    if not attachment.original_name.isascii():
        response["Content-Disposition"] = (
            f'attachment; filename="{_ascii_fallback(attachment.original_name)}"; '
            f"filename*=utf-8''{quote(attachment.original_name)}"
        )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@login_required
def records_summary(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """A printable summary of everything the user may read of the patient's record."""
    patient, access = get_patient_for_user(request, public_id, Capability.VIEW_RECORDS)
    records = list(patient_timeline(patient, access=access))
    sections = [
        (label, [record for record in records if record.kind == kind])
        for kind, label in RecordKind.choices
    ]
    _audit_read(request, access, AuditEvent.Action.PRINT, patient, records=len(records))
    return render_page(
        request,
        "clinic/records_summary.html",
        {
            "patient": patient,
            "sections": [(label, rows) for label, rows in sections if rows],
            "printed_at": timezone.now(),
            "includes_unreleased": sees_unreleased_records(access),
        },
    )
