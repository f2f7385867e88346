"""The doctor's availability editor: weekly hours, exceptions, booking policy, and the booked
visits that the current rules leave outside working hours.

One page, four regions. An HTMX form re-renders its own region and fires `availabilityChanged`,
on which the "outside hours" region fetches itself again; without JavaScript every form is a
plain POST answered with a redirect back to its section.
"""

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from clinic.models import (
    WEEKDAYS,
    AvailabilityException,
    ConsultationMode,
    Doctor,
)
from clinic.permissions import get_doctor_for_user
from clinic.scheduling import hospital_zone
from clinic.selectors import appointments_outside_hours
from clinic.services.availability import (
    POLICY_BOUNDS,
    POLICY_FIELDS,
    exception_add,
    exception_remove,
    policy_update,
    weekly_interval_add,
    weekly_interval_remove,
)
from core.htmx import render_page
from core.models import Role
from core.permissions import role_required

TEMPLATE = "clinic/availability.html"
# Region id on the page -> the partial that renders it.
PARTIALS = {
    "weekly-hours": "weekly_hours",
    "availability-exceptions": "exceptions",
    "booking-policy": "booking_policy",
    "outside-hours": "outside_hours",
}
CHANGED_EVENT = "availabilityChanged"


class _TimeInput(forms.TimeInput):
    input_type = "time"


class WeeklyIntervalForm(forms.Form):
    weekday = forms.TypedChoiceField(
        label=gettext_lazy("Day"),
        choices=[(index, gettext_lazy(name)) for index, name in enumerate(WEEKDAYS)],
        coerce=int,
    )
    start_time = forms.TimeField(label=gettext_lazy("From"), widget=_TimeInput)
    end_time = forms.TimeField(label=gettext_lazy("To"), widget=_TimeInput)
    mode = forms.ChoiceField(label=gettext_lazy("How"), choices=ConsultationMode.choices)
    location = forms.CharField(
        label=gettext_lazy("Room or location"), max_length=200, required=False
    )


class ExceptionForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        choices=AvailabilityException.Kind.choices,
        widget=forms.RadioSelect,
        initial=AvailabilityException.Kind.TIME_OFF,
    )
    date = forms.DateField(
        label=gettext_lazy("Date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    start_time = forms.TimeField(
        label=gettext_lazy("From"),
        widget=_TimeInput,
        required=False,
        help_text=gettext_lazy("Leave both times empty for a whole day off."),
    )
    end_time = forms.TimeField(label=gettext_lazy("To"), widget=_TimeInput, required=False)
    mode = forms.ChoiceField(
        label=gettext_lazy("How (extra sessions)"), choices=ConsultationMode.choices
    )
    location = forms.CharField(
        label=gettext_lazy("Room or location (extra sessions)"), max_length=200, required=False
    )
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)


def _minutes_field(name: str, label, help_text="", *, required: bool = True):
    low, high = POLICY_BOUNDS[name]
    return forms.IntegerField(
        label=label, min_value=low, max_value=high, required=required, help_text=help_text
    )


class PolicyForm(forms.Form):
    slot_minutes = _minutes_field("slot_minutes", gettext_lazy("Slot length (minutes)"))
    buffer_minutes = _minutes_field(
        "buffer_minutes", gettext_lazy("Buffer between appointments (minutes)")
    )
    min_notice_minutes = _minutes_field(
        "min_notice_minutes",
        gettext_lazy("Minimum notice (minutes)"),
        gettext_lazy("How long before a slot patients may still book it. 120 is two hours."),
    )
    horizon_days = _minutes_field(
        "horizon_days",
        gettext_lazy("Booking horizon (days)"),
        gettext_lazy("How far ahead patients may book."),
    )
    cancel_cutoff_minutes = _minutes_field(
        "cancel_cutoff_minutes",
        gettext_lazy("Cancel and reschedule cutoff (minutes)"),
        gettext_lazy("Patients may cancel or move a visit online until this long before it."),
    )
    max_appointments_per_day = _minutes_field(
        "max_appointments_per_day",
        gettext_lazy("Maximum appointments per day"),
        gettext_lazy("Leave empty for no limit."),
        required=False,
    )
    requires_confirmation = forms.BooleanField(
        label=gettext_lazy("I confirm each booking myself"), required=False
    )


def _policy_form(doctor: Doctor) -> PolicyForm:
    return PolicyForm(initial={name: getattr(doctor, name) for name in POLICY_FIELDS})


def _lazy(compute: Callable) -> Callable:
    """A context value computed on first use: a region's partial re-rendered alone does not
    pay for the queries of the other regions."""
    result: list = []

    def value():
        if not result:
            result.append(compute())
        return result[0]

    return value


def _page(
    request: HttpRequest,
    doctor: Doctor,
    *,
    weekly_form: WeeklyIntervalForm | None = None,
    exception_form: ExceptionForm | None = None,
    policy_form: PolicyForm | None = None,
    status: int = 200,
) -> HttpResponse:
    now = timezone.now()
    today = timezone.localdate(now, hospital_zone())

    def weekly_days():
        intervals = list(doctor.weekly_hours.all())
        return [
            (name, [interval for interval in intervals if interval.weekday == index])
            for index, name in enumerate(WEEKDAYS)
        ]

    context = {
        "doctor": doctor,
        "weekly_days": _lazy(weekly_days),
        "upcoming_exceptions": _lazy(lambda: list(doctor.exceptions.filter(date__gte=today))),
        "outside_hours": _lazy(lambda: appointments_outside_hours(doctor, now)),
        "weekly_form": weekly_form or WeeklyIntervalForm(),
        "exception_form": exception_form or ExceptionForm(),
        "policy_form": policy_form or _policy_form(doctor),
    }
    return render_page(request, TEMPLATE, context, partials=PARTIALS, status=status)


def _changed(request: HttpRequest, doctor: Doctor, message: str, section: str) -> HttpResponse:
    """After a change: the region again (HTMX) or a redirect to it, and the event on which the
    "outside hours" region refreshes itself."""
    messages.success(request, message)
    if request.htmx and not request.htmx.boosted:
        response = _page(request, doctor)
    else:
        response = redirect(f"{reverse('doctor_availability')}#{section}")
    response["HX-Trigger"] = CHANGED_EVENT
    return response


@require_GET
@role_required(Role.DOCTOR)
def availability(request: HttpRequest) -> HttpResponse:
    """The doctor's own availability: weekly hours, exceptions, booking policy and the booked
    visits now outside her hours."""
    return _page(request, get_doctor_for_user(request))


@require_POST
@role_required(Role.DOCTOR)
def weekly_add(request: HttpRequest) -> HttpResponse:
    doctor = get_doctor_for_user(request)
    form = WeeklyIntervalForm(request.POST)
    if form.is_valid():
        try:
            weekly_interval_add(
                doctor=doctor, by=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return _changed(request, doctor, _("Working hours added."), "weekly-hours")
    return _page(request, doctor, weekly_form=form, status=400)


def _own_row(rows, value: str | None):
    """One of the doctor's own rows by the id posted, else 404 (someone else's id or junk)."""
    try:
        return rows.get(pk=int(value or ""))
    except (ValueError, rows.model.DoesNotExist):
        raise Http404 from None


@require_POST
@role_required(Role.DOCTOR)
def weekly_remove(request: HttpRequest) -> HttpResponse:
    doctor = get_doctor_for_user(request)
    interval = _own_row(doctor.weekly_hours.all(), request.POST.get("interval"))
    interval.doctor = doctor
    weekly_interval_remove(interval=interval, by=request.user, request=request)
    return _changed(
        request,
        doctor,
        _("Working hours removed. Booked appointments are kept."),
        "weekly-hours",
    )


@require_POST
@role_required(Role.DOCTOR)
def exception_add_view(request: HttpRequest) -> HttpResponse:
    doctor = get_doctor_for_user(request)
    form = ExceptionForm(request.POST)
    if form.is_valid():
        try:
            exception_add(doctor=doctor, by=request.user, request=request, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return _changed(request, doctor, _("Exception added."), "availability-exceptions")
    return _page(request, doctor, exception_form=form, status=400)


@require_POST
@role_required(Role.DOCTOR)
def exception_remove_view(request: HttpRequest) -> HttpResponse:
    doctor = get_doctor_for_user(request)
    exception = _own_row(doctor.exceptions.all(), request.POST.get("exception"))
    exception.doctor = doctor
    exception_remove(exception=exception, by=request.user, request=request)
    return _changed(
        request,
        doctor,
        _("Exception removed. Booked appointments are kept."),
        "availability-exceptions",
    )


@require_POST
@role_required(Role.DOCTOR)
def policy_update_view(request: HttpRequest) -> HttpResponse:
    doctor = get_doctor_for_user(request)
    form = PolicyForm(request.POST)
    if form.is_valid():
        try:
            policy_update(doctor=doctor, by=request.user, request=request, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return _changed(request, doctor, _("Booking policy saved."), "booking-policy")
    return _page(request, doctor, policy_form=form, status=400)
