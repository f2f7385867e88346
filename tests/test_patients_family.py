"""Patient profiles, dependents, proxies, claims and the 18th birthday: the services, the
pages and the daily job, against the shared cast."""

import re
from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.utils import timezone
from guardian.shortcuts import get_perms

from clinic.models import (
    Patient,
    PatientDelegate,
    PatientInvitation,
    PatientScope,
    PatientUserObjectPermission,
)
from clinic.permissions import Capability, patient_access, user_may_book_for
from clinic.scheduling import hospital_zone
from clinic.services.patients import (
    FamilyError,
    adulthood_date,
    claim_invite,
    dependent_add,
    proxy_invite,
)
from clinic.tasks import minors_access_end_daily
from core.models import AuditEvent, Notification
from tests.conftest import htmx
from tests.factories import (
    DoctorUserFactory,
    PatientUserFactory,
    local_datetime,
    make_appointment,
    make_doctor,
)

FIVE = {"view_patient", "change_patient", "book_for_patient", "view_records_patient"}
FIVE |= {"request_sos_patient"}


def _profile_post(**changes) -> dict:
    data = {
        "first_name": "Amina",
        "last_name": "Okafor",
        "date_of_birth": "1990-04-02",
        "sex": "female",
        "blood_type": "",
        "allergies": "",
        "chronic_conditions": "",
        "current_medications": "",
        "emergency_contact_name": "",
        "emergency_contact_phone": "",
        "insurance_id": "",
        "national_id": "",
    }
    data.update(changes)
    return data


@pytest.fixture
def noah(amina):
    """Amina's six-year-old son, added through the service."""
    return dependent_add(
        by=amina,
        first_name="Noah",
        last_name="Okafor",
        date_of_birth=timezone.localdate() - timedelta(days=6 * 365),
        relationship=PatientDelegate.Relationship.CHILD,
    )


@pytest.fixture
def grandma(db):
    return PatientUserFactory(email="grandma@example.test", first_name="Grace", last_name="Okafor")


def _token_from(mailoutbox) -> str:
    (message,) = mailoutbox
    return re.search(r"/invitations/([^/\s]+)/", message.body).group(1)


# --- Profiles -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_profile_edit_is_saved_and_audited_with_field_names_only(client_for, amina):
    response = client_for(amina).post(
        "/patient/profile/", _profile_post(allergies="Penicillin", blood_type="O+")
    )

    assert response.status_code == 302
    amina.patient.refresh_from_db()
    assert amina.patient.allergies == "Penicillin"
    event = AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE).latest("at")
    assert event.actor == amina and event.patient_public_id == amina.patient.public_id
    assert not event.acting_for_patient
    assert sorted(event.details["fields"]) == ["allergies", "blood_type", "date_of_birth", "sex"]
    assert "Penicillin" not in str(event.details)


@pytest.mark.django_db
def test_a_national_id_used_by_another_patient_is_refused_next_to_the_field(client_for, amina, ben):
    Patient.objects.filter(pk=ben.patient.pk).update(national_id="756.1234.5678.97")

    response = client_for(amina).post(
        "/patient/profile/", _profile_post(national_id="756.1234.5678.97", allergies="Nuts")
    )

    assert response.status_code == 400
    assert "already has this national id" in response.content.decode()
    amina.patient.refresh_from_db()
    assert amina.patient.national_id == "" and amina.patient.allergies == ""


@pytest.mark.django_db
def test_the_htmx_save_gets_only_the_profile_partial(client_for, amina):
    response = client_for(amina).post(
        "/patient/profile/", _profile_post(allergies="Latex"), **htmx("profile-form")
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="profile-form"' in body and "<html" not in body
    assert response["HX-Trigger"] == "profileChanged"


@pytest.mark.django_db
def test_a_future_date_of_birth_is_refused_in_the_profile(client_for, amina):
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client_for(amina).post(
        "/patient/profile/", _profile_post(date_of_birth=tomorrow.isoformat())
    )
    assert response.status_code == 400


@pytest.mark.django_db
def test_wrong_method_is_405(client_for, amina, noah):
    client = client_for(amina)
    assert client.put("/patient/profile/").status_code == 405
    assert client.delete(f"/patients/{noah.public_id}/").status_code == 405
    assert client.get("/family/dependents/").status_code == 405


# --- Dependents ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_dependent_born_tomorrow_is_refused(client_for, amina):
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client_for(amina).post(
        "/family/dependents/",
        {
            "first_name": "Lina",
            "last_name": "Okafor",
            "date_of_birth": tomorrow.isoformat(),
            "sex": "female",
            "relationship": "child",
        },
    )

    assert response.status_code == 400
    assert "cannot be in the future" in response.content.decode()
    assert not Patient.objects.filter(first_name="Lina").exists()


@pytest.mark.django_db
def test_adding_a_dependent_grants_the_five_permissions_and_booking(client_for, amina):
    born = timezone.localdate() - timedelta(days=4 * 365)
    response = client_for(amina).post(
        "/family/dependents/",
        {
            "first_name": "Lina",
            "last_name": "Okafor",
            "date_of_birth": born.isoformat(),
            "sex": "female",
            "relationship": "child",
        },
    )

    assert response.status_code == 302
    lina = Patient.objects.get(first_name="Lina")
    assert lina.user is None
    assert set(get_perms(amina, lina)) == FIVE
    assert user_may_book_for(amina, lina)
    delegate = lina.delegates.get()
    assert delegate.kind == PatientDelegate.Kind.GUARDIAN and delegate.user == amina
    assert delegate.ends_on == adulthood_date(born)
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.ACCESS_GRANTED, patient_public_id=lina.public_id
    ).exists()
    # The parent sees and edits the child's profile, audited as acting for him.
    client = client_for(amina)
    assert client.get(f"/patients/{lina.public_id}/").status_code == 200
    view = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW).latest("at")
    assert view.acting_for_patient and view.patient_public_id == lina.public_id


def test_a_leap_day_baby_comes_of_age_on_the_first_of_march():
    assert adulthood_date(date(2008, 2, 29)) == date(2026, 3, 1)
    assert adulthood_date(date(2008, 3, 10)) == date(2026, 3, 10)


@pytest.mark.django_db
def test_an_elderly_parent_has_no_end_date(amina):
    mother = dependent_add(
        by=amina,
        first_name="Ifeoma",
        last_name="Okafor",
        date_of_birth=date(1950, 5, 1),
        relationship=PatientDelegate.Relationship.PARENT,
    )
    assert mother.delegates.get().ends_on is None


# --- Proxies ------------------------------------------------------------------------------------


def _invite_grandma(client, patient, mailoutbox, capture, scopes):
    with capture(execute=True):
        response = client.post(
            "/family/proxies/",
            {
                "patient": str(patient.public_id),
                "email": "Grandma@Example.TEST",
                "relationship": "parent",
                "scopes": scopes,
            },
        )
    assert response.status_code == 302
    return _token_from(mailoutbox)


@pytest.mark.django_db
def test_proxy_invite_email_accept_and_only_the_chosen_scopes(
    client_for, amina, ben, grandma, mailoutbox, django_capture_on_commit_callbacks
):
    token = _invite_grandma(
        client_for(amina),
        amina.patient,
        mailoutbox,
        django_capture_on_commit_callbacks,
        [PatientScope.VIEW, PatientScope.BOOK],
    )
    invitation = PatientInvitation.objects.get()
    assert token not in invitation.token_hash and len(invitation.token_hash) == 64
    assert "Amina" not in mailoutbox[0].subject  # no names, nothing clinical in subjects

    # Someone else who got hold of the link cannot use it.
    wrong = client_for(ben).post(f"/invitations/{token}/")
    assert wrong.status_code == 400
    assert "another email address" in wrong.content.decode()

    client = client_for(grandma)
    assert client.get(f"/invitations/{token}/").status_code == 200
    assert client.post(f"/invitations/{token}/").status_code == 302

    delegate = PatientDelegate.objects.get(user=grandma)
    assert delegate.kind == PatientDelegate.Kind.PROXY
    assert set(get_perms(grandma, amina.patient)) == {"view_patient", "book_for_patient"}
    assert client.get(f"/patients/{amina.patient.public_id}/").status_code == 200
    # Editing the profile is not among her scopes: 403, nothing changed.
    denied = client.post(
        f"/patients/{amina.patient.public_id}/", _profile_post(allergies="Everything")
    )
    assert denied.status_code == 403
    assert not patient_access(grandma, amina.patient).may(Capability.VIEW_RECORDS)
    assert user_may_book_for(grandma, amina.patient)
    assert Notification.objects.filter(recipient=amina, title__contains="accepted").exists()
    # The link works once.
    assert client.post(f"/invitations/{token}/").status_code == 400


@pytest.mark.django_db
def test_revoking_a_proxy_removes_access(
    client_for, amina, grandma, mailoutbox, django_capture_on_commit_callbacks
):
    token = _invite_grandma(
        client_for(amina),
        amina.patient,
        mailoutbox,
        django_capture_on_commit_callbacks,
        [PatientScope.VIEW],
    )
    client_for(grandma).post(f"/invitations/{token}/")
    delegate = PatientDelegate.objects.get(user=grandma)
    owner = client_for(amina)
    assert "Grace Okafor" in owner.get("/family/").content.decode()

    response = owner.post(f"/family/delegates/{delegate.public_id}/revoke/")

    assert response.status_code == 302
    delegate.refresh_from_db()
    assert delegate.revoked_at is not None and delegate.revoked_by == amina
    assert get_perms(grandma, amina.patient) == []
    assert client_for(grandma).get(f"/patients/{amina.patient.public_id}/").status_code == 404
    assert Notification.objects.filter(recipient=grandma, title__contains="no longer").exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_REVOKED).count() == 1
    # Gone: a second revoke finds nothing.
    assert owner.post(f"/family/delegates/{delegate.public_id}/revoke/").status_code == 404


@pytest.mark.django_db
def test_a_pending_invitation_can_be_withdrawn_and_its_link_then_fails(
    client, client_for, amina, ben, grandma, mailoutbox, django_capture_on_commit_callbacks
):
    token = _invite_grandma(
        client_for(amina),
        amina.patient,
        mailoutbox,
        django_capture_on_commit_callbacks,
        [PatientScope.VIEW],
    )
    invitation = PatientInvitation.objects.get()
    url = f"/family/invitations/{invitation.public_id}/withdraw/"
    owner = client_for(amina)
    assert "Withdraw" in owner.get("/family/").content.decode()

    # Nobody but who decides about Amina's access learns of it; GET is not a withdrawal.
    assert client_for(ben).post(url).status_code == 404
    assert client_for(grandma).post(url).status_code == 404
    assert client.post(url)["Location"].startswith("/accounts/login/")
    assert owner.get(url).status_code == 405
    assert PatientInvitation.objects.get().revoked_at is None

    assert owner.post(url).status_code == 302

    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert client_for(grandma).post(f"/invitations/{token}/").status_code == 400
    assert not PatientDelegate.objects.filter(user=grandma).exists()
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.ACCESS_REVOKED, reason="invitation withdrawn"
    ).exists()
    assert owner.post(url).status_code == 404  # already withdrawn


@pytest.mark.django_db
def test_an_outsider_cannot_revoke_or_invite(client_for, amina, ben, noah):
    delegate = noah.delegates.get()
    assert client_for(ben).post(f"/family/delegates/{delegate.public_id}/revoke/").status_code == (
        404
    )
    response = client_for(ben).post(
        "/family/proxies/",
        {
            "patient": str(noah.public_id),
            "email": "x@example.test",
            "scopes": ["clinic.view_patient"],
        },
    )
    assert response.status_code == 400  # not one of Ben's choices
    assert delegate.user == amina and get_perms(amina, noah)


@pytest.mark.django_db
def test_only_the_patient_or_a_guardian_may_invite_a_proxy(amina, grandma):
    PatientDelegate.objects.create(
        patient=amina.patient, user=grandma, kind="proxy", relationship="parent"
    )
    with pytest.raises(PermissionDenied):
        proxy_invite(
            patient=amina.patient,
            by=grandma,
            email="other@example.test",
            relationship="other",
            scopes=[PatientScope.VIEW],
        )
    assert not PatientInvitation.objects.exists()


# --- Claims -------------------------------------------------------------------------------------


@pytest.fixture
def mother(amina):
    return dependent_add(
        by=amina,
        first_name="Ifeoma",
        last_name="Okafor",
        date_of_birth=date(1950, 5, 1),
        relationship=PatientDelegate.Relationship.PARENT,
    )


@pytest.fixture
def ifeoma(db):
    return PatientUserFactory(email="ifeoma@example.test", first_name="Ifeoma", last_name="O")


def _claim_token(client, mother, mailoutbox, capture) -> str:
    with capture(execute=True):
        response = client.post(
            "/family/claims/", {"patient": str(mother.public_id), "email": "ifeoma@example.test"}
        )
    assert response.status_code == 302
    return _token_from(mailoutbox)


@pytest.mark.django_db
def test_three_wrong_dates_of_birth_lock_the_claim(
    client_for, amina, mother, ifeoma, mailoutbox, django_capture_on_commit_callbacks
):
    token = _claim_token(client_for(amina), mother, mailoutbox, django_capture_on_commit_callbacks)
    client = client_for(ifeoma)

    for _ in range(2):
        response = client.post(f"/invitations/{token}/", {"date_of_birth": "1951-05-01"})
        assert response.status_code == 400
        assert "does not match" in response.content.decode()
    response = client.post(f"/invitations/{token}/", {"date_of_birth": "1951-05-01"})
    assert response.status_code == 400 and "locked" in response.content.decode()

    # Even the right date no longer works.
    assert client.post(f"/invitations/{token}/", {"date_of_birth": "1950-05-01"}).status_code == 400
    mother.refresh_from_db()
    assert mother.user is None
    invitation = PatientInvitation.objects.get()
    assert invitation.failed_attempts == 3 and invitation.revoked_at is not None


@pytest.mark.django_db
def test_a_claim_links_the_login_and_the_guardian_keeps_a_revocable_grant(
    client_for, amina, mother, ifeoma, mailoutbox, django_capture_on_commit_callbacks
):
    shell = ifeoma.patient  # made at signup, empty
    token = _claim_token(client_for(amina), mother, mailoutbox, django_capture_on_commit_callbacks)
    client = client_for(ifeoma)

    response = client.post(f"/invitations/{token}/", {"date_of_birth": "1950-05-01"})

    assert response.status_code == 302
    mother.refresh_from_db()
    assert mother.user == ifeoma
    assert not Patient.objects.filter(pk=shell.pk).exists()
    assert client.get("/patient/profile/").status_code == 200
    grant = PatientDelegate.objects.get(patient=mother, user=amina)
    assert grant.kind == PatientDelegate.Kind.PROXY and grant.ends_on is None
    assert grant.is_active and user_may_book_for(amina, mother)
    assert Notification.objects.filter(recipient=amina, title__contains="own account").exists()
    # Ifeoma now decides: she sees Amina's grant and revokes it.
    assert "Amina" in client.get("/family/").content.decode()
    assert client.post(f"/family/delegates/{grant.public_id}/revoke/").status_code == 302
    assert client_for(amina).get(f"/patients/{mother.public_id}/").status_code == 404


@pytest.mark.django_db
def test_a_minor_cannot_be_invited_to_claim(amina, noah):
    with pytest.raises(FamilyError):
        claim_invite(patient=noah, by=amina, email="noah@example.test")


# --- The 18th birthday --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_minor_turning_18_loses_the_guardians_access_the_next_day(time_machine, amina):
    zone = hospital_zone()
    time_machine.move_to(datetime(2026, 1, 5, 9, 0, tzinfo=zone), tick=False)
    teen = dependent_add(
        by=amina,
        first_name="Sami",
        last_name="Okafor",
        date_of_birth=date(2008, 2, 29),
        relationship=PatientDelegate.Relationship.CHILD,
    )
    # Sami has a login of his own (so he is told too).
    sami = PatientUserFactory(email="sami@example.test", first_name="Sami")
    Patient.objects.filter(user=sami).delete()
    Patient.objects.filter(pk=teen.pk).update(user=sami)
    assert teen.delegates.get().ends_on == date(2026, 3, 1)

    time_machine.move_to(datetime(2026, 2, 28, 6, 0, tzinfo=zone), tick=False)
    assert minors_access_end_daily() == 0
    assert user_may_book_for(amina, teen)

    time_machine.move_to(datetime(2026, 3, 1, 3, 0, tzinfo=zone), tick=False)
    assert minors_access_end_daily() == 1
    assert minors_access_end_daily() == 0  # a second run changes nothing

    delegate = teen.delegates.get()
    assert delegate.revoked_at is not None and delegate.revoke_reason == "turned 18"
    assert get_perms(amina, teen) == [] and not user_may_book_for(amina, teen)
    assert Notification.objects.filter(recipient=amina, title__contains="turned 18").count() == 1
    assert Notification.objects.filter(recipient=sami, title__contains="turned 18").count() == 1
    assert (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.ACCESS_REVOKED, patient_public_id=teen.public_id
        ).count()
        == 1
    )


def test_the_job_is_scheduled_daily():
    from django_q.models import Schedule

    from core.schedules import PERIODIC_SCHEDULES

    jobs = {fields["func"]: fields for fields in PERIODIC_SCHEDULES.values()}
    assert jobs["clinic.tasks.minors_access_end_daily"]["schedule_type"] == Schedule.DAILY


# --- Who may open a dependent's profile ---------------------------------------------------------


@pytest.mark.django_db
def test_who_may_open_a_dependents_profile(
    client, client_for, amina, ben, dr_clara, eddie, ada, noah
):
    url = f"/patients/{noah.public_id}/"
    clara = make_doctor(dr_clara)
    other_doctor = DoctorUserFactory(email="other.doctor@example.test")
    make_doctor(other_doctor)
    make_appointment(clara, noah, local_datetime(2, 10), booked_by=amina)

    assert client_for(amina).get(url).status_code == 200
    for outsider in (ben, other_doctor, eddie):
        assert client_for(outsider).get(url).status_code == 404
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]
    # The treating doctor reads but may not edit; the admin knows the record but reads nothing.
    assert client_for(dr_clara).get(url).status_code == 200
    assert client_for(dr_clara).post(url, _profile_post()).status_code == 403
    assert client_for(ada).get(url).status_code == 403
    # An unknown id is 404 too.
    assert client_for(amina).get(f"/patients/{Patient().public_id}/").status_code == 404


@pytest.mark.django_db
def test_the_parent_edits_the_childs_profile_as_acting_for_him(client_for, amina, noah):
    data = _profile_post(first_name="Noah", allergies="Peanuts")
    data.pop("date_of_birth")  # read-only for the parent once recorded
    response = client_for(amina).post(f"/patients/{noah.public_id}/", data)

    assert response.status_code == 302
    noah.refresh_from_db()
    assert noah.allergies == "Peanuts"
    event = AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE).latest("at")
    assert event.acting_for_patient and event.actor == amina


@pytest.mark.django_db
def test_the_family_page_and_its_partial(client_for, amina, noah):
    client = client_for(amina)
    page = client.get("/family/")
    assert page.status_code == 200 and "Noah" in page.content.decode()
    partial = client.get("/family/", **htmx("family"))
    assert 'id="family"' in partial.content.decode() and "<html" not in partial.content.decode()


@pytest.mark.django_db
def test_deleting_a_patient_leaves_no_permission_rows(amina, noah):
    assert PatientUserObjectPermission.objects.filter(content_object=noah).count() == 5
    PatientDelegate.objects.filter(patient=noah).delete()
    noah.delete()
    assert not PatientUserObjectPermission.objects.filter(content_object_id=noah.pk).exists()
    assert PatientUserObjectPermission.objects.count() == 0


@pytest.mark.django_db
def test_seed_demo_gives_noah_a_guardian_delegation():
    call_command("seed_demo")
    call_command("seed_demo")

    noah = Patient.objects.get(first_name="Noah")
    delegate = noah.delegates.get()
    assert delegate.kind == PatientDelegate.Kind.GUARDIAN
    assert set(get_perms(delegate.user, noah)) == FIVE
