import base64
import hashlib
from functools import cache

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from cryptography.fernet import Fernet
from django.conf import settings
from django.urls import reverse

ENCRYPTED_PREFIX = "fernet:"


@cache
def _mfa_fernet() -> Fernet:
    key = settings.MFA_ENCRYPTION_KEY
    if not key:
        # Derived from SECRET_KEY unless a dedicated key is set; rotating SECRET_KEY then
        # needs MFA_ENCRYPTION_KEY set to the old derived key (see README).
        digest = hashlib.sha256(b"hospital.mfa:" + settings.SECRET_KEY.encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key)


class AccountAdapter(DefaultAccountAdapter):
    """Public signup creates patients only; staff accounts are made by admins."""

    def save_user(self, request, user, form, commit=True):
        from core.models import Role
        from core.services import user_set_role

        user = super().save_user(request, user, form, commit=commit)
        if commit:
            from clinic.services.patients import patient_create_for_account

            user_set_role(user=user, role=Role.PATIENT)
            patient_create_for_account(user=user, request=request)
        return user

    def get_login_redirect_url(self, request):
        return reverse("home")


class MFAAdapter(DefaultMFAAdapter):
    """TOTP and recovery-code seeds are encrypted at rest: a copy of the database alone does
    not let anyone generate a staff member's codes."""

    def encrypt(self, text: str) -> str:
        return ENCRYPTED_PREFIX + _mfa_fernet().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        if not encrypted_text.startswith(ENCRYPTED_PREFIX):
            return encrypted_text  # stored before encryption was switched on
        token = encrypted_text.removeprefix(ENCRYPTED_PREFIX).encode()
        return _mfa_fernet().decrypt(token).decode()

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        # Staff may not switch off their authenticator app while the policy requires it.
        user = authenticator.user
        if (
            settings.STAFF_MFA_REQUIRED
            and user.is_staff_role
            and authenticator.type == Authenticator.Type.TOTP
        ):
            return False
        return super().can_delete_authenticator(authenticator)
