"""The CMS oversight screens: appointments (filters, search, audited CSV export), deliveries
(status updates through the delivery service) and the emergency-access review queue; admins
only, with the generic edit forms closed."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.models import Appointment, BreakGlassAccess, Delivery
from clinic.services.break_glass import break_glass_open
from clinic.services.prescriptions import address_add, delivery_request, prescription_issue
from core.models import AuditEvent, Notification, NotificationKind
from core.services import audit_record
from tests.factories import (
    DoctorUserFactory,
    PatientUserFactory,
    local_datetime,
    make_appointment,
    make_doctor,
)

APPOINTMENTS = "/cms/appointments/"
DELIVERIES = "/cms/deliveries/"
EMERGENCY = "/cms/emergency-access/"
REASON = "Brought in unconscious after a road accident; need allergies and medication."
ITEM = {"medication": "Amoxicillin", "strength": "500 mg", "dose": "1 tablet", "frequency": "3x"}
HOME = {"recipient_name": "Amina Okafor", "line1": "Hauptstr. 1", "postal_code": "10115",
        "city": "Berlin"}  # fmt: skip


def inspect_url(prefix: str, obj) -> str:
    return f"{prefix}inspect/{obj.pk}/"


@pytest.fixture
def clara(dr_clara):
    return make_doctor(dr_clara)


@pytest.fixture
def omar(dr_omar):
    return make_doctor(dr_omar)


@pytest.fixture
def agenda(clara, omar, amina, ben):
    """Amina with Dr Clara in two days (confirmed) and in five (cancelled); Ben with Dr Omar in
    two days (pending)."""
    return {
        "amina_soon": make_appointment(clara, amina.patient, local_datetime(2, 9)),
        "amina_later": make_appointment(
            clara,
            amina.patient,
            local_datetime(5, 11),
            status=Appointment.Status.CANCELLED,
            cancellation_reason="Feeling better",
        ),
        "ben_soon": make_appointment(
            omar, ben.patient, local_datetime(2, 10), status=Appointment.Status.PENDING
        ),
    }


@pytest.fixture
def delivery(clara, dr_clara, amina):
    visit = make_appointment(clara, amina.patient, timezone.now() - timedelta(minutes=10))
    prescription = prescription_issue(appointment=visit, by=dr_clara, items=[ITEM])
    address = address_add(owner=amina, fields=HOME)
    return delivery_request(prescription=prescription, address=address, by=amina)


@pytest.fixture
def access(clara, amina):
    return break_glass_open(doctor=clara, patient=amina.patient, reason=REASON)


def names_in(response) -> set[str]:
    return {str(row.patient) for row in response.context["object_list"]}


# --- appointments --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_lists_and_filters_appointments_by_doctor_status_and_date(
    client_for, ada, agenda, clara, omar
):
    client = client_for(ada)
    everything = client.get(APPOINTMENTS)
    assert everything.status_code == 200
    assert len(everything.context["object_list"]) == 3
    html = everything.content.decode()
    assert "Amina Okafor" in html and "Ben Keller" in html and "Dr Omar Haddad" in html

    by_doctor = client.get(APPOINTMENTS, {"doctor": omar.pk})
    assert [a.pk for a in by_doctor.context["object_list"]] == [agenda["ben_soon"].pk]

    cancelled = client.get(APPOINTMENTS, {"status": Appointment.Status.CANCELLED})
    assert [a.pk for a in cancelled.context["object_list"]] == [agenda["amina_later"].pk]

    day = agenda["amina_soon"].local_date.isoformat()
    on_the_day = client.get(APPOINTMENTS, {"local_date_from": day, "local_date_to": day})
    assert {a.pk for a in on_the_day.context["object_list"]} == {
        agenda["amina_soon"].pk,
        agenda["ben_soon"].pk,
    }


@pytest.mark.django_db
def test_admin_searches_appointments_by_patient_name(client_for, ada, agenda):
    client = client_for(ada)
    assert names_in(client.get(APPOINTMENTS, {"q": "keller"})) == {"Ben Keller"}
    assert names_in(client.get(APPOINTMENTS, {"q": "amina okafor"})) == {"Amina Okafor"}
    assert not client.get(APPOINTMENTS, {"q": "amina keller"}).context["object_list"]


@pytest.mark.django_db
def test_appointment_list_reads_a_fixed_number_of_queries(client_for, ada, clara, omar, amina):
    client = client_for(ada)
    make_appointment(clara, amina.patient, local_datetime(1, 9))
    client.get(APPOINTMENTS)
    with CaptureQueriesContext(connection) as one:
        client.get(APPOINTMENTS)
    for day in range(2, 12):
        patient = PatientUserFactory().patient
        make_appointment(omar if day % 2 else clara, patient, local_datetime(day, 9))
    with CaptureQueriesContext(connection) as eleven:
        response = client.get(APPOINTMENTS)
    assert len(response.context["object_list"]) == 11
    # As for every CMS page (the admin, her MFA and permissions, Wagtail's profile, locales,
    # group permissions), then the count, the doctors of the filter and the page of rows with
    # doctor and patient joined: 11, for one appointment or eleven.
    assert len(one.captured_queries) == 11
    assert len(eleven.captured_queries) == len(one.captured_queries)


@pytest.mark.django_db
def test_csv_export_holds_the_filtered_rows_and_is_audited(client_for, ada, agenda, clara):
    response = client_for(ada).get(
        APPOINTMENTS, {"doctor": clara.pk, "status": Appointment.Status.CONFIRMED, "export": "csv"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="appointments.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    assert rows[0]["Patient"] == "Amina Okafor"
    assert rows[0]["Doctor"] == "Dr Clara Weiss"
    assert rows[0]["Public id"] == str(agenda["amina_soon"].public_id)

    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT)
    assert event.actor == ada
    assert event.details["export"] == "appointments"
    assert event.details["format"] == "csv"
    assert event.details["rows"] == 1
    assert event.details["filters"] == {
        "doctor": [str(clara.pk)],
        "status": [Appointment.Status.CONFIRMED],
    }


@pytest.mark.django_db
def test_an_appointment_is_read_only_in_the_cms(client_for, ada, agenda):
    client = client_for(ada)
    visit = agenda["amina_soon"]
    page = client.get(inspect_url(APPOINTMENTS, visit))
    assert page.status_code == 200
    assert "Amina Okafor" in page.content.decode()
    edit = client.post(f"{APPOINTMENTS}edit/{visit.pk}/", {"reason": "Changed"})
    assert edit.status_code == 302 and edit["Location"] == inspect_url(APPOINTMENTS, visit)
    # Admins hold only the view permission: no adding, no deleting, no copying.
    assert client.get(f"{APPOINTMENTS}new/")["Location"] == "/cms/"
    assert client.post(f"{APPOINTMENTS}delete/{visit.pk}/")["Location"] == "/cms/"
    assert Appointment.objects.get(pk=visit.pk).reason == visit.reason


# --- deliveries ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_lists_deliveries_and_filters_by_status(client_for, ada, delivery):
    client = client_for(ada)
    listed = client.get(DELIVERIES)
    assert listed.status_code == 200
    assert "Amina Okafor" in listed.content.decode()
    assert [d.pk for d in client.get(DELIVERIES, {"status": "requested"}).context["object_list"]]
    assert not client.get(DELIVERIES, {"status": "delivered"}).context["object_list"]


@pytest.mark.django_db
def test_admin_moves_a_delivery_on_through_the_service(client_for, ada, amina, delivery):
    client = client_for(ada)
    page = client.get(inspect_url(DELIVERIES, delivery)).content.decode()
    assert 'value="preparing"' in page and 'value="cancelled"' in page
    assert 'value="delivered"' not in page

    response = client.post(
        inspect_url(DELIVERIES, delivery),
        {"action": "advance", "status": "preparing", "note": "Packed."},
    )

    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PREPARING and delivery.preparing_at
    assert delivery.note == "Packed."
    event = AuditEvent.objects.get(target_id=str(delivery.public_id), actor=ada)
    assert event.details == {"from": "requested", "to": "preparing"}
    notice = Notification.objects.get(recipient=amina, kind=NotificationKind.DELIVERY)
    assert notice.title == "Your delivery is being prepared"


@pytest.mark.django_db
def test_a_delivery_refuses_steps_it_cannot_take(client_for, ada, delivery):
    client = client_for(ada)
    skipped = client.post(
        inspect_url(DELIVERIES, delivery), {"action": "advance", "status": "delivered"}, follow=True
    )
    assert "cannot become" in skipped.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.REQUESTED

    for status in ("preparing", "dispatched"):
        client.post(inspect_url(DELIVERIES, delivery), {"action": "advance", "status": status})
    failed = client.post(
        inspect_url(DELIVERIES, delivery), {"action": "advance", "status": "failed"}, follow=True
    )
    assert "Please say why the delivery failed." in failed.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DISPATCHED


@pytest.mark.django_db
def test_an_admin_cancels_a_delivery_not_yet_dispatched(client_for, ada, delivery):
    client_for(ada).post(
        inspect_url(DELIVERIES, delivery), {"action": "advance", "status": "cancelled"}
    )
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.CANCELLED and delivery.cancelled_at


@pytest.mark.django_db
def test_the_delivery_edit_form_is_closed(client_for, ada, delivery):
    response = client_for(ada).post(
        f"{DELIVERIES}edit/{delivery.pk}/", {"note": "x", "status": "delivered"}
    )
    assert response["Location"] == inspect_url(DELIVERIES, delivery)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.REQUESTED and delivery.note == ""


# --- emergency access ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_review_queue_shows_unreviewed_first(client_for, ada, clara, amina, ben):
    old = break_glass_open(
        doctor=clara, patient=amina.patient, reason=REASON, now=timezone.now() - timedelta(days=3)
    )
    BreakGlassAccess.objects.filter(pk=old.pk).update(
        reviewed_at=timezone.now(), reviewed_by=ada, review_note="Justified."
    )
    older_open = break_glass_open(
        doctor=clara, patient=ben.patient, reason=REASON, now=timezone.now() - timedelta(days=5)
    )
    newest = break_glass_open(doctor=clara, patient=ben.patient, reason=REASON + " Again.")

    response = client_for(ada).get(EMERGENCY)

    assert response.status_code == 200
    assert [a.pk for a in response.context["object_list"]] == [newest.pk, older_open.pk, old.pk]
    assert "Awaiting review" in response.content.decode()
    reviewed = client_for(ada).get(EMERGENCY, {"reviewed": "true"})
    assert [a.pk for a in reviewed.context["object_list"]] == [old.pk]


@pytest.mark.django_db
def test_inspect_shows_the_reason_and_what_was_read(client_for, ada, dr_clara, access, amina):
    audit_record(
        action=AuditEvent.Action.VIEW,
        actor=dr_clara,
        target=amina.patient,
        patient=amina.patient,
    )
    page = client_for(ada).get(inspect_url(EMERGENCY, access)).content.decode()

    assert REASON in page
    assert "What the doctor did with the patient" in page
    assert "Viewed" in page and "Amina Okafor" in page
    assert 'id="break-glass-review-form"' in page


@pytest.mark.django_db
def test_admin_reviews_an_emergency_access_once(client_for, ada, access, ben):
    client = client_for(ada)
    client.post(inspect_url(EMERGENCY, access), {"action": "review", "note": "Justified: ER."})

    access.refresh_from_db()
    assert access.reviewed_by == ada and access.review_note == "Justified: ER."
    assert AuditEvent.objects.filter(
        actor=ada, target_id=str(access.public_id), details__break_glass_review=True
    ).exists()
    again = client.post(
        inspect_url(EMERGENCY, access), {"action": "review", "note": "Second."}, follow=True
    )
    assert "already been reviewed" in again.content.decode()
    access.refresh_from_db()
    assert access.review_note == "Justified: ER."

    empty = break_glass_open(doctor=access.doctor, patient=ben.patient, reason=REASON)
    response = client.post(inspect_url(EMERGENCY, empty), {"action": "review", "note": " "})
    assert response.status_code == 302
    empty.refresh_from_db()
    assert empty.reviewed_at is None


# --- who may reach them --------------------------------------------------------------------------


@pytest.mark.django_db
def test_nobody_but_an_admin_reaches_the_oversight_screens(
    client, client_for, amina, dr_clara, eddie, agenda, delivery, access
):
    visit = agenda["amina_soon"]
    pages = [
        APPOINTMENTS,
        f"{APPOINTMENTS}?export=csv",
        inspect_url(APPOINTMENTS, visit),
        DELIVERIES,
        inspect_url(DELIVERIES, delivery),
        EMERGENCY,
        inspect_url(EMERGENCY, access),
    ]
    actions = [
        (inspect_url(DELIVERIES, delivery), {"action": "advance", "status": "preparing"}),
        (inspect_url(EMERGENCY, access), {"action": "review", "note": "Fine."}),
        (f"{DELIVERIES}edit/{delivery.pk}/", {"status": "delivered"}),
    ]
    # Anonymous and patients go to the CMS login; doctors and editors back to the CMS home.
    for visitor, lands_on in (
        (client, "/cms/login/"),
        (client_for(amina), "/cms/login/"),
        (client_for(dr_clara), "/cms/"),
        (client_for(eddie), "/cms/"),
    ):
        for url in pages:
            response = visitor.get(url)
            assert response.status_code == 302, url
            assert response["Location"].split("?")[0] == lands_on, url
        for url, data in actions:
            response = visitor.post(url, data)
            assert response.status_code == 302
            assert response["Location"].split("?")[0] == lands_on, url
    delivery.refresh_from_db()
    access.refresh_from_db()
    assert delivery.status == Delivery.Status.REQUESTED
    assert access.reviewed_at is None
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


@pytest.mark.django_db
def test_a_doctor_holding_the_cms_cannot_act_even_with_a_forged_post(client_for, access):
    # Another doctor, with the CMS open to her for articles, forges the review form.
    other = DoctorUserFactory(email="olga@example.test")
    response = client_for(other).post(
        inspect_url(EMERGENCY, access), {"action": "review", "note": "Looks fine."}
    )
    assert response.status_code == 302
    access.refresh_from_db()
    assert access.reviewed_at is None
