"""Reads for pages: querysets with their joins, so a page's query count does not grow with data."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import (
    Count,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    prefetch_related_objects,
)
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from clinic.models import (
    Appointment,
    AvailabilityException,
    BreakGlassAccess,
    ChatMessage,
    ChatReadMark,
    Doctor,
    MedicalRecord,
    Patient,
    RecordAttachment,
    SOSRequest,
)
from clinic.permissions import (
    PatientAccess,
    appointments_visible_to,
    sees_unreleased_records,
)
from clinic.scheduling import (
    Slot,
    booking_window,
    busy_rows,
    hospital_zone,
    slots_bookable,
    slots_free,
    slots_generate,
)
from core.models import AuditEvent, Role

# How far ahead the directory looks for each doctor's next free slot.
DIRECTORY_DAYS = 14


def appointments_upcoming_for_user(user, limit: int = 5) -> list[Appointment]:
    """The next active appointments of the user and everyone they act for."""
    return list(
        appointments_visible_to(user)
        .active()
        .filter(end_at__gte=timezone.now())
        .select_related("doctor__user", "doctor__specialty", "patient")
        .order_by("start_at")[:limit]
    )


def doctor_agenda(doctor: Doctor, day: date) -> QuerySet[Appointment]:
    """One local day of the doctor's appointments, rescheduled ones left out (their successor
    shows instead)."""
    return (
        doctor.appointments.filter(local_date=day)
        .exclude(status=Appointment.Status.RESCHEDULED)
        .select_related("patient")
        .order_by("start_at")
    )


def appointments_for_patient_pages(user, *, now, limit: int = 50):
    """(upcoming, earlier) for the patient's appointment page: active ones still to come, then
    everything else (past visits, cancelled and rescheduled ones), newest first."""
    rows = appointments_visible_to(user).select_related(
        "doctor__user", "doctor__specialty", "patient"
    )
    upcoming = list(rows.active().filter(end_at__gte=now).order_by("start_at")[:limit])
    past = list(
        rows.exclude(pk__in=[appointment.pk for appointment in upcoming]).order_by("-start_at")[
            :limit
        ]
    )
    return upcoming, past


def doctor_week(doctor: Doctor, first_day: date) -> list[tuple[date, list[Appointment]]]:
    """Seven local days from `first_day`, each with its appointments (one query)."""
    from datetime import timedelta

    days = [first_day + timedelta(days=offset) for offset in range(7)]
    rows = (
        doctor.appointments.filter(local_date__range=(days[0], days[-1]))
        .exclude(status=Appointment.Status.RESCHEDULED)
        .select_related("patient")
        .order_by("start_at")
    )
    by_day: dict[date, list[Appointment]] = {day: [] for day in days}
    for appointment in rows:
        by_day[appointment.local_date].append(appointment)
    return list(by_day.items())


def doctors_listed(
    *,
    q: str = "",
    specialty=None,
    location: str = "",
    language=None,
) -> QuerySet[Doctor]:
    """Verified doctors with an active login, filtered for the directory (one query, plus one
    for their languages)."""
    doctors = Doctor.objects.filter(status=Doctor.Status.VERIFIED, user__is_active=True)
    for word in q.split():
        doctors = doctors.filter(
            Q(user__first_name__icontains=word) | Q(user__last_name__icontains=word)
        )
    if specialty is not None:
        doctors = doctors.filter(specialty=specialty)
    if location:
        doctors = doctors.filter(location__icontains=location)
    if language is not None:
        # Language codes are unique, so the join cannot repeat a doctor.
        doctors = doctors.filter(languages=language)
    return doctors.select_related("user", "specialty").prefetch_related("languages")


def doctors_with_next_free_slot(
    doctors: list[Doctor], now: datetime, *, day_to: date | None = None
) -> list[Doctor]:
    """Set `next_free_slot` (a Slot or None) on each doctor, looking from today to `day_to`
    (DIRECTORY_DAYS ahead by default), with the rules of `slots_free` applied in Python.

    Weekly hours and exceptions take a query each; active appointments and waitlist holds (one
    union) are fetched for a first week, then for spans twice as long each time but only for
    the doctors still without a free slot: what is fetched stays near what is needed (most
    doctors have a slot in the first week) and the count of queries stays bounded whatever
    the number of doctors (three for a week, six for 90 days)."""
    zone = hospital_zone()
    today = now.astimezone(zone).date()
    day_to = day_to or today + timedelta(days=DIRECTORY_DAYS)
    prefetch_related_objects(
        doctors,
        Prefetch("weekly_hours", to_attr="directory_weekly"),
        Prefetch(
            "exceptions",
            queryset=AvailabilityException.objects.filter(date__range=(today, day_to)),
            to_attr="directory_exceptions",
        ),
    )
    for doctor in doctors:
        doctor.next_free_slot = None
    searching = list(doctors)
    span_from, span_days = today, FIRST_SPAN_DAYS
    while searching and span_from <= day_to:
        span_to = min(span_from + timedelta(days=span_days - 1), day_to)
        busy = _busy_by_doctor(searching, span_from, span_to, now)
        for doctor in searching:
            doctor.next_free_slot = _first_free_in_span(
                doctor, busy[doctor.pk], span_from, span_to, now
            )
        searching = [doctor for doctor in searching if doctor.next_free_slot is None]
        span_from, span_days = span_to + timedelta(days=1), span_days * 2
    return doctors


# The first span of days searched for every doctor's next free slot; later spans double.
FIRST_SPAN_DAYS = 7


def _busy_by_doctor(doctors: list[Doctor], day_from: date, day_to: date, now: datetime):
    """Active appointments and waitlist holds of the doctors on local dates day_from..day_to,
    one query, grouped by doctor id. A day either side: an appointment that started the
    evening before can still overlap, and the daily maximum counts whole days."""
    busy: dict[int, list] = {doctor.pk: [] for doctor in doctors}
    rows = busy_rows(list(busy), day_from - timedelta(days=1), day_to + timedelta(days=1), now=now)
    for doctor_id, start, end, local_date in rows:
        busy[doctor_id].append((start, end, local_date))
    return busy


def _first_free_in_span(
    doctor: Doctor, busy: list, day_from: date, day_to: date, now: datetime
) -> Slot | None:
    """The first slot `slots_free` would give between two local dates, over prefetched rows:
    the same `slots_bookable` rules, no queries."""
    _earliest, latest = booking_window(doctor, now)
    last_day = min(day_to, latest.astimezone(hospital_zone()).date())
    if day_from > last_day:
        return None
    generated = slots_generate(
        doctor,
        day_from,
        last_day,
        weekly=doctor.directory_weekly,
        exceptions=doctor.directory_exceptions,
    )
    free = slots_bookable(doctor, generated, busy, now=now)
    return free[0] if free else None


def doctor_free_days(
    doctor: Doctor,
    now: datetime,
    *,
    limit: int,
    look_ahead_days: int = 60,
    ignore_appointment_id: int | None = None,
) -> dict[date, list[Slot]]:
    """The first `limit` local dates with free slots, each with its slots (three queries).
    `ignore_appointment_id` counts that appointment's time as free (the one being moved)."""
    today = now.astimezone(hospital_zone()).date()
    days_ahead = min(doctor.horizon_days, look_ahead_days)
    days: dict[date, list[Slot]] = {}
    for slot in slots_free(
        doctor,
        today,
        today + timedelta(days=days_ahead),
        now=now,
        ignore_appointment_id=ignore_appointment_id,
    ):
        day = slot.local_start.date()
        if day not in days and len(days) == limit:
            break
        days.setdefault(day, []).append(slot)
    return days


# Ratings. Imports stay inside these functions, as in the sections below.


def appointment_rating(appointment: Appointment):
    """The rating given for the appointment, or None (one query)."""
    from clinic.models import Rating

    return (
        Rating.objects.filter(appointment=appointment)
        .only("stars", "review", "created_at", "appointment_id")
        .first()
    )


def doctor_reviews_latest(doctor: Doctor, *, limit: int = 5) -> list:
    """The doctor's latest ratings that have a review, newest first (one query). Only the
    stars, the text and the date are loaded: the profile names no patient."""
    from clinic.models import Rating

    return list(
        Rating.objects.filter(doctor=doctor)
        .exclude(review="")
        .only("stars", "review", "created_at")
        .order_by("-created_at", "-pk")[:limit]
    )


# The doctor's availability editor and "my patients". Imports stay inside these functions so
# this section does not touch the module header, which other selectors keep extending.


def appointments_outside_hours(doctor: Doctor, now: datetime) -> list[Appointment]:
    """The doctor's active appointments starting from `now` that are no longer fully inside a
    working interval of their local day (weekly hours plus extra sessions, minus time off),
    for example because the interval was removed or time off was added. Changing the rules
    never cancels a booking; this is how the doctor finds the ones to sort out.

    A visit still inside working time but off the slot grid (after a change of slot length)
    is not listed: it does not clash with anything, and listing every booking after such a
    change would bury the real conflicts. At most three queries."""
    from clinic.scheduling import working_intervals

    upcoming = list(
        doctor.appointments.active()
        .filter(start_at__gte=now)
        .select_related("patient")
        .order_by("start_at")
    )
    if not upcoming:
        return []
    zone = hospital_zone()
    days = [appointment.start_at.astimezone(zone).date() for appointment in upcoming]
    weekly = list(doctor.weekly_hours.all())
    exceptions = list(doctor.exceptions.filter(date__range=(min(days), max(days))))
    intervals_by_day: dict[date, list] = {}
    outside = []
    for appointment, day in zip(upcoming, days, strict=True):
        if day not in intervals_by_day:
            intervals_by_day[day] = working_intervals(day, weekly, exceptions)
        start = appointment.start_at.astimezone(zone)
        end = appointment.end_at.astimezone(zone)
        inside = end.date() == day and any(
            interval.start <= start.time() and end.time() <= interval.end
            for interval in intervals_by_day[day]
        )
        if not inside:
            outside.append(appointment)
    return outside


def doctor_patients(doctor: Doctor, *, now: datetime, q: str = ""):
    """Every patient with an appointment with the doctor (any status), once each, by name,
    annotated for the "my patients" list: `visit_count` (completed visits), `last_visit_at`
    and `last_visit_id` (the latest completed visit), `next_appointment_at` and
    `next_appointment_id` (the first active visit not yet over). Each word of `q` must match
    a first or last name. One query per page, whatever the number of patients."""
    from django.db.models import Count, Exists, Max, Min, OuterRef, Subquery

    from clinic.models import Patient

    with_doctor = Q(appointments__doctor=doctor)
    completed = with_doctor & Q(appointments__status=Appointment.Status.COMPLETED)
    upcoming = (
        with_doctor
        & Q(appointments__status__in=Appointment.ACTIVE_STATUSES)
        & Q(appointments__end_at__gt=now)
    )
    theirs = Appointment.objects.filter(doctor=doctor, patient=OuterRef("pk"))
    last_visit = theirs.filter(status=Appointment.Status.COMPLETED).order_by("-start_at")
    next_visit = theirs.active().filter(end_at__gt=now).order_by("start_at")
    patients = Patient.objects.filter(Exists(theirs))
    for word in q.split():
        patients = patients.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word))
    return (
        patients.select_related("user")
        .annotate(
            visit_count=Count("appointments", filter=completed),
            last_visit_at=Max("appointments__start_at", filter=completed),
            next_appointment_at=Min("appointments__start_at", filter=upcoming),
            last_visit_id=Subquery(last_visit.values("public_id")[:1]),
            next_appointment_id=Subquery(next_visit.values("public_id")[:1]),
        )
        .order_by("last_name", "first_name", "pk")
    )


def waitlist_for_patient_pages(user, *, now: datetime, limit: int = 50):
    """(offers, entries) for the patient's waitlist page: the offers still holding a slot for
    the user or someone they book for, soonest to expire first; then their waitlist entries,
    the waiting ones first. Two queries."""
    from django.db.models import Case, IntegerField, Value, When

    from clinic.models import WaitlistEntry, WaitlistOffer
    from clinic.permissions import waitlist_entries_visible_to

    entries = waitlist_entries_visible_to(user)
    offers = list(
        WaitlistOffer.objects.holding(now)
        .filter(entry__in=entries)
        .select_related("doctor__user", "entry__patient")
        .order_by("expires_at")
    )
    waiting_first = Case(
        When(status=WaitlistEntry.Status.WAITING, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    rows = list(
        entries.select_related("doctor__user", "doctor__specialty", "patient").order_by(
            waiting_first, "-created_at"
        )[:limit]
    )
    return offers, rows


def patient_timeline(
    patient: Patient, *, access: PatientAccess, kinds: list[str] | None = None
) -> QuerySet[MedicalRecord]:
    """The patient's records, newest first, as `access` may see them (released only for the
    patient and delegates, all for doctors), optionally of some kinds only. Authors, vitals,
    analytes, attachments and the annotation count come with a fixed number of queries."""
    records = MedicalRecord.objects.filter(patient=patient)
    if not sees_unreleased_records(access):
        records = records.released()
    if kinds:
        records = records.filter(kind__in=kinds)
    return (
        records.select_related("author__user", "author__specialty", "vitals")
        .annotate(annotation_count=Count("annotations"))
        .prefetch_related(
            "analytes",
            Prefetch("attachments", queryset=RecordAttachment.objects.order_by("uploaded_at")),
        )
        .order_by("-occurred_on", "-created_at", "-pk")
    )


# --- Emergency access and the access log ---------------------------------------------------

# What the patient's access log lists: reads and changes of clinical data, emergency access.
ACCESS_LOG_ACTIONS = [
    AuditEvent.Action.VIEW,
    AuditEvent.Action.PRINT,
    AuditEvent.Action.DOWNLOAD,
    AuditEvent.Action.EXPORT,
    AuditEvent.Action.CREATE,
    AuditEvent.Action.UPDATE,
    AuditEvent.Action.BREAK_GLASS,
]


def patients_matching(*, national_id: str, name: str, date_of_birth) -> QuerySet[Patient]:
    """Patients by national id, or by every word of the name together with the date of birth."""
    patients = Patient.objects.only("public_id", "first_name", "last_name", "date_of_birth")
    if national_id:
        return patients.filter(national_id__iexact=national_id)
    patients = patients.filter(date_of_birth=date_of_birth)
    for word in name.split():
        patients = patients.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word))
    return patients


def break_glass_uses() -> QuerySet[BreakGlassAccess]:
    """Every emergency access, the ones still waiting for review first."""
    return BreakGlassAccess.objects.select_related(
        "doctor__user", "patient", "reviewed_by"
    ).order_by(F("reviewed_at").asc(nulls_first=True), "-started_at")


def access_log_events(patient: Patient) -> QuerySet[AuditEvent]:
    """Who read or changed the patient's clinical data, newest first, with the actor joined.

    Events about a result still held for review (the record, its annotations, its
    attachments) stay out until it is released: until then the patient may not know it
    exists, and its title alone can say too much."""
    held = [
        str(public_id)
        for public_id in MedicalRecord.objects.filter(
            patient=patient, released_at__isnull=True
        ).values_list("public_id", flat=True)
    ]
    return (
        AuditEvent.objects.filter(
            patient_public_id=patient.public_id, action__in=ACCESS_LOG_ACTIONS
        )
        .exclude(target_type=MedicalRecord._meta.label_lower, target_id__in=held)
        .exclude(Q(details__has_key="record") & Q(details__record__in=held))
        .select_related("actor")
        .only(
            "at",
            "action",
            "target_type",
            "target_label",
            "reason",
            "acting_for_patient",
            "actor__first_name",
            "actor__last_name",
            "actor__email",
            "actor__role",
        )
        .order_by("-at", "-id")
    )


# --- Consultation chat ---------------------------------------------------------------------------

CHAT_PAGE_SIZE = 50


@dataclass(frozen=True)
class ChatLine:
    """One message as a participant sees it: who sent it, and who has seen up to it."""

    message: ChatMessage
    sender_name: str
    # (stable key, display name) of each other participant whose latest seen message this is.
    receipts: tuple[tuple[str, str], ...] = ()


def chat_display_name(user, appointment: Appointment) -> str:
    """How a participant is named in the chat: the doctor as "Dr …", the patient by name, and
    a delegate by name "for" the patient."""
    name = user.get_full_name() or user.email
    if appointment.doctor.user_id == user.pk:
        return _("Dr %(name)s") % {"name": name}
    if appointment.patient.user_id == user.pk:
        return name
    return _("%(name)s (for %(patient)s)") % {"name": name, "patient": appointment.patient}


def chat_short_name(user, appointment: Appointment) -> str:
    """The name in a read receipt: "Dr Clara Weiss", or a patient's first name."""
    if appointment.doctor.user_id == user.pk:
        return chat_display_name(user, appointment)
    return user.get_short_name() or user.get_full_name() or user.email


def chat_seen_key(appointment: Appointment, user_id: int) -> str:
    """A stable, non-guessable element key per reader in one chat (no database ids in pages)."""
    return salted_hmac("chat-seen", f"{appointment.pk}:{user_id}").hexdigest()[:16]


def chat_receipt_targets(appointment: Appointment) -> list[tuple[ChatReadMark, int | None]]:
    """Each participant's read mark with the message their receipt goes under: the latest
    message they have seen that someone else sent (None when they have seen only their own).
    One query."""
    latest_from_others = (
        ChatMessage.objects.filter(appointment=appointment, id__lte=OuterRef("last_read_id"))
        .exclude(sender_id=OuterRef("user_id"))
        .order_by("-id")
        .values("id")[:1]
    )
    marks = (
        ChatReadMark.objects.filter(appointment=appointment)
        .select_related("user")
        .annotate(target_id=Subquery(latest_from_others))
        .order_by("read_at", "pk")
    )
    return [(mark, mark.target_id) for mark in marks]


def chat_transcript(
    appointment: Appointment,
    *,
    viewer,
    before: ChatMessage | None = None,
    limit: int = CHAT_PAGE_SIZE,
) -> tuple[list[ChatLine], bool]:
    """The latest `limit` messages (those before `before` when paging back), oldest first, with
    the receipts the viewer sees under them, and whether earlier messages exist. Two queries
    (three with the sender of a delegate)."""
    messages = ChatMessage.objects.filter(appointment=appointment).select_related("sender")
    if before is not None:
        messages = messages.filter(id__lt=before.pk)
    rows = list(messages.order_by("-id")[: limit + 1])
    has_earlier = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    receipts: dict[int, list[tuple[str, str]]] = {}
    for mark, target_id in chat_receipt_targets(appointment):
        if target_id is None or mark.user_id == getattr(viewer, "pk", None):
            continue
        receipts.setdefault(target_id, []).append(
            (chat_seen_key(appointment, mark.user_id), chat_short_name(mark.user, appointment))
        )
    lines = [
        ChatLine(
            message=message,
            sender_name=chat_display_name(message.sender, appointment),
            receipts=tuple(receipts.get(message.pk, ())),
        )
        for message in rows
    ]
    return lines, has_earlier


# --- SOS emergency requests ----------------------------------------------------------------------


def _sos_rows() -> QuerySet:
    return SOSRequest.objects.select_related(
        "patient__user", "raised_by", "acknowledged_by", "closed_by"
    )


def _sees_every_sos(user) -> bool:
    """Admins and doctors on duty see every request; anyone else only what they acknowledged."""
    if user.role == Role.ADMIN:
        return True
    doctor = getattr(user, "doctor", None)
    return doctor is not None and doctor.on_duty_since is not None


def sos_board_open(user) -> list:
    """The open requests a staff member handles, newest first: all of them for admins and
    doctors on duty; for a doctor off duty only those she acknowledged."""
    rows = _sos_rows().filter(status__in=SOSRequest.OPEN_STATUSES)
    if not _sees_every_sos(user):
        rows = rows.filter(acknowledged_by=user)
    return list(rows.order_by("-created_at", "-id"))


def sos_board_closed(user, *, limit: int = 10) -> list:
    """The requests closed most recently (the same rule as `sos_board_open` for who sees)."""
    rows = _sos_rows().filter(status__in=SOSRequest.CLOSED_STATUSES)
    if not _sees_every_sos(user):
        rows = rows.filter(acknowledged_by=user)
    return list(rows.order_by("-closed_at", "-id")[:limit])


def sos_requests_of(patients: QuerySet[Patient], *, limit: int = 10) -> list:
    """The latest requests for the patients a user raises SOS for (the patient's SOS page)."""
    return list(_sos_rows().filter(patient__in=patients).order_by("-created_at", "-id")[:limit])


def sos_with_history(sos_id: int):
    """One request with its history, each step's actor joined."""
    return _sos_rows().prefetch_related("events__actor").get(pk=sos_id)
