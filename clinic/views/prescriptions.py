"""Prescriptions and what follows them: the doctor issues one from a visit, the patient (or a
parent, a proxy) reads and prints it, asks for a refill and for home delivery to a saved
address, and follows the delivery; the prescribing doctor answers refills; admins move
deliveries along."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.forms_prescriptions import (
    AddressForm,
    DeliveryAdvanceForm,
    DeliveryRequestForm,
    PrescriptionForm,
    PrescriptionItemFormSet,
    RefillDecisionForm,
    RefillRequestForm,
)
from clinic.models import Address, Delivery, Patient, Prescription, RefillRequest
from clinic.permissions import (
    Capability,
    get_address_for_user,
    get_appointment_for_user,
    get_delivery_for_user,
    get_doctor_for_user,
    get_patient_for_user,
    get_prescription_for_user,
    get_refill_request_for_user,
    patients_user_may_read_records_of,
)
from clinic.services.prescriptions import (
    DELIVERY_TRANSITIONS,
    OPEN_DELIVERY_STATUSES,
    PrescriptionError,
    address_add,
    address_archive,
    address_set_default,
    address_update,
    delivery_advance,
    delivery_cancel,
    delivery_request,
    prescription_issue,
    refill_decide,
    refill_request,
)
from core.htmx import render_page
from core.models import AuditEvent, Role
from core.permissions import role_required
from core.services import audit_record


def _add_error(form, error: PrescriptionError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


# --- Issuing (doctor) ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@role_required(Role.DOCTOR)
def prescription_issue_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """GET: the prescription form for one of the doctor's own visits (another doctor's is 404).
    POST: issue it, which completes the visit; blank item rows are ignored."""
    appointment = get_appointment_for_user(request, public_id)
    existing = Prescription.objects.filter(appointment=appointment).first()
    if existing is not None and request.method == "GET":
        messages.info(request, _("A prescription was already issued for this visit."))
        return redirect("prescription_detail", public_id=existing.public_id)
    status = 200
    if request.method == "POST":
        form = PrescriptionForm(request.POST)
        items = PrescriptionItemFormSet(request.POST, prefix="items")
        status = 400
        if form.is_valid() and items.is_valid():
            rows = [
                row for row in items.cleaned_data if any(v not in (None, "") for v in row.values())
            ]
            try:
                prescription = prescription_issue(
                    appointment=appointment,
                    by=request.user,
                    items=rows,
                    request=request,
                    **form.cleaned_data,
                )
            except PrescriptionError as error:
                _add_error(form, error)
            else:
                messages.success(request, _("Prescription issued; the visit is completed."))
                response = redirect("prescription_detail", public_id=prescription.public_id)
                response["HX-Trigger"] = "appointmentChanged"
                return response
    else:
        form = PrescriptionForm()
        items = PrescriptionItemFormSet(prefix="items")
    return render_page(
        request,
        "clinic/prescription_form.html",
        {"appointment": appointment, "form": form, "items": items},
        status=status,
    )


# --- Reading (patient, delegates, doctors) ------------------------------------------------------


def _prescriptions_with_items():
    return Prescription.objects.select_related(
        "doctor__user", "doctor__specialty"
    ).prefetch_related("items")


@require_GET
@login_required
def my_prescriptions(request: HttpRequest) -> HttpResponse:
    """The signed-in patient's own prescription list."""
    patient = Patient.objects.filter(user=request.user).first()
    if patient is None:
        raise Http404
    return redirect("patient_prescriptions", public_id=patient.public_id)


@require_GET
@login_required
def patient_prescriptions(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Every prescription of one patient, newest first (404 for who may not know the patient,
    403 for who may not read their records)."""
    patient, access = get_patient_for_user(request, public_id, Capability.VIEW_RECORDS)
    prescriptions = _prescriptions_with_items().filter(patient=patient)
    audit_record(
        action=AuditEvent.Action.VIEW,
        actor=request.user,
        request=request,
        target=patient,
        patient=patient,
        acting_for_patient=access.acting_for_patient,
        details={"page": "prescriptions"},
    )
    others = patients_user_may_read_records_of(request.user).order_by("first_name")
    return render_page(
        request,
        "clinic/prescription_list.html",
        {"patient": patient, "prescriptions": prescriptions, "others": others},
    )


def _detail_context(request: HttpRequest, prescription: Prescription, access) -> dict:
    may_act = access.may(Capability.VIEW_RECORDS) and access.may(Capability.BOOK)
    deliveries = list(prescription.deliveries.select_related("requested_by"))
    open_delivery = next((d for d in deliveries if d.status in OPEN_DELIVERY_STATUSES), None)
    refills = list(prescription.refill_requests.select_related("new_prescription", "requested_by"))
    open_refill = next((r for r in refills if r.status == RefillRequest.Status.REQUESTED), None)
    return {
        "prescription": prescription,
        "items": list(prescription.items.all()),
        "refills": refills,
        "open_refill": open_refill,
        "deliveries": deliveries,
        "open_delivery": open_delivery,
        "may_act": may_act,
        "is_prescriber": prescription.doctor.user_id == request.user.pk,
        "has_addresses": Address.objects.filter(
            owner=request.user, archived_at__isnull=True
        ).exists(),
    }


DETAIL_PARTIALS = {"prescription-refill": "refill", "prescription-delivery": "delivery"}


def _detail_page(
    request: HttpRequest,
    prescription: Prescription,
    access,
    *,
    refill_form=None,
    delivery_form=None,
    status: int = 200,
) -> HttpResponse:
    context = _detail_context(request, prescription, access)
    context["refill_form"] = refill_form or RefillRequestForm()
    context["delivery_form"] = delivery_form or DeliveryRequestForm(user=request.user)
    return render_page(
        request,
        "clinic/prescription_detail.html",
        context,
        partials=DETAIL_PARTIALS,
        status=status,
    )


@require_GET
@login_required
def prescription_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    prescription, access = get_prescription_for_user(request, public_id)
    audit_record(
        action=AuditEvent.Action.VIEW,
        actor=request.user,
        request=request,
        target=prescription,
        patient=prescription.patient,
        acting_for_patient=access.acting_for_patient,
    )
    return _detail_page(request, prescription, access)


@require_GET
@login_required
def prescription_print(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The prescription on one printable sheet (a print stylesheet hides the site around it)."""
    prescription, access = get_prescription_for_user(request, public_id)
    audit_record(
        action=AuditEvent.Action.PRINT,
        actor=request.user,
        request=request,
        target=prescription,
        patient=prescription.patient,
        acting_for_patient=access.acting_for_patient,
    )
    return render_page(
        request,
        "clinic/prescription_print.html",
        {"prescription": prescription, "items": list(prescription.items.all())},
    )


def _after_mutation(request, prescription, access, target: str, trigger: str, done: str):
    """Plain POST: redirect to the prescription. HTMX aimed at a region: that region again."""
    messages.success(request, done)
    if request.htmx and request.htmx.target in DETAIL_PARTIALS:
        response = _detail_page(request, prescription, access)
    else:
        response = redirect("prescription_detail", public_id=prescription.public_id)
    response["HX-Trigger"] = trigger
    return response


def _prescription_to_act_for(request: HttpRequest, public_id: UUID):
    """The prescription, if the user may ask for something on the patient's behalf (reading
    it and the booking scope, as the services require). Checked before the form: a reader who
    may not act gets 403, not a form error about an address they could never choose."""
    prescription, access = get_prescription_for_user(request, public_id)
    if not access.may(Capability.BOOK):
        raise PermissionDenied
    return prescription, access


@require_POST
@login_required
def refill_request_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Ask the prescribing doctor for a refill (the patient, or who reads and books for
    them; anyone else who may read it gets 403)."""
    prescription, access = _prescription_to_act_for(request, public_id)
    form = RefillRequestForm(request.POST)
    if form.is_valid():
        try:
            refill_request(
                prescription=prescription,
                by=request.user,
                note=form.cleaned_data["note"],
                request=request,
            )
        except PrescriptionError as error:
            _add_error(form, error)
        else:
            return _after_mutation(
                request,
                prescription,
                access,
                "prescription-refill",
                "refillRequested",
                _("Refill requested. The doctor has been told."),
            )
    return _detail_page(request, prescription, access, refill_form=form, status=400)


@require_POST
@login_required
def delivery_request_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Ask for home delivery to one of the user's own saved addresses."""
    prescription, access = _prescription_to_act_for(request, public_id)
    form = DeliveryRequestForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            delivery = delivery_request(
                prescription=prescription,
                address=form.cleaned_data["address"],
                by=request.user,
                request=request,
            )
        except PrescriptionError as error:
            _add_error(form, error)
        else:
            messages.success(request, _("Delivery requested. Follow it here."))
            response = redirect("delivery_detail", public_id=delivery.public_id)
            response["HX-Trigger"] = "deliveryRequested"
            return response
    return _detail_page(request, prescription, access, delivery_form=form, status=400)


# --- Delivery tracking --------------------------------------------------------------------------


def _delivery_steps(delivery: Delivery) -> list[dict]:
    S = Delivery.Status
    path = [S.REQUESTED, S.PREPARING, S.DISPATCHED]
    if delivery.status in (S.FAILED, S.CANCELLED):
        path = [s for s in path if getattr(delivery, f"{s}_at")] + [delivery.status]
    else:
        path.append(S.DELIVERED)
    return [
        {
            "status": step,
            "label": step.label,
            "at": getattr(delivery, f"{step}_at"),
            "current": step == delivery.status,
        }
        for step in path
    ]


def _delivery_page(request: HttpRequest, delivery: Delivery, *, status: int = 200):
    return render_page(
        request,
        "clinic/delivery_detail.html",
        {
            "delivery": delivery,
            "steps": _delivery_steps(delivery),
            "is_open": delivery.status in OPEN_DELIVERY_STATUSES,
            "may_cancel": delivery.requested_by_id == request.user.pk
            and delivery.status == Delivery.Status.REQUESTED,
        },
        partials={"delivery-status": "status"},
        status=status,
    )


@require_GET
@login_required
def delivery_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The delivery's steps with their times; the status region refreshes itself. Opening the
    page is audited; its own refreshes are not (they show what the opening already logged)."""
    delivery, access = get_delivery_for_user(request, public_id)
    if not (request.htmx and request.htmx.target == "delivery-status"):
        audit_record(
            action=AuditEvent.Action.VIEW,
            actor=request.user,
            request=request,
            target=delivery,
            patient=delivery.prescription.patient,
            acting_for_patient=bool(access and access.acting_for_patient),
        )
    return _delivery_page(request, delivery)


@require_POST
@login_required
def delivery_cancel_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The requester calls off a delivery not yet being prepared (anyone else: 403)."""
    delivery, _access = get_delivery_for_user(request, public_id)
    try:
        delivery = delivery_cancel(delivery=delivery, by=request.user, request=request)
    except PrescriptionError as error:
        messages.error(request, error.message)
        return _delivery_page(request, delivery, status=400)
    messages.success(request, _("Delivery cancelled."))
    response = redirect("delivery_detail", public_id=delivery.public_id)
    response["HX-Trigger"] = "deliveryChanged"
    return response


# --- Refills (prescribing doctor) ---------------------------------------------------------------


def _refills_page(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    doctor = get_doctor_for_user(request)
    refills = RefillRequest.objects.filter(prescription__doctor=doctor).select_related(
        "prescription__patient", "requested_by", "new_prescription"
    )
    waiting = list(
        refills.filter(status=RefillRequest.Status.REQUESTED)
        .order_by("requested_at")
        .prefetch_related("prescription__items")
    )
    decided = list(
        refills.exclude(status=RefillRequest.Status.REQUESTED).order_by("-decided_at")[:20]
    )
    return render_page(
        request,
        "clinic/prescription_refills.html",
        {"waiting": waiting, "decided": decided},
        partials={"doctor-refills": "refills"},
        status=status,
    )


@require_GET
@role_required(Role.DOCTOR)
def doctor_refills(request: HttpRequest) -> HttpResponse:
    """The refill requests waiting for this doctor's answer, and the latest answered."""
    return _refills_page(request)


@require_POST
@role_required(Role.DOCTOR)
def refill_decide_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Approve or decline (with a reason); only the prescribing doctor (another doctor: 404
    unless she treats the patient, then 403)."""
    refill, _access = get_refill_request_for_user(request, public_id, decide=True)
    form = RefillDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose to approve or decline."))
        return _refills_page(request, status=400)
    try:
        refill_decide(
            refill=refill,
            by=request.user,
            approve=form.cleaned_data["decision"] == "approve",
            reason=form.cleaned_data["reason"],
            request=request,
        )
    except PrescriptionError as error:
        messages.error(request, error.message)
        return _refills_page(request, status=400)
    messages.success(
        request,
        _("Refill approved.")
        if form.cleaned_data["decision"] == "approve"
        else _("Refill declined."),
    )
    if request.htmx and request.htmx.target == "doctor-refills":
        response = _refills_page(request)
    else:
        response = redirect("doctor_refills")
    response["HX-Trigger"] = "refillDecided"
    return response


# --- Saved addresses ----------------------------------------------------------------------------


def _addresses_page(request: HttpRequest, *, form=None, editing=None, status=200):
    addresses = Address.objects.filter(owner=request.user, archived_at__isnull=True)
    return render_page(
        request,
        "clinic/addresses.html",
        {
            "addresses": addresses,
            "form": form or AddressForm(instance=editing),
            "editing": editing,
        },
        partials={"addresses-panel": "panel"},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def addresses(request: HttpRequest) -> HttpResponse:
    """GET: the user's saved addresses and a form to add one. POST: add it."""
    if request.method == "GET":
        return _addresses_page(request)
    form = AddressForm(request.POST)
    if form.is_valid():
        try:
            address_add(
                owner=request.user,
                fields=form.cleaned_data,
                make_default=request.POST.get("make_default") == "on",
                request=request,
            )
        except PrescriptionError as error:
            _add_error(form, error)
        else:
            messages.success(request, _("Address saved."))
            return _address_done(request, "addressChanged")
    return _addresses_page(request, form=form, status=400)


def _address_done(request: HttpRequest, trigger: str) -> HttpResponse:
    if request.htmx and request.htmx.target == "addresses-panel":
        response = _addresses_page(request)
    else:
        response = redirect("addresses")
    response["HX-Trigger"] = trigger
    return response


@require_http_methods(["GET", "POST"])
@login_required
def address_edit(request: HttpRequest, public_id: UUID) -> HttpResponse:
    address = get_address_for_user(request, public_id)
    if address.archived_at is not None:
        raise Http404
    if request.method == "GET":
        return _addresses_page(request, editing=address)
    form = AddressForm(request.POST, instance=Address.objects.get(pk=address.pk))
    if form.is_valid():
        try:
            address_update(
                address=address, by=request.user, fields=form.cleaned_data, request=request
            )
        except PrescriptionError as error:
            _add_error(form, error)
        else:
            messages.success(request, _("Address updated."))
            return _address_done(request, "addressChanged")
    return _addresses_page(request, form=form, editing=address, status=400)


@require_POST
@login_required
def address_default(request: HttpRequest, public_id: UUID) -> HttpResponse:
    address = get_address_for_user(request, public_id)
    try:
        address_set_default(address=address, by=request.user, request=request)
    except PrescriptionError as error:
        messages.error(request, error.message)
        return _addresses_page(request, status=400)
    messages.success(request, _("Default address changed."))
    return _address_done(request, "addressChanged")


@require_POST
@login_required
def address_archive_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    address = get_address_for_user(request, public_id)
    address_archive(address=address, by=request.user, request=request)
    messages.success(request, _("Address removed."))
    return _address_done(request, "addressChanged")


# --- Operations: deliveries (admins) ------------------------------------------------------------


def _operations_page(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    deliveries = list(
        Delivery.objects.filter(status__in=OPEN_DELIVERY_STATUSES)
        .select_related("prescription__patient", "prescription__doctor__user", "requested_by")
        .order_by("requested_at")
    )
    for delivery in deliveries:
        delivery.next_steps = [
            (step, Delivery.Status(step).label) for step in DELIVERY_TRANSITIONS[delivery.status]
        ]
    return render_page(
        request,
        "clinic/delivery_operations.html",
        {"deliveries": deliveries, "now": timezone.now()},
        partials={"operations-deliveries": "deliveries"},
        status=status,
    )


@require_GET
@role_required(Role.ADMIN)
def operations_deliveries(request: HttpRequest) -> HttpResponse:
    """Open deliveries, oldest first, each with the steps it may take next."""
    return _operations_page(request)


@require_POST
@role_required(Role.ADMIN)
def operations_delivery_advance(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Move a delivery one step on; an invalid step answers 400 with the reason."""
    delivery, _access = get_delivery_for_user(request, public_id)
    form = DeliveryAdvanceForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid next step."))
        return _operations_page(request, status=400)
    try:
        delivery_advance(
            delivery=delivery,
            by=request.user,
            status=form.cleaned_data["status"],
            note=form.cleaned_data["note"],
            request=request,
        )
    except PrescriptionError as error:
        messages.error(request, error.message)
        return _operations_page(request, status=400)
    messages.success(request, _("Delivery updated."))
    if request.htmx and request.htmx.target == "operations-deliveries":
        response = _operations_page(request)
    else:
        response = redirect("operations_deliveries")
    response["HX-Trigger"] = "deliveryChanged"
    return response
