"""Who may know a patient exists and what they may do with the data: `patient_access`, the
one place the patient's permission helper and every clinical page ask."""

from datetime import timedelta

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from clinic.models import BreakGlassAccess, Patient
from clinic.permissions import Capability, patient_access
from tests.factories import local_datetime, make_appointment, make_doctor


@pytest.fixture
def child(amina):
    noah = Patient.objects.create(first_name="Noah", last_name="Okafor")
    for codename in ("view_patient", "book_for_patient", "view_records_patient"):
        assign_perm(f"clinic.{codename}", amina, noah)
    return noah


@pytest.mark.django_db
def test_a_patient_may_do_everything_but_write_records_on_her_own_record(amina):
    access = patient_access(amina, amina.patient)

    assert access.knows and access.is_self and not access.acting_for_patient
    assert access.may(Capability.VIEW_RECORDS) and access.may(Capability.CHANGE_PROFILE)
    assert not access.may(Capability.WRITE_RECORDS)


@pytest.mark.django_db
def test_a_parent_may_do_what_her_permissions_on_the_child_say(amina, child):
    access = patient_access(amina, child)

    assert access.knows and access.acting_for_patient
    assert access.may(Capability.BOOK) and access.may(Capability.VIEW_RECORDS)
    assert not access.may(Capability.CHANGE_PROFILE)  # not granted
    assert not access.may(Capability.REQUEST_SOS)


@pytest.mark.django_db
def test_another_patient_editor_and_anonymous_do_not_know_the_patient(ben, eddie, child):
    from django.contrib.auth.models import AnonymousUser

    for user in (ben, eddie, AnonymousUser()):
        assert not patient_access(user, child).knows


@pytest.mark.django_db
def test_only_the_treating_doctor_reads_and_writes_records(dr_clara, dr_omar, amina):
    clara, omar = make_doctor(dr_clara), make_doctor(dr_omar)
    make_appointment(clara, amina.patient, local_datetime(2, 9), booked_by=amina)

    treating = patient_access(dr_clara, amina.patient)
    other = patient_access(dr_omar, amina.patient)

    assert treating.treating and treating.may(Capability.WRITE_RECORDS)
    assert omar.is_verified and not other.knows


@pytest.mark.django_db
def test_a_visit_long_ago_ends_the_care_relationship(dr_clara, amina, settings):
    clara = make_doctor(dr_clara)
    make_appointment(
        clara,
        amina.patient,
        local_datetime(-settings.CARE_RELATIONSHIP_DAYS - 2, 9),
        booked_by=amina,
        status="completed",
    )

    assert not patient_access(dr_clara, amina.patient).knows


@pytest.mark.django_db
def test_break_the_glass_lets_a_doctor_read_until_it_expires(dr_omar, amina):
    omar = make_doctor(dr_omar)
    now = timezone.now()
    BreakGlassAccess.objects.create(
        doctor=omar,
        patient=amina.patient,
        reason="Unconscious in the emergency room",
        started_at=now - timedelta(hours=1),
        expires_at=now + timedelta(hours=2),
    )

    during = patient_access(dr_omar, amina.patient)
    after = patient_access(dr_omar, amina.patient, now=now + timedelta(hours=3))

    assert during.may(Capability.VIEW_RECORDS) and not during.may(Capability.WRITE_RECORDS)
    assert not after.knows


@pytest.mark.django_db
def test_an_admin_knows_the_patient_but_reads_nothing_clinical(ada, amina):
    access = patient_access(ada, amina.patient)

    assert access.knows
    assert not access.may(Capability.VIEW_RECORDS)
    assert not access.may(Capability.VIEW_PROFILE)


@pytest.mark.django_db
def test_records_are_offered_for_every_patient_the_user_reads_for(client_for, amina, ben):
    """A proxy who may read records but not book still finds them under Records."""
    from clinic.permissions import patients_user_may_read_records_of

    assign_perm("clinic.view_records_patient", ben, amina.patient)

    assert set(patients_user_may_read_records_of(ben)) == {ben.patient, amina.patient}
    page = client_for(ben).get("/records/")
    assert page.status_code == 200
    assert f"/patients/{amina.patient.public_id}/records/" in page.content.decode()
