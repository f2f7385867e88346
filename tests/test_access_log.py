""" "Who viewed my records": the patient's access log, and the one of each patient whose
records she reads for them."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from clinic.models import Patient
from clinic.services.break_glass import break_glass_open
from core.models import AuditEvent
from core.services import audit_record
from tests.conftest import htmx
from tests.factories import make_doctor

URL = "/patient/access-log/"
REASON = "Brought in unconscious after a road accident; need allergies and medication."


@pytest.fixture
def child(amina) -> Patient:
    noah = Patient.objects.create(first_name="Noah", last_name="Okafor")
    for codename in ("view_patient", "book_for_patient", "view_records_patient"):
        assign_perm(f"clinic.{codename}", amina, noah)
    return noah


@pytest.mark.django_db
def test_the_patient_sees_who_viewed_her_records_and_emergency_access_with_its_reason(
    client_for, amina, dr_clara, dr_omar
):
    assert reverse("access_log") == URL
    clara = make_doctor(dr_clara)
    make_doctor(dr_omar)
    audit_record(
        action=AuditEvent.Action.VIEW, actor=dr_omar, target=amina.patient, patient=amina.patient
    )
    audit_record(
        action=AuditEvent.Action.PRINT, actor=amina, target=amina.patient, patient=amina.patient
    )
    break_glass_open(doctor=clara, patient=amina.patient, reason=REASON)
    # Not clinical, not hers: neither is listed.
    audit_record(action=AuditEvent.Action.LOGIN, actor=amina)

    response = client_for(amina).get(URL)

    assert response.status_code == 200
    rows = [(e.who, e.action, e.is_emergency) for e in response.context["page"].object_list]
    assert rows == [
        ("Dr Clara Weiss", AuditEvent.Action.BREAK_GLASS, True),
        ("You", AuditEvent.Action.PRINT, False),
        ("Dr Omar Haddad", AuditEvent.Action.VIEW, False),
    ]
    html = response.content.decode()
    assert "<mark>Emergency access</mark>" in html and REASON in html


@pytest.mark.django_db
def test_a_parent_sees_her_childs_log_and_her_own_actions_as_you(
    client_for, amina, child, dr_clara, ben
):
    audit_record(action=AuditEvent.Action.VIEW, actor=dr_clara, target=child, patient=child)
    audit_record(
        action=AuditEvent.Action.DOWNLOAD,
        actor=amina,
        target=child,
        patient=child,
        acting_for_patient=True,
    )
    audit_record(
        action=AuditEvent.Action.VIEW, actor=dr_clara, target=amina.patient, patient=amina.patient
    )
    parent = client_for(amina)

    own = parent.get(URL)
    childs = parent.get(URL, {"patient": str(child.public_id)})

    assert set(own.context["choices"]) == {amina.patient, child}
    assert own.context["patient"] == amina.patient
    assert len(own.context["page"].object_list) == 1
    assert childs.status_code == 200
    assert childs.context["patient"] == child
    assert [e.who for e in childs.context["page"].object_list] == ["You", "Dr Clara Weiss"]
    assert "Records of Noah Okafor" in childs.content.decode()
    assert 'name="patient"' in own.content.decode()  # the selector, as she has two


@pytest.mark.django_db
def test_a_family_member_is_named_in_the_log(client_for, amina, child, ben):
    # Ben reads Noah's records as a proxy; Amina sees his name, Ben sees "You".
    assign_perm("clinic.view_records_patient", ben, child)
    audit_record(
        action=AuditEvent.Action.VIEW,
        actor=ben,
        target=child,
        patient=child,
        acting_for_patient=True,
    )

    for_amina = client_for(amina).get(URL, {"patient": str(child.public_id)})
    for_ben = client_for(ben).get(URL, {"patient": str(child.public_id)})

    assert [e.who for e in for_amina.context["page"].object_list] == ["Ben Keller"]
    assert [e.who for e in for_ben.context["page"].object_list] == ["You"]


@pytest.mark.django_db
def test_an_outsider_gets_404_and_a_proxy_without_records_scope_403(client_for, amina, child, ben):
    outsider = client_for(ben)

    assert outsider.get(URL, {"patient": str(amina.patient.public_id)}).status_code == 404
    assert outsider.get(URL, {"patient": str(child.public_id)}).status_code == 404
    assert outsider.get(URL, {"patient": "not-a-uuid"}).status_code == 404
    assign_perm("clinic.view_patient", ben, child)
    assert outsider.get(URL, {"patient": str(child.public_id)}).status_code == 403
    # Ben's own log never shows Amina's entries.
    audit_record(
        action=AuditEvent.Action.VIEW, actor=amina, target=amina.patient, patient=amina.patient
    )
    assert list(outsider.get(URL).context["page"].object_list) == []


@pytest.mark.django_db
def test_staff_and_anonymous_are_refused(client, client_for, dr_clara, eddie, ada):
    make_doctor(dr_clara)
    for user in (dr_clara, eddie, ada):
        assert client_for(user).get(URL).status_code == 403
    assert client.get(URL)["Location"].startswith(reverse("account_login"))


@pytest.mark.django_db
def test_wrong_method_and_htmx_partial(client_for, amina):
    patient_client = client_for(amina)

    assert patient_client.post(URL).status_code == 405
    partial = patient_client.get(URL, **htmx("access-log"))
    html = partial.content.decode()
    assert html.lstrip().startswith('<section id="access-log"') and "<html" not in html


@pytest.mark.django_db
def test_the_log_is_paginated(client_for, amina, dr_clara):
    for _ in range(30):
        audit_record(
            action=AuditEvent.Action.VIEW,
            actor=dr_clara,
            target=amina.patient,
            patient=amina.patient,
        )

    first = client_for(amina).get(URL)
    second = client_for(amina).get(URL, {"page": 2})

    assert len(first.context["page"].object_list) == 25
    assert len(second.context["page"].object_list) == 5
    assert "page=2" in first.content.decode()


def _fill(amina, child, actors, count):
    now = timezone.now()
    AuditEvent.objects.filter(patient_public_id=child.public_id).delete()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=now - timedelta(minutes=n),
            actor=actors[n % len(actors)],
            action=AuditEvent.Action.VIEW if n % 3 else AuditEvent.Action.BREAK_GLASS,
            target_label=f"Record {n}",
            reason="Emergency" if n % 3 == 0 else "",
            patient_public_id=child.public_id,
            patient_label=str(child),
            acting_for_patient=actors[n % len(actors)] == amina,
        )
        for n in range(count)
    )


# The session, the user, the patients she may read for, the selected patient with her
# permissions on it, her results held for review, the notification badge, the page count and
# the page of events.
ACCESS_LOG_QUERIES = 9


@pytest.mark.django_db
def test_the_access_log_runs_a_fixed_number_of_queries(
    client_for, amina, child, dr_clara, ben, eddie, django_assert_num_queries
):
    make_doctor(dr_clara)
    parent = client_for(amina)
    actors = [dr_clara, amina, ben, eddie, None]

    _fill(amina, child, actors, 5)
    with CaptureQueriesContext(connection) as few:
        parent.get(URL, {"patient": str(child.public_id)})
    _fill(amina, child, actors, 50)
    with django_assert_num_queries(ACCESS_LOG_QUERIES):
        many = parent.get(URL, {"patient": str(child.public_id)})

    assert len(few) == ACCESS_LOG_QUERIES
    assert len(many.context["page"].object_list) == 25
    assert {e.who for e in many.context["page"].object_list} == {
        "Dr Clara Weiss",
        "You",
        "Ben Keller",
        "Hospital staff",
    }
