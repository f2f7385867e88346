"""The CMS Users screen and the user services behind it: listing, searching and filtering;
deactivating (signed out everywhere, nothing deleted), reactivating, resetting two-factor
authentication and changing roles, each audited; and nobody but an admin reaching any of it."""

from importlib import import_module

import pytest
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import Appointment, Doctor
from clinic.selectors import doctors_listed
from core.models import AuditEvent, Notification, NotificationKind, Role, User
from core.services import (
    UserActionError,
    user_deactivate,
    user_mfa_reset,
    user_reactivate,
    user_role_change,
)
from tests.factories import (
    PASSWORD,
    PatientUserFactory,
    UserFactory,
    local_datetime,
    make_appointment,
    make_doctor,
)

USERS = "/cms/users/"


def manage_url(user) -> str:
    return f"/cms/users/inspect/{user.pk}/"


def signed_in_session(client, user) -> str:
    """A client's session as allauth records it at sign-in (force_login goes around allauth)."""
    session_key = client.session.session_key
    UserSession.objects.create(user=user, session_key=session_key, ip="127.0.0.1", user_agent="t")
    return session_key


def session_exists(session_key: str) -> bool:
    return import_module(django_settings.SESSION_ENGINE).SessionStore().exists(session_key)


# --- the list ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_lists_users_with_role_mfa_and_activity_columns(client_for, ada, amina, dr_clara):
    page = client_for(ada).get(USERS)

    assert page.status_code == 200
    html = page.content.decode()
    for heading in ("Name", "Email", "Role", "Active", "MFA on", "Last login", "Joined"):
        assert f">{heading}" in html or heading in html
    assert "Amina Okafor" in html and amina.email in html
    assert "Clara Weiss" in html and dr_clara.email in html
    # Rows lead to the user's page, never to Wagtail's own user form (passwords, groups).
    assert manage_url(amina) in html
    assert f"/cms/users/edit/{amina.pk}/" not in html
    assert "Add a user" not in html


@pytest.mark.django_db
def test_admin_searches_by_name_and_email_and_filters_by_role_and_active(
    client_for, ada, amina, ben, dr_clara, eddie
):
    client = client_for(ada)
    user_deactivate(user=ben, by=ada, reason="Duplicate account.")

    by_name = client.get(USERS, {"q": "okafor"}).content.decode()
    assert amina.email in by_name and ben.email not in by_name

    full_name = client.get(USERS, {"q": "Amina Okafor"}).content.decode()
    assert amina.email in full_name and ben.email not in full_name

    by_email = client.get(USERS, {"q": "clara@example"}).content.decode()
    assert dr_clara.email in by_email and amina.email not in by_email

    editors = client.get(USERS, {"role": Role.EDITOR}).content.decode()
    assert eddie.email in editors and amina.email not in editors and dr_clara.email not in editors

    inactive = client.get(USERS, {"is_active": "false"}).content.decode()
    assert ben.email in inactive and amina.email not in inactive

    inactive_patients = client.get(
        USERS, {"is_active": "true", "role": Role.PATIENT}
    ).content.decode()
    assert amina.email in inactive_patients and ben.email not in inactive_patients


@pytest.mark.django_db
def test_the_mfa_column_reads_the_authenticators(client_for, ada, dr_omar, dr_clara):
    # Clara enrolled an app, Omar did not: the MFA flag comes in the list's own query.
    users = client_for(ada).get(USERS, {"role": Role.DOCTOR}).context["object_list"]
    flags = {user.email: user.mfa_enabled for user in users}
    assert flags == {dr_clara.email: True, dr_omar.email: False}


@pytest.mark.django_db
def test_the_list_reads_a_fixed_number_of_queries(client_for, ada):
    client = client_for(ada)
    PatientUserFactory.create_batch(2)
    client.get(USERS)  # the first admin request fills caches (site, settings)
    with CaptureQueriesContext(connection) as few:
        assert client.get(USERS).status_code == 200
    PatientUserFactory.create_batch(15, totp=True)
    with CaptureQueriesContext(connection) as many:
        page = client.get(USERS)
    assert len(page.context["object_list"]) == 18
    # The admin, her MFA and permissions, Wagtail's profile, locales and group permissions for
    # the menu, the count and the page of users with their MFA flag: 10, for 3 users or 18.
    assert len(few.captured_queries) == 10
    assert len(many.captured_queries) == len(few.captured_queries)


# --- who may reach it ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_nobody_but_an_admin_reaches_the_users_screen(
    client, client_for, ada, amina, dr_clara, eddie, ben
):
    urls = [USERS, manage_url(ben), f"{USERS}?q=ben", f"/cms/users/edit/{ben.pk}/"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/cms/login/")
    # A patient has no CMS at all; a doctor and an editor reach the CMS but not this screen.
    for user, lands_on in ((amina, "/cms/login/"), (dr_clara, "/cms/"), (eddie, "/cms/")):
        visitor = client_for(user)
        for url in urls[:3]:
            response = visitor.get(url)
            assert response.status_code == 302, (user, url)
            assert response["Location"].split("?")[0] == lands_on
            assert ben.email.encode() not in response.content


@pytest.mark.django_db
def test_nobody_but_an_admin_may_act_on_a_user(client, client_for, amina, dr_clara, eddie, ben):
    actions = [
        {"action": "deactivate", "reason": "Because."},
        {"action": "mfa_reset", "reason": "Because."},
        {"action": "role", "role": Role.ADMIN},
    ]
    for visitor in (client, client_for(amina), client_for(dr_clara), client_for(eddie)):
        for data in actions:
            response = visitor.post(manage_url(ben), data)
            assert response.status_code == 302
            assert response["Location"].split("?")[0] in {"/cms/login/", "/cms/"}
    ben.refresh_from_db()
    assert ben.is_active and ben.role == Role.PATIENT
    assert Authenticator.objects.filter(user=ben).count() == 0
    # Nothing about Ben was written but his creation.
    assert (
        not AuditEvent.objects.filter(target_id=str(ben.public_id))
        .exclude(action=AuditEvent.Action.ROLE_CHANGED, actor=None)
        .exists()
    )


@pytest.mark.django_db
def test_the_services_refuse_anyone_but_an_admin(amina, dr_clara, eddie, ben):
    for actor in (amina, dr_clara, eddie):
        with pytest.raises(PermissionDenied):
            user_deactivate(user=ben, by=actor, reason="x")
        with pytest.raises(PermissionDenied):
            user_reactivate(user=ben, by=actor)
        with pytest.raises(PermissionDenied):
            user_mfa_reset(user=ben, by=actor, reason="x")
        with pytest.raises(PermissionDenied):
            user_role_change(user=ben, by=actor, role=Role.ADMIN)


@pytest.mark.django_db
def test_wagtails_own_user_form_adding_deleting_and_bulk_changes_are_closed(client_for, ada, amina):
    client = client_for(ada)
    edit = client.post(
        f"/cms/users/edit/{amina.pk}/",
        {"email": "taken@example.test", "password1": "x1!Longpassword", "is_superuser": "on"},
    )
    assert edit.status_code == 302 and edit["Location"] == manage_url(amina)
    amina.refresh_from_db()
    assert amina.email == "amina@example.test" and not amina.is_superuser
    assert amina.check_password(PASSWORD)

    # Admins hold no add or delete permission on users.
    assert client.get("/cms/users/new/")["Location"] == "/cms/"
    assert client.post(f"/cms/users/delete/{amina.pk}/")["Location"] == "/cms/"
    assert User.objects.filter(pk=amina.pk).exists()

    for action, data in (
        ("set_active_state", {"mark_as_active": "False"}),
        ("assign_role", {"role": Group.objects.get(name=Role.ADMIN).pk}),
        ("delete", {}),
    ):
        response = client.post(f"/cms/bulk/core/user/{action}/?id={amina.pk}", data)
        assert response.status_code == 403, action
    amina.refresh_from_db()
    assert amina.is_active and amina.role == Role.PATIENT
    assert list(amina.groups.values_list("name", flat=True)) == [Role.PATIENT]


# --- deactivating and reactivating ---------------------------------------------------------------


@pytest.mark.django_db
def test_deactivating_signs_the_user_out_everywhere_and_keeps_everything(
    client_for, ada, ben, dr_clara, django_capture_on_commit_callbacks
):
    clara = make_doctor(dr_clara)
    visit = make_appointment(clara, ben.patient, local_datetime(3, 10))
    ben_client = client_for(ben)
    session_key = signed_in_session(ben_client, ben)
    assert ben_client.get("/patient/").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(ada).post(
            manage_url(ben), {"action": "deactivate", "reason": "Asked to close the account."}
        )

    assert response.status_code == 302 and response["Location"] == manage_url(ben)
    ben.refresh_from_db()
    assert not ben.is_active
    # Signed out: the session is gone, not only refused; his open page lands on the login.
    assert not UserSession.objects.filter(user=ben).exists()
    assert not session_exists(session_key)
    after = ben_client.get("/patient/")
    assert after.status_code == 302 and reverse("account_login") in after["Location"]
    # History kept: the login, the patient record and the appointment are all still there.
    assert User.objects.filter(pk=ben.pk).exists()
    assert Appointment.objects.get(pk=visit.pk).status == Appointment.Status.CONFIRMED
    event = AuditEvent.objects.get(target_id=str(ben.public_id), details__user_active=False)
    assert event.actor == ada and event.reason == "Asked to close the account."
    assert event.action == AuditEvent.Action.UPDATE

    page = client_for(ada).get(manage_url(ben)).content.decode()
    assert "Asked to close the account." in page  # the history on the user's page
    assert 'id="reactivate-form"' in page and 'id="deactivate-form"' not in page


@pytest.mark.django_db
def test_deactivating_needs_a_reason_and_never_oneself(client_for, ada, ben):
    client = client_for(ada)
    response = client.post(manage_url(ben), {"action": "deactivate", "reason": "  "}, follow=True)
    assert "Give a reason for the deactivation." in response.content.decode()
    ben.refresh_from_db()
    assert ben.is_active

    with pytest.raises(UserActionError):
        user_deactivate(user=ada, by=ada, reason="Testing.")
    response = client.post(manage_url(ada), {"action": "deactivate", "reason": "x"}, follow=True)
    assert "You cannot deactivate your own account." in response.content.decode()
    ada.refresh_from_db()
    assert ada.is_active
    assert 'id="deactivate-form"' not in client.get(manage_url(ada)).content.decode()


@pytest.mark.django_db
def test_a_deactivated_doctor_is_unlisted_and_back_when_reactivated(
    client_for, ada, dr_clara, django_capture_on_commit_callbacks
):
    clara = make_doctor(dr_clara)
    clara_client = client_for(dr_clara)
    session_key = signed_in_session(clara_client, dr_clara)
    client = client_for(ada)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(manage_url(dr_clara), {"action": "deactivate", "reason": "Left us."})

    dr_clara.refresh_from_db()
    assert not dr_clara.is_active
    assert clara not in doctors_listed()
    assert not session_exists(session_key)
    # The doctor service wrote the line, against the doctor's profile.
    event = AuditEvent.objects.get(target_type="clinic.doctor", details__user_active=False)
    assert event.target_id == str(clara.public_id) and event.reason == "Left us."
    assert "Left us." in client.get(manage_url(dr_clara)).content.decode()

    client.post(manage_url(dr_clara), {"action": "reactivate", "reason": "Back from leave."})
    dr_clara.refresh_from_db()
    assert dr_clara.is_active
    assert clara in doctors_listed()
    assert AuditEvent.objects.filter(
        target_type="clinic.doctor", details__user_active=True, actor=ada
    ).exists()


@pytest.mark.django_db
def test_reactivating_lets_the_user_sign_in_again(client, ada, ben):
    user_deactivate(user=ben, by=ada, reason="Suspicious logins.")
    assert not client.login(email=ben.email, password=PASSWORD)

    user_reactivate(user=ben, by=ada, reason="Owner confirmed.")

    ben.refresh_from_db()
    assert ben.is_active
    assert AuditEvent.objects.filter(
        target_id=str(ben.public_id), details__user_active=True, reason="Owner confirmed."
    ).exists()
    assert client.login(email=ben.email, password=PASSWORD)
    with pytest.raises(UserActionError):
        user_reactivate(user=ben, by=ada)


# --- two-factor reset ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_resetting_mfa_removes_the_authenticators_and_asks_staff_to_set_it_up_again(
    client_for, ada, eddie, mailoutbox, django_capture_on_commit_callbacks
):
    assert Authenticator.objects.filter(user=eddie).exists()
    eddie_client = client_for(eddie)
    assert eddie_client.get("/cms/").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(ada).post(
            manage_url(eddie), {"action": "mfa_reset", "reason": "Lost his phone."}
        )

    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=eddie).exists()
    event = AuditEvent.objects.get(
        action=AuditEvent.Action.MFA_REMOVED, target_id=str(eddie.public_id)
    )
    assert event.actor == ada and event.reason == "Lost his phone."
    assert event.details["removed"] == [Authenticator.Type.TOTP]
    notice = Notification.objects.get(recipient=eddie)
    assert notice.kind == NotificationKind.ACCOUNT and "two-factor" in notice.title
    assert [message.to for message in mailoutbox] == [[eddie.email]]
    # The staff gate now sends him to set up an authenticator app before anything else.
    gated = eddie_client.get("/cms/")
    assert gated.status_code == 302 and gated["Location"] == reverse("mfa_activate_totp")


@pytest.mark.django_db
def test_mfa_reset_needs_a_reason_something_to_reset_and_another_user(ada, dr_omar, eddie):
    with pytest.raises(UserActionError):
        user_mfa_reset(user=eddie, by=ada, reason="")
    with pytest.raises(UserActionError):
        user_mfa_reset(user=dr_omar, by=ada, reason="Lost phone.")  # has none
    with pytest.raises(UserActionError):
        user_mfa_reset(user=ada, by=ada, reason="Lost phone.")
    assert Authenticator.objects.filter(user__in=[eddie, ada]).count() == 2
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.MFA_REMOVED).exists()


# --- roles ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_admin_makes_a_patient_an_editor_through_user_set_role(client_for, ada, ben):
    response = client_for(ada).post(manage_url(ben), {"action": "role", "role": Role.EDITOR})

    assert response.status_code == 302
    ben.refresh_from_db()
    assert ben.role == Role.EDITOR
    assert list(ben.groups.values_list("name", flat=True)) == [Role.EDITOR]
    event = AuditEvent.objects.get(action=AuditEvent.Action.ROLE_CHANGED, actor=ada)
    assert event.details == {"from": Role.PATIENT, "to": Role.EDITOR}
    assert event.target_id == str(ben.public_id)


@pytest.mark.django_db
def test_role_changes_that_would_break_a_doctor_or_lock_out_an_admin_are_refused(
    client_for, ada, ben, dr_clara, amina
):
    make_doctor(dr_clara)
    applicant = PatientUserFactory(email="applicant@example.test")
    make_doctor(applicant, status=Doctor.Status.PENDING)
    refused = [
        (ben, Role.DOCTOR),  # doctors come through verification
        (dr_clara, Role.PATIENT),  # a doctor's role follows the application
        (applicant, Role.ADMIN),  # so does an applicant's
        (ada, Role.PATIENT),  # never one's own
        (amina, "superhero"),
    ]
    for user, role in refused:
        with pytest.raises(UserActionError):
            user_role_change(user=user, by=ada, role=role)
    response = client_for(ada).post(
        manage_url(dr_clara), {"action": "role", "role": Role.ADMIN}, follow=True
    )
    assert "role follows the application" in response.content.decode()
    assert User.objects.get(pk=dr_clara.pk).role == Role.DOCTOR
    assert User.objects.get(pk=applicant.pk).role == Role.PATIENT
    assert User.objects.get(pk=ada.pk).role == Role.ADMIN
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ROLE_CHANGED, actor=ada).exists()


@pytest.mark.django_db
def test_a_new_admin_must_set_up_two_factor_first(client_for, ada):
    patient = UserFactory(email="promoted@example.test")
    user_role_change(user=patient, by=ada, role=Role.ADMIN)
    response = client_for(patient).get("/cms/users/")
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")
