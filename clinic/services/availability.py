"""A doctor's availability: weekly hours, exceptions (time off, extra sessions) and the booking
policy.

Every change is made by the doctor herself or an admin, under the doctor's row lock (two tabs
adding overlapping hours queue, and the second one sees the first), and is audited against the
doctor. Appointments are never touched: a booked visit that a change leaves outside the new
hours stays booked, and the doctor sees it in `appointments_outside_hours`.

Bad input raises `ValidationError` with a dict keyed by field name, so a form can show each
message next to its field.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.models import (
    WEEKDAYS,
    AvailabilityException,
    ConsultationMode,
    Doctor,
    WeeklyAvailability,
)
from clinic.scheduling import hospital_zone
from core.models import AuditEvent, Role
from core.services import audit_record

# Exceptions further ahead than this are refused: nobody plans time off two years out, and a
# far-off year would only be a typing mistake.
EXCEPTION_REACH_DAYS = 2 * 366

# The booking policy's fields and their allowed ranges (inclusive).
POLICY_BOUNDS: dict[str, tuple[int, int]] = {
    "slot_minutes": (5, 240),
    "buffer_minutes": (0, 120),
    "min_notice_minutes": (0, 14 * 24 * 60),
    "horizon_days": (1, 365),
    "cancel_cutoff_minutes": (0, 7 * 24 * 60),
    "max_appointments_per_day": (1, 100),
}
POLICY_FIELDS = (*POLICY_BOUNDS, "requires_confirmation")


def _ensure_may_edit(doctor: Doctor, by) -> None:
    if not getattr(by, "is_authenticated", False):
        raise PermissionDenied
    if by.role == Role.ADMIN or (by.role == Role.DOCTOR and doctor.user_id == by.pk):
        return
    raise PermissionDenied


def _lock(doctor: Doctor) -> Doctor:
    return Doctor.objects.select_for_update().get(pk=doctor.pk)


def _check_mode(mode: str) -> None:
    if mode not in ConsultationMode.values:
        raise ValidationError({"mode": _("Choose in person or online.")})


def _check_times(start_time: time | None, end_time: time | None) -> None:
    if start_time is None or end_time is None:
        raise ValidationError(
            {
                name: _("Enter a time.")
                for name, value in (("start_time", start_time), ("end_time", end_time))
                if value is None
            }
        )
    if end_time <= start_time:
        raise ValidationError({"end_time": _("The end must be after the start.")})


def _hhmm(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def _describe_interval(interval: WeeklyAvailability) -> dict:
    return {
        "weekday": interval.weekday,
        "start": _hhmm(interval.start_time),
        "end": _hhmm(interval.end_time),
        "mode": interval.mode,
        "location": interval.location,
    }


def _describe_exception(exception: AvailabilityException) -> dict:
    return {
        "date": exception.date.isoformat(),
        "kind": exception.kind,
        "start": _hhmm(exception.start_time),
        "end": _hhmm(exception.end_time),
        "mode": exception.mode,
        "location": exception.location,
        "note": exception.note,
    }


@transaction.atomic
def weekly_interval_add(
    *,
    doctor: Doctor,
    by,
    weekday: int,
    start_time: time,
    end_time: time,
    mode: str = ConsultationMode.IN_PERSON,
    location: str = "",
    request: HttpRequest | None = None,
) -> WeeklyAvailability:
    """Add a working interval on a weekday. Refused when it does not end after it starts or
    overlaps another interval of that weekday (touching ones, 12:00-13:00 after 09:00-12:00,
    are fine)."""
    _ensure_may_edit(doctor, by)
    if weekday not in range(len(WEEKDAYS)):
        raise ValidationError({"weekday": _("Choose a day of the week.")})
    _check_times(start_time, end_time)
    _check_mode(mode)
    doctor = _lock(doctor)
    clash = (
        doctor.weekly_hours.filter(
            weekday=weekday, start_time__lt=end_time, end_time__gt=start_time
        )
        .order_by("start_time")
        .first()
    )
    if clash is not None:
        raise ValidationError(
            {
                "start_time": _("This overlaps your hours from %(start)s to %(end)s on %(day)s.")
                % {
                    "start": _hhmm(clash.start_time),
                    "end": _hhmm(clash.end_time),
                    "day": _(WEEKDAYS[weekday]),
                }
            }
        )
    interval = WeeklyAvailability.objects.create(
        doctor=doctor,
        weekday=weekday,
        start_time=start_time,
        end_time=end_time,
        mode=mode,
        location=location.strip()[:200],
    )
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=doctor,
        details={"change": "weekly_interval_added", "interval": _describe_interval(interval)},
    )
    return interval


@transaction.atomic
def weekly_interval_remove(
    *, interval: WeeklyAvailability, by, request: HttpRequest | None = None
) -> None:
    """Remove a working interval. Appointments booked in it stay booked."""
    _ensure_may_edit(interval.doctor, by)
    doctor = _lock(interval.doctor)
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=doctor,
        details={"change": "weekly_interval_removed", "interval": _describe_interval(interval)},
    )
    interval.delete()


def _overlaps(
    exception: AvailabilityException, start_time: time | None, end_time: time | None
) -> bool:
    # No times means the whole day.
    if exception.start_time is None or start_time is None:
        return True
    return exception.start_time < end_time and start_time < exception.end_time


@transaction.atomic
def exception_add(
    *,
    doctor: Doctor,
    by,
    date: date,
    kind: str,
    start_time: time | None = None,
    end_time: time | None = None,
    mode: str = ConsultationMode.IN_PERSON,
    location: str = "",
    note: str = "",
    now: datetime | None = None,
    request: HttpRequest | None = None,
) -> AvailabilityException:
    """Add time off (the whole day without times, part of it with both) or an extra session
    (times required) on a date from today on. An exception of the same kind that overlaps
    another on that date is refused."""
    _ensure_may_edit(doctor, by)
    today = timezone.localdate(now or timezone.now(), hospital_zone())
    if date < today:
        raise ValidationError({"date": _("Choose today or a later date.")})
    if date > today + timedelta(days=EXCEPTION_REACH_DAYS):
        raise ValidationError({"date": _("Choose a date within the next two years.")})
    if kind == AvailabilityException.Kind.TIME_OFF:
        if start_time is not None or end_time is not None:
            _check_times(start_time, end_time)
    elif kind == AvailabilityException.Kind.EXTRA:
        _check_times(start_time, end_time)
        _check_mode(mode)
    else:
        raise ValidationError({"kind": _("Choose time off or an extra session.")})
    doctor = _lock(doctor)
    same_day = doctor.exceptions.filter(date=date, kind=kind)
    if any(_overlaps(other, start_time, end_time) for other in same_day):
        message = (
            _("You already have time off on this date that overlaps these times.")
            if kind == AvailabilityException.Kind.TIME_OFF
            else _("You already have an extra session on this date that overlaps these times.")
        )
        raise ValidationError({"date": message})
    exception = AvailabilityException.objects.create(
        doctor=doctor,
        date=date,
        kind=kind,
        start_time=start_time,
        end_time=end_time,
        mode=mode if kind == AvailabilityException.Kind.EXTRA else ConsultationMode.IN_PERSON,
        location=location.strip()[:200] if kind == AvailabilityException.Kind.EXTRA else "",
        note=note.strip()[:200],
    )
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=doctor,
        details={"change": "exception_added", "exception": _describe_exception(exception)},
    )
    return exception


@transaction.atomic
def exception_remove(
    *, exception: AvailabilityException, by, request: HttpRequest | None = None
) -> None:
    """Remove time off or an extra session. Appointments booked in an extra session stay
    booked."""
    _ensure_may_edit(exception.doctor, by)
    doctor = _lock(exception.doctor)
    audit_record(
        action=AuditEvent.Action.UPDATE,
        actor=by,
        request=request,
        target=doctor,
        details={"change": "exception_removed", "exception": _describe_exception(exception)},
    )
    exception.delete()


@transaction.atomic
def policy_update(
    *,
    doctor: Doctor,
    by,
    slot_minutes: int,
    buffer_minutes: int,
    min_notice_minutes: int,
    horizon_days: int,
    cancel_cutoff_minutes: int,
    max_appointments_per_day: int | None,
    requires_confirmation: bool,
    request: HttpRequest | None = None,
) -> Doctor:
    """Set slot length, buffer and the booking policy. Each number must lie in POLICY_BOUNDS
    (no daily maximum is None). The audit entry holds the changed fields before and after;
    a submission that changes nothing writes nothing."""
    _ensure_may_edit(doctor, by)
    wanted = {
        "slot_minutes": slot_minutes,
        "buffer_minutes": buffer_minutes,
        "min_notice_minutes": min_notice_minutes,
        "horizon_days": horizon_days,
        "cancel_cutoff_minutes": cancel_cutoff_minutes,
        "max_appointments_per_day": max_appointments_per_day,
        "requires_confirmation": bool(requires_confirmation),
    }
    errors = {}
    for name, (low, high) in POLICY_BOUNDS.items():
        value = wanted[name]
        if value is None and name == "max_appointments_per_day":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[name] = _("Enter a whole number from %(low)d to %(high)d.") % {
                "low": low,
                "high": high,
            }
    if errors:
        raise ValidationError(errors)
    locked = _lock(doctor)
    before = {name: getattr(locked, name) for name in POLICY_FIELDS}
    changed = [name for name in POLICY_FIELDS if before[name] != wanted[name]]
    if changed:
        for name in changed:
            setattr(locked, name, wanted[name])
        locked.save(update_fields=changed)
        audit_record(
            action=AuditEvent.Action.UPDATE,
            actor=by,
            request=request,
            target=locked,
            details={
                "change": "policy_updated",
                "before": {name: before[name] for name in changed},
                "after": {name: wanted[name] for name in changed},
            },
        )
    # The caller's instance shows the new policy too.
    for name in POLICY_FIELDS:
        setattr(doctor, name, wanted[name])
    return doctor
