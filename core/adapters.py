from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.urls import reverse


class AccountAdapter(DefaultAccountAdapter):
    """Public signup creates patients only; staff accounts are made by admins."""

    def save_user(self, request, user, form, commit=True):
        from core.models import Role
        from core.services import user_set_role

        user = super().save_user(request, user, form, commit=commit)
        if commit:
            from clinic.services import patient_create_for_account

            user_set_role(user=user, role=Role.PATIENT)
            patient_create_for_account(user=user, request=request)
        return user

    def get_login_redirect_url(self, request):
        return reverse("home")


class MFAAdapter(DefaultMFAAdapter):
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
