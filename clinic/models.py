"""Clinical models. The foundation holds the minimum the role homes and demo data need;
the scheduling and records issues extend them."""

import uuid
from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
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
    # Set while the doctor has marked themselves on duty: they then receive SOS alerts.
    on_duty_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user__last_name", "user__first_name"]
        permissions = [("verify_doctor", "Can verify or reject doctor applications")]

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

    class Sex(models.TextChoices):
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        OTHER = "other", _("Other")
        UNKNOWN = "unknown", _("Not stated")

    class BloodType(models.TextChoices):
        UNKNOWN = "", _("Unknown")
        A_POS = "A+", "A+"
        A_NEG = "A-", "A-"
        B_POS = "B+", "B+"
        B_NEG = "B-", "B-"
        AB_POS = "AB+", "AB+"
        AB_NEG = "AB-", "AB-"
        O_POS = "O+", "O+"
        O_NEG = "O-", "O-"

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
    sex = models.CharField(max_length=8, choices=Sex.choices, default=Sex.UNKNOWN)
    blood_type = models.CharField(
        max_length=3, choices=BloodType.choices, default=BloodType.UNKNOWN, blank=True
    )
    allergies = models.TextField(blank=True)
    chronic_conditions = models.TextField(blank=True)
    current_medications = models.TextField(blank=True)
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_phone = models.CharField(max_length=40, blank=True)
    insurance_id = models.CharField(max_length=64, blank=True)
    # Unique when set (a partial constraint: many patients have none).
    national_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        # Granted per patient with django-guardian to the account holders who act for them.
        permissions = [
            ("book_for_patient", "Can book appointments for the patient"),
            ("view_records_patient", "Can view the patient's records"),
            ("request_sos_patient", "Can request SOS for the patient"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["national_id"],
                condition=~models.Q(national_id=""),
                name="patient_national_id_unique_when_set",
            ),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or (self.user.email if self.user_id else str(self.public_id))

    def age_on(self, day) -> int | None:
        if self.date_of_birth is None:
            return None
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


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
    # An online consultation's chat closes when the doctor ends it (or 2 h after the end).
    chat_closed_at = models.DateTimeField(null=True, blank=True)
    chat_closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="chats_closed",
    )

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["start_at"]
        indexes = [
            models.Index(fields=["doctor", "start_at"]),
            models.Index(fields=["patient", "start_at"]),
            models.Index(fields=["status", "start_at"]),
            # Everything of one period, whatever the status: today's board, the analytics.
            models.Index(fields=["start_at"], name="appointment_start_at_idx"),
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


# --- Family members and proxies -----------------------------------------------------------------


class PatientScope(models.TextChoices):
    """What someone acting for a patient may do: each is a guardian object permission."""

    VIEW = "clinic.view_patient", _("See the profile")
    CHANGE = "clinic.change_patient", _("Edit the profile")
    BOOK = "clinic.book_for_patient", _("Book and manage appointments")
    RECORDS = "clinic.view_records_patient", _("Read medical records and prescriptions")
    SOS = "clinic.request_sos_patient", _("Request SOS")


class PatientDelegate(models.Model):
    """Someone who acts for a patient: the account holder who added a dependent, or an adult
    invited as a proxy. The guardian object permissions are the access; this row says why
    they exist, with which scopes, until when, and lets the patient revoke them."""

    class Kind(models.TextChoices):
        GUARDIAN = "guardian", _("Parent or guardian")
        PROXY = "proxy", _("Proxy")

    class Relationship(models.TextChoices):
        CHILD = "child", _("Child")
        PARENT = "parent", _("Parent")
        SPOUSE = "spouse", _("Spouse or partner")
        SIBLING = "sibling", _("Sibling")
        OTHER = "other", _("Other")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="delegates")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="delegations"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The patient's relationship to the delegate ("child" for a parent's dependent).
    relationship = models.CharField(max_length=16, choices=Relationship.choices)
    scopes = models.JSONField(default=list)
    granted_at = models.DateTimeField(auto_now_add=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="delegations_granted",
    )
    # A guardian's access to a minor ends on this date (the 18th birthday): a daily job.
    ends_on = models.DateField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="delegations_revoked",
    )
    revoke_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["granted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "user"],
                condition=models.Q(revoked_at__isnull=True),
                name="patient_delegate_one_active_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} for {self.patient} ({self.get_kind_display()})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class PatientInvitation(models.Model):
    """An emailed invitation: to act as a proxy for a patient, or (claim) for an adult
    dependent to take over their own record with a login of their own. Only a hash of the
    token is stored."""

    class Kind(models.TextChoices):
        PROXY = "proxy", _("Proxy")
        CLAIM = "claim", _("Claim own account")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="invitations")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    email = models.EmailField()
    relationship = models.CharField(
        max_length=16, choices=PatientDelegate.Relationship.choices, blank=True
    )
    scopes = models.JSONField(default=list)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invitations_sent"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invitations_accepted",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} invitation for {self.patient} to {self.email}"


# --- Medical records ------------------------------------------------------------------------------


class RecordKind(models.TextChoices):
    VISIT_NOTE = "visit_note", _("Visit note")
    DIAGNOSIS = "diagnosis", _("Diagnosis")
    LAB_RESULT = "lab_result", _("Lab result")
    IMAGING = "imaging", _("Imaging report")
    VITALS = "vitals", _("Vital signs")
    ALLERGY = "allergy", _("Allergy")
    IMMUNIZATION = "immunization", _("Immunization")
    PROCEDURE = "procedure", _("Procedure")


class RecordKindPolicy(models.Model):
    """Per record type: whether patients see a new record at once or only after the doctor
    marks it reviewed (lab results, by default)."""

    kind = models.CharField(max_length=16, choices=RecordKind.choices, unique=True)
    release_after_review = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = _("record kind policies")

    def __str__(self) -> str:
        return self.get_kind_display()


class MedicalRecordQuerySet(models.QuerySet):
    def released(self):
        """What the patient and their proxies see: released records only."""
        return self.filter(released_at__isnull=False)


class MedicalRecord(models.Model):
    """One entry in a patient's record, written by a doctor with a care relationship. Never
    deleted; corrections are annotations."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="records")
    author = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="records_written")
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.PROTECT, related_name="records"
    )
    kind = models.CharField(max_length=16, choices=RecordKind.choices)
    title = models.CharField(max_length=200)
    # Visit notes, diagnosis text, imaging findings...: capped by the service.
    text = models.TextField(blank=True)
    # Optional coded value: ICD-10 for a diagnosis, vaccine code for an immunization.
    code = models.CharField(max_length=32, blank=True)
    occurred_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        Doctor, null=True, blank=True, on_delete=models.PROTECT, related_name="records_reviewed"
    )
    # When patients and proxies could first see it (creation, or review when the kind says so).
    released_at = models.DateTimeField(null=True, blank=True)

    objects = MedicalRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_on", "-created_at"]
        indexes = [
            models.Index(fields=["patient", "-occurred_on"]),
            models.Index(fields=["patient", "kind", "-occurred_on"]),
        ]
        permissions = [("annotate_medicalrecord", "Can annotate the medical record")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"


class MedicalRecordUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(MedicalRecord, on_delete=models.CASCADE)


class MedicalRecordGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(MedicalRecord, on_delete=models.CASCADE)


class LabAnalyte(models.Model):
    """One measured value of a lab result, with its reference range."""

    record = models.ForeignKey(MedicalRecord, on_delete=models.CASCADE, related_name="analytes")
    name = models.CharField(max_length=100)
    value = models.DecimalField(max_digits=12, decimal_places=4)
    unit = models.CharField(max_length=32, blank=True)
    reference_low = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    reference_high = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    # Set by the service from the range when the result is written.
    out_of_range = models.BooleanField(default=False)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.name} {self.value} {self.unit}".strip()


class VitalSigns(models.Model):
    record = models.OneToOneField(MedicalRecord, on_delete=models.CASCADE, related_name="vitals")
    systolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    heart_rate_bpm = models.PositiveSmallIntegerField(null=True, blank=True)
    temperature_c = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    respiratory_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    spo2_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    height_cm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)

    class Meta:
        verbose_name_plural = _("vital signs")

    def __str__(self) -> str:
        return f"Vital signs of {self.record_id}"


class RecordAnnotation(models.Model):
    """A doctor's timestamped note on a record; append-only (never edited or deleted)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    record = models.ForeignKey(MedicalRecord, on_delete=models.PROTECT, related_name="annotations")
    author = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="annotations")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Annotation on {self.record_id} at {self.created_at:%Y-%m-%d %H:%M}"


def record_attachment_path(instance: "RecordAttachment", filename: str) -> str:
    return f"records/{instance.record.patient.public_id}/{uuid.uuid4()}{Path(filename).suffix}"


class RecordAttachment(models.Model):
    """A PDF or image attached to a record. Private: served only by a checked view."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    record = models.ForeignKey(MedicalRecord, on_delete=models.PROTECT, related_name="attachments")
    file = models.FileField(upload_to=record_attachment_path)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="record_attachments"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at"]

    def __str__(self) -> str:
        return self.original_name


class BreakGlassAccess(models.Model):
    """A doctor's emergency access to the records of a patient they do not treat: given after
    reauthentication with a reason, for a limited time, reviewed by an admin afterwards."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="break_glass")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="break_glass")
    reason = models.TextField()
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="break_glass_reviewed",
    )
    review_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["doctor", "patient", "-expires_at"])]

    def __str__(self) -> str:
        return f"{self.doctor} → {self.patient} at {self.started_at:%Y-%m-%d %H:%M}"


# --- Prescriptions, refills, delivery -----------------------------------------------------------


class Prescription(models.Model):
    """Issued by the treating doctor from an appointment; issuing completes the visit."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="prescriptions")
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="prescriptions")
    # Empty only for a refill: a renewal is issued without a visit of its own.
    appointment = models.OneToOneField(
        Appointment, null=True, blank=True, on_delete=models.PROTECT, related_name="prescription"
    )
    recommended_tests = models.TextField(blank=True)
    advice = models.TextField(blank=True)
    follow_up_on = models.DateField(null=True, blank=True)
    issued_at = models.DateTimeField()
    # A refill is a new prescription pointing at the one it renews.
    refill_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="refills"
    )

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["patient", "-issued_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(appointment__isnull=False) | models.Q(refill_of__isnull=False),
                name="prescription_from_a_visit_or_a_refill",
            ),
        ]

    def __str__(self) -> str:
        return f"Prescription for {self.patient} on {self.issued_at:%Y-%m-%d}"


class PrescriptionItem(models.Model):
    prescription = models.ForeignKey(Prescription, on_delete=models.CASCADE, related_name="items")
    medication = models.CharField(max_length=200)
    strength = models.CharField(max_length=64, blank=True)
    form = models.CharField(max_length=64, blank=True)
    dose = models.CharField(max_length=64)
    route = models.CharField(max_length=64, blank=True)
    frequency = models.CharField(max_length=100)
    duration = models.CharField(max_length=100, blank=True)
    quantity = models.PositiveSmallIntegerField(null=True, blank=True)
    instructions = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.medication} {self.strength}".strip()


class RefillRequest(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, related_name="refill_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="refill_requests"
    )
    note = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        Doctor, null=True, blank=True, on_delete=models.PROTECT, related_name="refills_decided"
    )
    decision_reason = models.CharField(max_length=500, blank=True)
    new_prescription = models.OneToOneField(
        Prescription,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="from_refill_request",
    )

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["prescription"],
                condition=models.Q(status="requested"),
                name="refill_one_open_request_per_prescription",
            ),
        ]

    def __str__(self) -> str:
        return f"Refill of {self.prescription_id} ({self.get_status_display()})"


class Address(models.Model):
    """A delivery address saved by an account holder; exactly one is the default."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="addresses"
    )
    label = models.CharField(max_length=64, blank=True)
    recipient_name = models.CharField(max_length=200)
    line1 = models.CharField(max_length=200)
    line2 = models.CharField(max_length=200, blank=True)
    postal_code = models.CharField(max_length=16)
    city = models.CharField(max_length=100)
    country = models.CharField(max_length=64, default="Germany")
    phone = models.CharField(max_length=40, blank=True)
    is_default = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "label", "created_at"]
        verbose_name_plural = _("addresses")
        constraints = [
            models.UniqueConstraint(
                fields=["owner"],
                condition=models.Q(is_default=True),
                name="address_one_default_per_owner",
            ),
        ]

    def __str__(self) -> str:
        return ", ".join(part for part in (self.line1, self.postal_code, self.city) if part)


class Delivery(models.Model):
    """Home delivery of a prescription; each step is stamped and notified."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        PREPARING = "preparing", _("Being prepared")
        DISPATCHED = "dispatched", _("On its way")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Delivery failed")
        CANCELLED = "cancelled", _("Cancelled")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, related_name="deliveries"
    )
    address = models.ForeignKey(Address, on_delete=models.PROTECT, related_name="deliveries")
    # The address as it was when requested: an address edited later does not move a parcel.
    address_text = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deliveries_requested"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    requested_at = models.DateTimeField(auto_now_add=True)
    preparing_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["prescription"],
                condition=models.Q(status__in=["requested", "preparing", "dispatched"]),
                name="delivery_one_open_per_prescription",
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery of {self.prescription} ({self.get_status_display()})"


# --- Consultation chat --------------------------------------------------------------------------


class ChatMessage(models.Model):
    """One message in an online appointment's chat. Part of the patient's record: never
    edited, never deleted."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="chat_messages"
    )
    # Denormalised from the appointment so the patient's chat history is one indexed lookup.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="chat_messages")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="chat_messages_sent"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["appointment", "id"]),
            models.Index(fields=["patient", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.sender} at {self.created_at:%Y-%m-%d %H:%M}"


class ChatReadMark(models.Model):
    """How far one participant has read an appointment's chat (the read receipts)."""

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="chat_reads"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_reads"
    )
    last_read = models.ForeignKey(ChatMessage, on_delete=models.PROTECT, related_name="+")
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["appointment", "user"], name="chat_read_mark_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} read to {self.last_read_id}"


# --- SOS emergency requests ---------------------------------------------------------------------


class SOSRequest(models.Model):
    """A patient's emergency request to on-duty staff. Never deleted."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        DISPATCHED = "dispatched", _("Help dispatched")
        RESOLVED = "resolved", _("Resolved")
        CANCELLED = "cancelled", _("Cancelled")
        FALSE_ALARM = "false_alarm", _("False alarm")

    OPEN_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED, Status.DISPATCHED)
    CLOSED_STATUSES = (Status.RESOLVED, Status.CANCELLED, Status.FALSE_ALARM)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="sos_requests")
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sos_raised"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    description = models.TextField(_("what is happening"), blank=True)
    place = models.CharField(_("where"), max_length=300, blank=True)
    # Shared by the browser only when the person allows it.
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    location_accuracy_m = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sos_acknowledged",
    )
    dispatched_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sos_closed",
    )
    close_reason = models.TextField(blank=True)
    # Set once, with a conditional UPDATE, by the job that escalates an unacknowledged request.
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"SOS for {self.patient} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class SOSEvent(models.Model):
    """One step in an SOS request's history: who moved it to which status, and why."""

    sos = models.ForeignKey(SOSRequest, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=16, choices=SOSRequest.Status.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sos_events",
    )
    note = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_status_display()} at {self.at:%H:%M:%S}"
