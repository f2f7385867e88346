"""The waitlist (patients): join a doctor's waitlist, see one's entries and open offers, accept
or decline an offered slot, leave."""

from datetime import timedelta
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.forms import WaitlistJoinForm
from clinic.models import Doctor, WaitlistOffer
from clinic.permissions import get_offer_for_user, get_waitlist_entry_for_user
from clinic.scheduling import booking_window, hospital_zone
from clinic.selectors import doctors_listed, waitlist_for_patient_pages
from clinic.services.appointments import SchedulingError
from clinic.services.waitlist import (
    offer_closed_message,
    waitlist_join,
    waitlist_leave,
    waitlist_offer_accept,
    waitlist_offer_decline,
)
from core.htmx import render_page
from core.models import AuditEvent, Role
from core.permissions import role_required
from core.services import audit_record

# The range the join form suggests: the next two weeks, or up to the horizon if nearer.
SUGGESTED_DAYS = 14


def _listed_doctor(public_id: UUID) -> Doctor:
    try:
        return doctors_listed().get(public_id=public_id)
    except Doctor.DoesNotExist:
        raise Http404 from None


@require_http_methods(["GET", "POST"])
@role_required(Role.PATIENT)
def waitlist_join_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """GET: the form. POST: join; the service checks the dates against today and the doctor's
    horizon and refuses a second waiting entry for the same patient."""
    doctor = _listed_doctor(public_id)
    now = timezone.now()
    zone = hospital_zone()
    today = now.astimezone(zone).date()
    last_day = booking_window(doctor, now)[1].astimezone(zone).date()
    status = 200
    if request.method == "POST":
        form = WaitlistJoinForm(request.POST, user=request.user)
        status = 400
        if form.is_valid():
            try:
                waitlist_join(
                    by=request.user,
                    patient=form.cleaned_data["patient"],
                    doctor=doctor,
                    date_from=form.cleaned_data["date_from"],
                    date_to=form.cleaned_data["date_to"],
                    reason=form.cleaned_data["reason"],
                    request=request,
                    now=now,
                )
            except SchedulingError as error:
                form.add_error(getattr(error, "field", None), error.message)
            else:
                messages.success(
                    request,
                    _("You are on the waitlist. We will tell you when a time becomes free."),
                )
                return redirect("waitlist_list")
    else:
        form = WaitlistJoinForm(
            user=request.user,
            initial={
                "date_from": today,
                "date_to": min(today + timedelta(days=SUGGESTED_DAYS), last_day),
            },
        )
    return render_page(
        request,
        "clinic/waitlist_join.html",
        {"doctor": doctor, "form": form, "today": today, "last_day": last_day},
        status=status,
    )


@require_GET
@role_required(Role.PATIENT)
def waitlist_list(request: HttpRequest) -> HttpResponse:
    """The open offers and the waitlist entries of the user and everyone they book for."""
    offers, entries = waitlist_for_patient_pages(request.user, now=timezone.now())
    return render_page(
        request,
        "clinic/waitlist_list.html",
        {"offers": offers, "entries": entries},
        partials={"waitlist-offers": "offers"},
    )


def _render_offer(request: HttpRequest, offer: WaitlistOffer, *, error: str = "", status=200):
    now = timezone.now()
    is_open = offer.status == WaitlistOffer.Status.OPEN and offer.expires_at > now
    return render_page(
        request,
        "clinic/waitlist_offer.html",
        {
            "offer": offer,
            "is_open": is_open,
            "closed_message": "" if is_open else offer_closed_message(offer, now),
            "error": error,
        },
        status=status,
    )


@require_GET
@role_required(Role.PATIENT)
def waitlist_offer_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    offer = get_offer_for_user(request, public_id)
    audit_record(action=AuditEvent.Action.VIEW, actor=request.user, request=request, target=offer)
    return _render_offer(request, offer)


@require_POST
@role_required(Role.PATIENT)
def waitlist_offer_accept_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Book the offered slot; an offer that has expired or been answered, or a slot the
    patient can no longer take, answers 409 with the reason on the offer page."""
    offer = get_offer_for_user(request, public_id)
    try:
        appointment = waitlist_offer_accept(offer=offer, by=request.user, request=request)
    except SchedulingError as error:
        offer.refresh_from_db()
        return _render_offer(request, offer, error=error.message, status=409)
    messages.success(request, _("Your appointment is booked."))
    response = redirect("appointment_detail", public_id=appointment.public_id)
    response["HX-Trigger"] = "appointmentBooked"
    return response


@require_POST
@role_required(Role.PATIENT)
def waitlist_offer_decline_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    offer = get_offer_for_user(request, public_id)
    try:
        waitlist_offer_decline(offer=offer, by=request.user, request=request)
    except SchedulingError as error:
        offer.refresh_from_db()
        return _render_offer(request, offer, error=error.message, status=409)
    messages.success(
        request, _("You declined this time. You keep your place on the waitlist for others.")
    )
    return redirect("waitlist_list")


@require_POST
@role_required(Role.PATIENT)
def waitlist_leave_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    entry = get_waitlist_entry_for_user(request, public_id)
    try:
        waitlist_leave(entry=entry, by=request.user, request=request)
    except SchedulingError as error:
        messages.warning(request, error.message)
    else:
        messages.success(request, _("You have left the waitlist."))
    return redirect("waitlist_list")
