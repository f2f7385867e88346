"""Clinical models. The foundation holds the minimum the role homes and demo data need;
the scheduling and records issues extend them."""

import uuid
from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


def doctor_photo_path(instance: "Doctor", filename: str) -> str:
    return f"doctors/{instance.public_id}/{uuid.uuid4()}{Path(filename).suffix.lower()}"


WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class Specialty(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("specialties")

    def __str__(self) -> str:
        return self.name


class Language(models.Model):
    """A language a doctor consults in (ISO 639-1 code)."""

    code = models.CharField(max_length=8, unique=True)
    name = models.CharField(max_length=64)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Doctor(models.Model):
    """A doctor's professional profile. Listed, bookable and able to publish only once verified."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending verification")
        VERIFIED = "verified", _("Verified")
        REJECTED = "rejected", _("Rejected")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="doctor"
    )
    specialty = models.ForeignKey(Specialty, on_delete=models.PROTECT, related_name="doctors")
    licence_number = models.CharField(_("licence number"), max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Booking policy (defaults from the hospital's rules; each doctor may change them).
    slot_minutes = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(5), MaxValueValidator(240)]
    )
    buffer_minutes = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(120)]
    )
    requires_confirmation = models.BooleanField(default=False)
    min_notice_minutes = models.PositiveIntegerField(default=120)
    horizon_days = models.PositiveSmallIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    cancel_cutoff_minutes = models.PositiveIntegerField(default=120)
    max_appointments_per_day = models.PositiveSmallIntegerField(null=True, blank=True)

    # Public profile, shown in the directory.
    bio = models.TextField(blank=True)
    years_of_experience = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(80)]
    )
    education = models.TextField(blank=True)
    languages = models.ManyToManyField(Language, blank=True, related_name="doctors")
    consultation_fee = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    location = models.CharField(_("department or location"), max_length=200, blank=True)
    photo = models.ImageField(upload_to=doctor_photo_path, blank=True)

    # Kept by the rating service with F() updates, so listing pages need no aggregate query.
    rating_count = models.PositiveIntegerField(default=0)
    rating_total = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["user__last_name", "user__first_name"]

    def __str__(self) -> str:
        return f"Dr {self.user.get_full_name() or self.user.email}"

    @property
    def is_verified(self) -> bool:
        return self.status == self.Status.VERIFIED

    @property
    def is_bookable(self) -> bool:
        return self.is_verified and self.user.is_active

    @property
    def rating_average(self) -> float | None:
        return round(self.rating_total / self.rating_count, 1) if self.rating_count else None


def credential_document_path(instance: "CredentialDocument", filename: str) -> str:
    # Random names: the original name is kept on the row, never in a guessable path.
    suffix = Path(filename).suffix.lower()
    return f"credentials/{instance.doctor.public_id}/{uuid.uuid4()}{suffix}"


class CredentialDocument(models.Model):
    """A licence or diploma scan sent with a doctor's application. Private: served only to the
    applicant and admins through a checked view, never from a public media URL."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="documents")
    file = models.FileField(upload_to=credential_document_path)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    description = models.CharField(max_length=200, blank=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at"]

    def __str__(self) -> str:
        return self.original_name


class ConsultationMode(models.TextChoices):
    IN_PERSON = "in_person", _("In person")
    ONLINE = "online", _("Online")


class WeeklyAvailability(models.Model):
    """One working interval on a weekday, in the hospital's time zone (several per day allowed)."""

    doctor = models.ForeignKey(Doctor, on_delete=models.CASCADE, related_name="weekly_hours")
    weekday = models.PositiveSmallIntegerField(choices=[(i, day) for i, day in enumerate(WEEKDAYS)])
    start_time = models.TimeField()
    end_time = models.TimeField()
    mode = models.CharField(
        max_length=16, choices=ConsultationMode.choices, default=ConsultationMode.IN_PERSON
    )
    location = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["weekday", "start_time"]
        verbose_name_plural = _("weekly availability")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")),
                name="weekly_availability_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.start_time:%H:%M}-{self.end_time:%H:%M}"


class AvailabilityException(models.Model):
    """Time off (the whole day when no times are given) or an extra session on one date."""

    class Kind(models.TextChoices):
        TIME_OFF = "time_off", _("Time off")
        EXTRA = "extra", _("Extra session")

    doctor = models.ForeignKey(Doctor, on_delete=models.CASCADE, related_name="exceptions")
    date = models.DateField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)
    mode = models.CharField(
        max_length=16, choices=ConsultationMode.choices, default=ConsultationMode.IN_PERSON
    )
    location = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["date", "start_time"]
        constraints = [
            # A whole day off has no times; anything else has both, in order.
            models.CheckConstraint(
                condition=(
                    models.Q(start_time__isnull=True, end_time__isnull=True, kind="time_off")
                    | models.Q(
                        start_time__isnull=False,
                        end_time__isnull=False,
                        end_time__gt=models.F("start_time"),
                    )
                ),
                name="availability_exception_times_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.date}"


class Patient(models.Model):
    """A patient's clinical identity, separate from any login (a child has none)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="patient",
    )
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        # Granted per patient with django-guardian to the account holders who act for them.
        permissions = [
            ("book_for_patient", "Can book appointments for the patient"),
            ("view_records_patient", "Can view the patient's records"),
            ("request_sos_patient", "Can request SOS for the patient"),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or (self.user.email if self.user_id else str(self.public_id))


class PatientUserObjectPermission(UserObjectPermissionBase):
    """guardian's direct foreign-key permission table for patients (its performance advice)."""

    content_object = models.ForeignKey(Patient, on_delete=models.CASCADE)


class PatientGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Patient, on_delete=models.CASCADE)


class AppointmentQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=Appointment.ACTIVE_STATUSES)

    def overlapping(self, start_at, end_at):
        return self.filter(start_at__lt=end_at, end_at__gt=start_at)


class Appointment(models.Model):
    """A booked consultation. Never deleted: cancelled, rescheduled and no-show rows stay.

    The database refuses two active appointments that overlap for one doctor or one patient
    (PostgreSQL exclusion constraints, SQLite triggers: see the scheduling migration).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting confirmation")
        CONFIRMED = "confirmed", _("Confirmed")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("No-show")
        RESCHEDULED = "rescheduled", _("Rescheduled")

    ACTIVE_STATUSES = (Status.PENDING, Status.CONFIRMED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="appointments")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments_booked"
    )
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    # The start's date in the hospital's zone: the "one a day per doctor" rule is about it.
    local_date = models.DateField()
    mode = models.CharField(max_length=16, choices=ConsultationMode.choices)
    location = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    no_show_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointments_cancelled",
    )
    cancellation_reason = models.CharField(max_length=500, blank=True)
    # Set by the reminder job with a conditional UPDATE: whoever sets it sends the reminder,
    # so each goes out once even when the job runs twice or in two clusters.
    reminder_24h_sent_at = models.DateTimeField(null=True, blank=True)
    reminder_2h_sent_at = models.DateTimeField(null=True, blank=True)
    rescheduled_to = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rescheduled_from",
    )

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["start_at"]
        indexes = [
            models.Index(fields=["doctor", "start_at"]),
            models.Index(fields=["patient", "start_at"]),
            models.Index(fields=["status", "start_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_at__gt=models.F("start_at")),
                name="appointment_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["patient", "doctor", "local_date"],
                condition=models.Q(status__in=["pending", "confirmed"]),
                name="appointment_one_active_per_patient_doctor_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} with {self.doctor} at {self.start_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class Rating(models.Model):
    """A patient's rating of a completed visit: 1 to 5 stars and an optional short review,
    once per appointment."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    appointment = models.OneToOneField(Appointment, on_delete=models.PROTECT, related_name="rating")
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="ratings")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ratings_given"
    )
    stars = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    review = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(stars__gte=1, stars__lte=5), name="rating_stars_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stars}/5 for {self.doctor}"


class WaitlistEntry(models.Model):
    """A patient waiting for a slot with a doctor between two local dates."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        BOOKED = "booked", _("Booked")
        LEFT = "left", _("Left the waitlist")
        ENDED = "ended", _("Date range passed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="waitlist")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="waitlist")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="waitlist_entries"
    )
    date_from = models.DateField()
    date_to = models.DateField()
    reason = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # First come, first offered.
        ordering = ["created_at", "pk"]
        verbose_name_plural = _("waitlist entries")
        indexes = [models.Index(fields=["doctor", "status", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(date_to__gte=models.F("date_from")),
                name="waitlist_entry_range_in_order",
            ),
            models.UniqueConstraint(
                fields=["doctor", "patient"],
                condition=models.Q(status="waiting"),
                name="waitlist_one_waiting_entry_per_patient_doctor",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} waiting for {self.doctor} {self.date_from} to {self.date_to}"


class WaitlistOfferQuerySet(models.QuerySet):
    def holding(self, now):
        """Open offers still inside their hold: their slots are bookable only by the offeree."""
        return self.filter(status=WaitlistOffer.Status.OPEN, expires_at__gt=now)


class WaitlistOffer(models.Model):
    """A freed slot offered to one waitlist entry, held for it until `expires_at`."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        EXPIRED = "expired", _("Expired")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.PROTECT, related_name="offers")
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="waitlist_offers")
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    local_date = models.DateField()
    mode = models.CharField(max_length=16, choices=ConsultationMode.choices)
    location = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    appointment = models.OneToOneField(
        Appointment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="waitlist_offer",
    )

    objects = WaitlistOfferQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"])]
        constraints = [
            # One hold per slot, and an entry is never offered the same slot twice.
            models.UniqueConstraint(
                fields=["doctor", "start_at"],
                condition=models.Q(status="open"),
                name="waitlist_one_open_offer_per_slot",
            ),
            models.UniqueConstraint(
                fields=["entry", "start_at"], name="waitlist_offer_once_per_entry_slot"
            ),
        ]

    def __str__(self) -> str:
        return f"Offer {self.start_at:%Y-%m-%d %H:%M} to {self.entry.patient}"
