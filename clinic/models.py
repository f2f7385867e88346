"""Clinical models. The foundation holds the minimum the role homes and demo data need;
the scheduling and records issues extend them."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

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
