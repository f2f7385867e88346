"""The four roles as Django groups, with the permissions each holds.

Created idempotently after every `migrate` and by `manage.py setup_roles` (run by `make run`
and the release command). Object-level access to patients and records is granted per object
with django-guardian, not here.
"""

from django.contrib.auth.models import Group, Permission

from core.models import Role

# app_label.codename for each role. Later issues add clinical and editorial permissions.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.PATIENT: [],
    Role.DOCTOR: [
        "wagtailadmin.access_admin",
    ],
    Role.EDITOR: [
        "wagtailadmin.access_admin",
    ],
    Role.ADMIN: [
        "wagtailadmin.access_admin",
        "core.view_auditevent",
        "core.view_user",
        "core.change_user",
        "clinic.view_sosrequest",
        # The CMS screens: doctor applications, and oversight of appointments, deliveries
        # and emergency (break-the-glass) access.
        "clinic.view_doctor",
        "clinic.verify_doctor",
        "clinic.view_appointment",
        "clinic.view_delivery",
        "clinic.change_delivery",
        "clinic.view_breakglassaccess",
        "clinic.change_breakglassaccess",
    ],
}


def roles_setup(*, strict: bool = True) -> dict[str, Group]:
    """Create the role groups and set exactly the permissions listed above.

    `strict=False` (after a partial `migrate`) skips permissions that do not exist yet.
    """
    groups = {}
    for role, perm_names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for name in perm_names:
            app_label, codename = name.split(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is None:
                if strict:
                    raise Permission.DoesNotExist(f"Permission {name} does not exist")
                continue
            permissions.append(permission)
        group.permissions.set(permissions)
        groups[role] = group
    return groups
