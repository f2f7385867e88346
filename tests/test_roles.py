"""The four roles as groups with their permissions; changing a role moves groups and is audited."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from core.models import AuditEvent, Role
from core.roles import ROLE_PERMISSIONS
from core.services import user_set_role


def _snapshot() -> dict[str, set[str]]:
    """{group name: {app_label.codename, ...}} for every group in the database."""
    return {
        group.name: {
            f"{perm.content_type.app_label}.{perm.codename}"
            for perm in group.permissions.select_related("content_type")
        }
        for group in Group.objects.all()
    }


def _expected() -> dict[str, set[str]]:
    return {str(role): set(perms) for role, perms in ROLE_PERMISSIONS.items()}


@pytest.mark.django_db
def test_role_groups_exist_after_migrate_with_their_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)
    snapshot = _snapshot()
    for role, perms in _expected().items():
        assert snapshot[role] == perms
    assert "core.view_auditevent" in snapshot[Role.ADMIN]
    assert "wagtailadmin.access_admin" not in snapshot[Role.PATIENT]


@pytest.mark.django_db
def test_setup_roles_is_idempotent(capsys):
    Group.objects.filter(name=Role.DOCTOR).delete()
    Group.objects.get(name=Role.PATIENT).permissions.clear()
    admin = Group.objects.get(name=Role.ADMIN)
    admin.permissions.remove(*admin.permissions.all()[:1])

    call_command("setup_roles")
    first = _snapshot()
    group_ids = dict(Group.objects.values_list("name", "pk"))
    call_command("setup_roles")
    second = _snapshot()

    assert first == second
    assert {name: first[name] for name in Role.values} == _expected()
    assert dict(Group.objects.values_list("name", "pk")) == group_ids
    assert Group.objects.filter(name__in=Role.values).count() == len(Role.values)
    assert "Roles ready" in capsys.readouterr().out


@pytest.mark.django_db
def test_setup_roles_removes_a_permission_added_by_hand():
    from django.contrib.auth.models import Permission

    stray = Permission.objects.get(content_type__app_label="core", codename="delete_user")
    Group.objects.get(name=Role.EDITOR).permissions.add(stray)

    call_command("setup_roles")

    assert _snapshot()[Role.EDITOR] == _expected()[Role.EDITOR]


@pytest.mark.django_db
def test_new_user_is_in_exactly_the_group_of_their_role(amina, dr_clara):
    assert list(amina.groups.values_list("name", flat=True)) == [Role.PATIENT]
    assert list(dr_clara.groups.values_list("name", flat=True)) == [Role.DOCTOR]
    assert dr_clara.has_perm("wagtailadmin.access_admin")
    assert not amina.has_perm("wagtailadmin.access_admin")


@pytest.mark.django_db
def test_user_set_role_moves_groups_and_writes_an_audit_event(rf, ben, ada):
    request = rf.post("/", REMOTE_ADDR="198.51.100.23")
    request.user = ada

    user_set_role(user=ben, role=Role.EDITOR, actor=ada, request=request)

    ben.refresh_from_db()
    assert ben.role == Role.EDITOR
    assert list(ben.groups.values_list("name", flat=True)) == [Role.EDITOR]
    # Permissions follow the group at once (a fresh object has no permission cache).
    ben = type(ben).objects.get(pk=ben.pk)
    assert ben.has_perm("wagtailadmin.access_admin")
    event = AuditEvent.objects.get(action=AuditEvent.Action.ROLE_CHANGED, target_id=ben.public_id)
    assert event.actor == ada
    assert event.ip_address == "198.51.100.23"
    assert event.details == {"from": Role.PATIENT, "to": Role.EDITOR}
    assert event.target_type == "core.user"


@pytest.mark.django_db
def test_user_set_role_back_to_patient_leaves_no_staff_group(dr_clara, ada):
    user_set_role(user=dr_clara, role=Role.PATIENT, actor=ada)

    assert list(dr_clara.groups.values_list("name", flat=True)) == [Role.PATIENT]
    assert not type(dr_clara).objects.get(pk=dr_clara.pk).has_perm("wagtailadmin.access_admin")
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.ROLE_CHANGED, actor=ada, target_id=dr_clara.public_id
    ).exists()


@pytest.mark.django_db
def test_user_set_role_refuses_an_unknown_role(ben):
    with pytest.raises(ValueError):
        user_set_role(user=ben, role="surgeon")

    ben.refresh_from_db()
    assert ben.role == Role.PATIENT
