"""Finding a doctor and booking one of their free slots (patients)."""

from datetime import timedelta
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from clinic.forms import BookingForm, DirectoryFilterForm
from clinic.models import Doctor
from clinic.scheduling import hospital_zone
from clinic.selectors import (
    DIRECTORY_DAYS,
    doctor_free_days,
    doctor_reviews_latest,
    doctors_listed,
    doctors_with_next_free_slot,
)
from clinic.services.appointments import appointment_book
from clinic.views.slot_picker import local_day_value, slot_attempt, slot_picker
from core.htmx import render_page
from core.models import Role
from core.permissions import role_required

PAGE_SIZE = 10
PROFILE_DAYS = 7
PROFILE_REVIEWS = 5
# free_before further ahead than this is treated as this (the work grows with the range).
FREE_BEFORE_MAX_DAYS = 90


def _get_listed_doctor(public_id: UUID) -> Doctor:
    """A doctor the directory shows (verified, active login), else 404."""
    try:
        return doctors_listed().get(public_id=public_id)
    except Doctor.DoesNotExist:
        raise Http404 from None


@require_GET
@role_required(Role.PATIENT)
def doctor_directory(request: HttpRequest) -> HttpResponse:
    """Verified doctors, filtered by the query string, each with their next free slot."""
    form = DirectoryFilterForm(request.GET)
    form.is_valid()  # invalid filters are shown as errors and left out
    filters = form.cleaned_data
    doctors = doctors_listed(
        q=filters.get("q") or "",
        specialty=filters.get("specialty"),
        location=filters.get("location") or "",
        language=filters.get("language"),
    )
    now = timezone.now()
    today = timezone.localdate(now, hospital_zone())
    free_before = filters.get("free_before")
    if free_before:
        # The filter depends on the slots, so it runs over every match before paginating.
        day_to = max(
            today + timedelta(days=DIRECTORY_DAYS),
            min(free_before, today + timedelta(days=FREE_BEFORE_MAX_DAYS)),
        )
        matches = doctors_with_next_free_slot(list(doctors), now, day_to=day_to)
        matches = [
            doctor
            for doctor in matches
            if doctor.next_free_slot and doctor.next_free_slot.local_start.date() <= free_before
        ]
        page = Paginator(matches, PAGE_SIZE).get_page(request.GET.get("page"))
    else:
        page = Paginator(doctors, PAGE_SIZE).get_page(request.GET.get("page"))
        page.object_list = doctors_with_next_free_slot(list(page.object_list), now)
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "clinic/doctor_directory.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "directory_days": DIRECTORY_DAYS,
        },
        partials={"results": "results"},
    )


@require_GET
@role_required(Role.PATIENT)
def doctor_profile(request: HttpRequest, public_id: UUID) -> HttpResponse:
    doctor = _get_listed_doctor(public_id)
    free_days = doctor_free_days(doctor, timezone.now(), limit=PROFILE_DAYS)
    return render_page(
        request,
        "clinic/doctor_profile.html",
        {
            "doctor": doctor,
            "free_days": [(day, len(slots)) for day, slots in free_days.items()],
            "reviews": doctor_reviews_latest(doctor, limit=PROFILE_REVIEWS),
        },
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.PATIENT)
def doctor_book(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """GET: the days with free slots and the slots of the chosen day. POST: book one; the
    service decides whether the slot is still free (409 when someone else just took it)."""
    doctor = _get_listed_doctor(public_id)
    status = 200
    day_value = request.GET.get("day")
    if request.method == "POST":
        form = BookingForm(request.POST, user=request.user)
        day_value = request.POST.get("day")
        status = 400
        if form.is_valid():
            day_value = local_day_value(form.cleaned_data["start_at"])
            appointment, status = slot_attempt(
                form,
                lambda: appointment_book(
                    booked_by=request.user,
                    patient=form.cleaned_data["patient"],
                    doctor=doctor,
                    start_at=form.cleaned_data["start_at"],
                    reason=form.cleaned_data["reason"],
                    request=request,
                ),
            )
            if appointment is not None:
                messages.success(request, _("Your appointment is booked."))
                response = redirect("appointment_detail", public_id=appointment.public_id)
                response["HX-Trigger"] = "appointmentBooked"
                return response
    else:
        form = BookingForm(user=request.user)
    # After a refused POST too: the slots may have changed since the page was shown.
    picker = slot_picker(form, doctor, day_value=day_value)
    return render_page(
        request,
        "clinic/book.html",
        {"doctor": doctor, "form": form, **picker},
        partials={"slots": "slots"},
        status=status,
    )
