from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _roles_after_migrate(sender, **kwargs) -> None:
    # Permissions of every app exist only once the last app has migrated.
    if sender is list(apps.get_app_configs())[-1]:
        from blog.editorial import editorial_setup
        from core.roles import roles_setup

        roles_setup(strict=False)
        editorial_setup()


class CoreConfig(AppConfig):
    default = True
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Audit receivers for events raised inside Django and allauth (logins, MFA changes).
        from core import receivers  # noqa: F401

        post_migrate.connect(_roles_after_migrate, dispatch_uid="core.roles_after_migrate")
