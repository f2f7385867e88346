"""Applying as a doctor from the site, the applicant's status page, and the two file views of
an application: credential documents (applicant and admins only) and the profile photo."""

from pathlib import Path
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from clinic.forms_doctors import DoctorApplicationForm
from clinic.models import Doctor
from clinic.permissions import get_credential_document_for_user, get_doctor_photo_for_user
from clinic.services.doctors import (
    ROLES_THAT_MAY_APPLY,
    DoctorApplicationError,
    doctor_apply,
    doctor_resubmit,
)
from core.htmx import render_page
from core.models import AuditEvent
from core.services import audit_record

PHOTO_CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def _own_application(user) -> Doctor | None:
    return (
        Doctor.objects.select_related("specialty")
        .prefetch_related("documents", "languages")
        .filter(user=user)
        .first()
    )


@require_http_methods(["GET", "POST"])
@login_required
def doctor_apply_view(request: HttpRequest) -> HttpResponse:
    """GET: the application form. POST: apply (or, after a rejection, apply again).
    Someone who has applied and is not rejected is sent to their status page."""
    if request.user.role not in ROLES_THAT_MAY_APPLY:
        raise PermissionDenied
    doctor = _own_application(request.user)
    if doctor is not None and doctor.status != Doctor.Status.REJECTED:
        return redirect("doctor_application")
    documents_required = doctor is None or not doctor.documents.all()
    status = 200
    if request.method == "POST":
        form = DoctorApplicationForm(
            request.POST,
            request.FILES,
            instance=doctor,
            documents_required=documents_required,
        )
        status = 400
        if form.is_valid():
            try:
                if doctor is None:
                    doctor_apply(user=request.user, request=request, **form.service_arguments())
                else:
                    doctor_resubmit(
                        doctor=doctor, by=request.user, request=request, **form.service_arguments()
                    )
            except DoctorApplicationError as error:
                form.add_error(error.field, error.message)
            else:
                messages.success(
                    request,
                    _("Thank you. Your application is waiting for verification by the hospital."),
                )
                return redirect("doctor_application")
    else:
        form = DoctorApplicationForm(instance=doctor, documents_required=documents_required)
    return render_page(
        request, "clinic/doctor_apply.html", {"form": form, "doctor": doctor}, status=status
    )


@require_GET
@login_required
def doctor_application(request: HttpRequest) -> HttpResponse:
    """The applicant's own application: pending, rejected with the reason, or verified."""
    doctor = _own_application(request.user)
    if doctor is None:
        return redirect("doctor_apply")
    return render_page(request, "clinic/doctor_application.html", {"doctor": doctor})


def _private_file_headers(response: HttpResponse) -> HttpResponse:
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@login_required
def credential_document_download(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """A credential document as a download, for its applicant and for admins (404 for anyone
    else). Each opening is audited."""
    document = get_credential_document_for_user(request, public_id)
    try:
        handle = document.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    audit_record(
        action=AuditEvent.Action.VIEW, actor=request.user, request=request, target=document
    )
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=document.original_name,
        content_type=document.content_type,
    )
    return _private_file_headers(response)


@require_GET
@login_required
def doctor_photo(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """A doctor's photo for signed-in users: listed doctors to all, an applicant's own photo to
    them and to admins."""
    doctor = get_doctor_photo_for_user(request, public_id)
    content_type = PHOTO_CONTENT_TYPES.get(Path(doctor.photo.name).suffix.lower())
    if content_type is None:
        raise Http404
    try:
        handle = doctor.photo.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    # The URL stays the same when the photo changes, so browsers keep it only briefly.
    response["Cache-Control"] = "private, max-age=300"
    return response
