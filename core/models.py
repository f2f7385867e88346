import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    PATIENT = "patient", _("Patient")
    DOCTOR = "doctor", _("Doctor")
    ADMIN = "admin", _("Admin")
    EDITOR = "editor", _("Editor")


STAFF_ROLES = frozenset({Role.DOCTOR, Role.ADMIN, Role.EDITOR})


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_superuser", False)
        extra.setdefault("is_staff", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_superuser", True)
        extra.setdefault("is_staff", True)
        extra.setdefault("role", Role.ADMIN)
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A login. Email is the username; `public_id` is the only id that appears in URLs.

    `role` decides the home page and the navigation; the permissions of the role come from the
    Django group of the same name, kept in step by `core.services.user_set_role`.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(_("email address"), max_length=254, unique=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.PATIENT)
    is_active = models.BooleanField(_("active"), default=True)
    # Only superusers reach the Django admin; is_staff is kept for Django's own checks.
    is_staff = models.BooleanField(_("Django admin access"), default=False)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name or self.email

    @property
    def is_staff_role(self) -> bool:
        return self.role in STAFF_ROLES


class AuditEvent(models.Model):
    """One line of the audit log: who did what to which object, when, from where, and why.

    Written only by `core.services.audit_record`; never updated or deleted. Clinical reads and
    writes carry the patient concerned and whether the actor acted for them (a proxy).
    """

    # Registered as a Wagtail viewset, it would otherwise get reference-index rows for each
    # entry: five more queries on every audited request and a second table as large as this.
    wagtail_reference_index_ignore = True

    class Action(models.TextChoices):
        LOGIN = "login", _("Logged in")
        LOGIN_FAILED = "login_failed", _("Failed login")
        LOGOUT = "logout", _("Logged out")
        ROLE_CHANGED = "role_changed", _("Role changed")
        MFA_ADDED = "mfa_added", _("Two-factor method added")
        MFA_REMOVED = "mfa_removed", _("Two-factor method removed")
        MFA_RESET = "mfa_reset", _("Recovery codes regenerated")
        PASSWORD_CHANGED = "password_changed", _("Password changed")
        PASSWORD_RESET = "password_reset", _("Password reset")
        EMAIL_CHANGED = "email_changed", _("Email changed")
        SIGNED_UP = "signed_up", _("Signed up")
        SESSION_TIMEOUT = "session_timeout", _("Session expired")
        VIEW = "view", _("Viewed")
        CREATE = "create", _("Created")
        UPDATE = "update", _("Updated")
        EXPORT = "export", _("Exported")
        PRINT = "print", _("Printed")
        DOWNLOAD = "download", _("Downloaded")
        DELETE = "delete", _("Removed")
        ACCESS_GRANTED = "access_granted", _("Access granted")
        ACCESS_REVOKED = "access_revoked", _("Access revoked")
        BREAK_GLASS = "break_glass", _("Emergency access")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    # What a failed login tried, for example; never a password.
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=254, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    # Clinical entries: whose data it was (a patient's public id; core does not import clinic)
    # and, when the actor was a proxy or guardian, that they acted for that patient.
    patient_public_id = models.UUIDField(null=True, blank=True)
    patient_label = models.CharField(max_length=254, blank=True)
    acting_for_patient = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-at"]),
            models.Index(fields=["patient_public_id", "-at"]),
        ]

    def __str__(self) -> str:
        who = self.actor or self.actor_label or "system"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who} {self.get_action_display()}"


class NotificationKind(models.TextChoices):
    """What a notification is about: the user chooses per kind whether it also comes by email."""

    APPOINTMENT = "appointment", _("Bookings, confirmations, moves and cancellations")
    REMINDER = "reminder", _("Appointment reminders")
    WAITLIST = "waitlist", _("Waitlist offers")
    RECORD = "record", _("Medical records and results")
    PRESCRIPTION = "prescription", _("Prescriptions and refills")
    DELIVERY = "delivery", _("Medication deliveries")
    CHAT = "chat", _("Consultation chat")
    SOS = "sos", _("SOS emergency requests")
    ARTICLE = "article", _("Articles and editorial review")
    ACCOUNT = "account", _("Doctor applications and account")
    FAMILY = "family", _("Family members and proxies")
    EMERGENCY_ACCESS = "emergency_access", _("Emergency access to records")
    GENERAL = "general", _("Other")


# Safety and security notices always come by email as well; nobody can switch them off.
EMAIL_ALWAYS_KINDS = frozenset({NotificationKind.SOS, NotificationKind.EMERGENCY_ACCESS})
# Chat messages arrive live on an open page; an email for each would be noise by default.
EMAIL_OFF_BY_DEFAULT_KINDS = frozenset({NotificationKind.CHAT})


class NotificationPreference(models.Model):
    """A user's choice to receive (or not) email for one kind of notification. No row means
    the default for that kind; in-app notifications always arrive."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    email = models.BooleanField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_once")
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.kind} email {'on' if self.email else 'off'}"


class NotificationQuerySet(models.QuerySet):
    def unread(self):
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """An in-app message to one user; created by `core.services.notification_create`."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    kind = models.CharField(
        max_length=32, choices=NotificationKind.choices, default=NotificationKind.GENERAL
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("notification_open", args=[self.public_id])

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
