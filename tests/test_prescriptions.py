"""Prescriptions, refills, saved addresses and home delivery: issuing from a visit, who reads
what, refills, the one default address, and the delivery steps with their notifications."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from guardian.shortcuts import assign_perm

from clinic.models import Address, Appointment, Delivery, Patient, Prescription, RefillRequest
from clinic.services.prescriptions import (
    PrescriptionError,
    address_add,
    address_archive,
    address_set_default,
    delivery_request,
    prescription_issue,
    refill_request,
)
from core.models import AuditEvent, Notification
from tests.conftest import htmx
from tests.factories import DoctorUserFactory, local_datetime, make_appointment, make_doctor

ITEM = {
    "medication": "Amoxicillin",
    "strength": "500 mg",
    "dose": "1 tablet",
    "frequency": "3x daily",
}
HOME = {
    "recipient_name": "Amina Okafor",
    "line1": "Hauptstr. 1",
    "postal_code": "10115",
    "city": "Berlin",
}


def _issue_post(**overrides) -> dict:
    data = {
        "items-TOTAL_FORMS": "5",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "20",
        "items-0-medication": "Amoxicillin",
        "items-0-strength": "500 mg",
        "items-0-dose": "1 tablet",
        "items-0-frequency": "3x daily",
        "items-0-quantity": "21",
        "advice": "Drink plenty of water.",
    }
    data.update(overrides)
    return data


@pytest.fixture
def clara(dr_clara):
    return make_doctor(dr_clara)


@pytest.fixture
def dr_other(db):
    """A verified doctor (with TOTP, so the staff MFA gate lets her in) who does not treat Amina."""
    user = DoctorUserFactory(email="other@example.test", first_name="Olga", last_name="Other")
    make_doctor(user)
    return user


@pytest.fixture
def visit(clara, amina):
    """Amina's visit with Dr Clara, which started ten minutes ago."""
    from django.utils import timezone

    return make_appointment(
        clara, amina.patient, timezone.now() - timedelta(minutes=10), booked_by=amina
    )


@pytest.fixture
def prescription(visit, dr_clara):
    return prescription_issue(appointment=visit, by=dr_clara, items=[ITEM])


@pytest.fixture
def child(amina):
    noah = Patient.objects.create(first_name="Noah", last_name="Okafor")
    for codename in ("view_patient", "book_for_patient", "view_records_patient"):
        assign_perm(f"clinic.{codename}", amina, noah)
    return noah


@pytest.fixture
def home(amina):
    return address_add(owner=amina, fields=HOME)


# --- Issuing ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_issuing_completes_the_visit_and_tells_the_patient(client_for, dr_clara, amina, visit):
    response = client_for(dr_clara).post(
        reverse("prescription_issue", args=[visit.public_id]), _issue_post()
    )

    prescription = Prescription.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("prescription_detail", args=[prescription.public_id])
    assert [i.medication for i in prescription.items.all()] == ["Amoxicillin"]  # blanks ignored
    visit.refresh_from_db()
    assert visit.status == Appointment.Status.COMPLETED and visit.completed_at is not None
    assert Notification.objects.filter(recipient=amina, title__contains="prescription").exists()
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CREATE, target_id=str(prescription.public_id)
    ).exists()


@pytest.mark.django_db
def test_issuing_twice_is_refused(client_for, dr_clara, visit):
    client = client_for(dr_clara)
    client.post(reverse("prescription_issue", args=[visit.public_id]), _issue_post())

    response = client.post(reverse("prescription_issue", args=[visit.public_id]), _issue_post())

    assert response.status_code == 400
    assert Prescription.objects.count() == 1


@pytest.mark.django_db
def test_another_doctor_cannot_issue(client_for, dr_other, visit):
    response = client_for(dr_other).post(
        reverse("prescription_issue", args=[visit.public_id]), _issue_post()
    )
    assert response.status_code == 404
    assert not Prescription.objects.exists()


@pytest.mark.django_db
def test_a_patient_cannot_issue(client_for, amina, visit):
    response = client_for(amina).post(
        reverse("prescription_issue", args=[visit.public_id]), _issue_post()
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_issuing_needs_a_started_visit_and_dose_and_frequency(
    client_for, dr_clara, clara, amina, visit
):
    later = make_appointment(clara, amina.patient, local_datetime(2, 10), booked_by=amina)
    client = client_for(dr_clara)

    early = client.post(reverse("prescription_issue", args=[later.public_id]), _issue_post())
    empty = client.post(
        reverse("prescription_issue", args=[visit.public_id]),
        _issue_post(
            **{
                "items-0-medication": "",
                "items-0-strength": "",
                "items-0-dose": "",
                "items-0-frequency": "",
                "items-0-quantity": "",
            }
        ),
    )
    no_dose = client.post(
        reverse("prescription_issue", args=[visit.public_id]), _issue_post(**{"items-0-dose": ""})
    )

    assert early.status_code == 400 and "started" in early.content.decode()
    assert empty.status_code == 400 and "at least one" in empty.content.decode()
    assert no_dose.status_code == 400 and "Required for each medication" in no_dose.content.decode()
    assert not Prescription.objects.exists()
    later.refresh_from_db()
    visit.refresh_from_db()
    assert later.status == visit.status == Appointment.Status.CONFIRMED


@pytest.mark.django_db
def test_the_issue_form_is_linked_from_the_doctors_appointment_page(client_for, dr_clara, visit):
    page = client_for(dr_clara).get(reverse("appointment_detail", args=[visit.public_id]))
    form = client_for(dr_clara).get(reverse("prescription_issue", args=[visit.public_id]))

    assert reverse("prescription_issue", args=[visit.public_id]) in page.content.decode()
    assert form.status_code == 200 and "items-4-medication" in form.content.decode()


# --- Reading ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_patient_reads_lists_and_prints_her_prescription(client_for, amina, prescription):
    client = client_for(amina)

    listing = client.get(reverse("patient_prescriptions", args=[amina.patient.public_id]))
    detail = client.get(reverse("prescription_detail", args=[prescription.public_id]))
    printed = client.get(reverse("prescription_print", args=[prescription.public_id]))

    assert listing.status_code == detail.status_code == printed.status_code == 200
    assert "Amoxicillin" in listing.content.decode()
    assert "css/print.css" in printed.content.decode()
    actions = set(
        AuditEvent.objects.filter(
            actor=amina, patient_public_id=amina.patient.public_id
        ).values_list("action", flat=True)
    )
    assert {AuditEvent.Action.VIEW, AuditEvent.Action.PRINT} <= actions
    assert client.get(reverse("my_prescriptions"))["Location"] == reverse(
        "patient_prescriptions", args=[amina.patient.public_id]
    )


@pytest.mark.django_db
def test_another_patients_prescription_history_is_never_readable(
    client_for, ben, amina, prescription
):
    client = client_for(ben)
    urls = [
        reverse("patient_prescriptions", args=[amina.patient.public_id]),
        reverse("prescription_detail", args=[prescription.public_id]),
        reverse("prescription_print", args=[prescription.public_id]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url


@pytest.mark.django_db
def test_a_parent_with_view_records_reads_the_childs_prescriptions(
    client_for, amina, child, clara, dr_clara
):
    from django.utils import timezone

    visit = make_appointment(clara, child, timezone.now() - timedelta(minutes=5), booked_by=amina)
    prescription = prescription_issue(appointment=visit, by=dr_clara, items=[ITEM])
    client = client_for(amina)

    assert client.get(reverse("patient_prescriptions", args=[child.public_id])).status_code == 200
    assert (
        client.get(reverse("prescription_detail", args=[prescription.public_id])).status_code == 200
    )
    assert AuditEvent.objects.filter(
        actor=amina, patient_public_id=child.public_id, acting_for_patient=True
    ).exists()

    from guardian.shortcuts import remove_perm

    remove_perm("clinic.view_records_patient", amina, child)
    assert client.get(reverse("patient_prescriptions", args=[child.public_id])).status_code == 403
    assert (
        client.get(reverse("prescription_detail", args=[prescription.public_id])).status_code == 403
    )


@pytest.mark.django_db
def test_outsiders_get_404_or_the_login_page_everywhere(
    client, client_for, ben, dr_other, eddie, amina, prescription, home
):
    refill = refill_request(prescription=prescription, by=amina)
    delivery = delivery_request(prescription=prescription, address=home, by=amina)
    gets = [
        reverse("patient_prescriptions", args=[amina.patient.public_id]),
        reverse("prescription_detail", args=[prescription.public_id]),
        reverse("prescription_print", args=[prescription.public_id]),
        reverse("delivery_detail", args=[delivery.public_id]),
        reverse("address_edit", args=[home.public_id]),
    ]
    posts = [
        reverse("prescription_refill", args=[prescription.public_id]),
        reverse("prescription_delivery", args=[prescription.public_id]),
        reverse("delivery_cancel", args=[delivery.public_id]),
        reverse("address_default", args=[home.public_id]),
        reverse("address_archive", args=[home.public_id]),
        reverse("address_edit", args=[home.public_id]),
    ]
    for outsider in (ben, dr_other, eddie):
        other = client_for(outsider)
        for url in gets:
            assert other.get(url).status_code == 404, (outsider, url)
        for url in posts:
            assert other.post(url, {"address": str(home.public_id)}).status_code == 404, (
                outsider,
                url,
            )
    # The refill decision: a patient and an editor are not doctors (403); another doctor 404.
    decide = reverse("refill_decide", args=[refill.public_id])
    assert client_for(dr_other).post(decide, {"decision": "approve"}).status_code == 404
    assert client_for(ben).post(decide, {"decision": "approve"}).status_code == 403
    for url in [*gets, reverse("addresses"), reverse("doctor_refills")]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    for url in [*posts, decide]:
        response = client.post(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    refill.refresh_from_db()
    delivery.refresh_from_db()
    home.refresh_from_db()
    assert refill.status == "requested" and delivery.status == "requested"
    assert home.is_default and home.archived_at is None


@pytest.mark.django_db
def test_wrong_methods_get_405(client_for, amina, dr_clara, ada, prescription, home):
    patient = client_for(amina)
    assert (
        patient.post(reverse("prescription_detail", args=[prescription.public_id])).status_code
        == 405
    )
    assert (
        patient.post(reverse("prescription_print", args=[prescription.public_id])).status_code
        == 405
    )
    assert (
        patient.get(reverse("prescription_refill", args=[prescription.public_id])).status_code
        == 405
    )
    assert (
        patient.get(reverse("prescription_delivery", args=[prescription.public_id])).status_code
        == 405
    )
    assert patient.get(reverse("address_default", args=[home.public_id])).status_code == 405
    assert patient.delete(reverse("addresses")).status_code == 405
    assert client_for(dr_clara).post(reverse("doctor_refills")).status_code == 405
    assert client_for(ada).post(reverse("operations_deliveries")).status_code == 405


# --- Refills ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_refill_is_requested_once_and_the_doctor_approves_it(
    client_for, amina, dr_clara, prescription
):
    patient = client_for(amina)
    url = reverse("prescription_refill", args=[prescription.public_id])

    first = patient.post(url, {"note": "Running out on Friday"})
    second = patient.post(url, {"note": "again"})

    assert first.status_code == 302
    assert second.status_code == 400 and "already waiting" in second.content.decode()
    refill = RefillRequest.objects.get()
    assert Notification.objects.filter(recipient=dr_clara, title__contains="Refill").exists()

    doctor = client_for(dr_clara)
    assert "Running out on Friday" in doctor.get(reverse("doctor_refills")).content.decode()
    response = doctor.post(
        reverse("refill_decide", args=[refill.public_id]), {"decision": "approve"}
    )

    assert response.status_code == 302
    refill.refresh_from_db()
    renewal = refill.new_prescription
    assert refill.status == RefillRequest.Status.APPROVED and renewal is not None
    assert renewal.refill_of == prescription and renewal.appointment is None
    assert [i.medication for i in renewal.items.all()] == ["Amoxicillin"]
    assert Notification.objects.filter(recipient=amina, title__contains="approved").exists()
    # Answered once only.
    again = doctor.post(reverse("refill_decide", args=[refill.public_id]), {"decision": "approve"})
    assert again.status_code == 400
    assert Prescription.objects.count() == 2


@pytest.mark.django_db
def test_declining_needs_a_reason_and_tells_the_requester(
    client_for, amina, dr_clara, prescription
):
    refill = refill_request(prescription=prescription, by=amina)
    doctor = client_for(dr_clara)
    url = reverse("refill_decide", args=[refill.public_id])

    assert doctor.post(url, {"decision": "decline"}).status_code == 400
    assert doctor.post(url, {"decision": "decline", "reason": "Please come in"}).status_code == 302

    refill.refresh_from_db()
    assert refill.status == RefillRequest.Status.DECLINED and refill.new_prescription is None
    assert Notification.objects.filter(recipient=amina, title__contains="declined").exists()


@pytest.mark.django_db
def test_the_prescribing_doctor_may_read_but_not_request_a_refill(
    client_for, dr_clara, prescription
):
    doctor = client_for(dr_clara)
    assert (
        doctor.get(reverse("prescription_detail", args=[prescription.public_id])).status_code == 200
    )
    assert (
        doctor.post(reverse("prescription_refill", args=[prescription.public_id])).status_code
        == 403
    )


@pytest.mark.django_db
def test_refill_request_as_htmx_returns_only_the_refill_region(client_for, amina, prescription):
    response = client_for(amina).post(
        reverse("prescription_refill", args=[prescription.public_id]),
        **htmx("prescription-refill"),
    )
    body = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "refillRequested"
    assert 'id="prescription-refill"' in body and "<html" not in body


# --- Addresses ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_allows_only_one_default_address(amina, home):
    with pytest.raises(IntegrityError), transaction.atomic():
        Address.objects.create(owner=amina, is_default=True, **HOME)


@pytest.mark.django_db
def test_set_default_switches_and_archiving_moves_the_default(amina, home):
    work = address_add(owner=amina, fields={**HOME, "label": "Work"})
    assert home.is_default and not work.is_default  # the first address became the default

    address_set_default(address=work, by=amina)
    home.refresh_from_db()
    assert not home.is_default
    assert list(Address.objects.filter(owner=amina, is_default=True)) == [work]

    address_archive(address=work, by=amina)
    home.refresh_from_db()
    assert home.is_default
    address_archive(address=home, by=amina)
    assert not Address.objects.filter(owner=amina, is_default=True).exists()


@pytest.mark.django_db
def test_address_pages_add_switch_default_and_archive(client_for, amina, home):
    client = client_for(amina)

    added = client.post(reverse("addresses"), {**HOME, "label": "Work", "country": "Germany"})
    work = Address.objects.get(label="Work")
    partial = client.post(
        reverse("address_default", args=[work.public_id]), **htmx("addresses-panel")
    )
    bad = client.post(reverse("addresses"), {"label": "Nothing"})

    assert added.status_code == 302
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    assert 'id="addresses-panel"' in partial.content.decode()
    assert bad.status_code == 400
    work.refresh_from_db()
    assert work.is_default
    assert client.post(reverse("address_archive", args=[work.public_id])).status_code == 302
    home.refresh_from_db()
    assert home.is_default


# --- Delivery -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_delivery_goes_through_its_steps_with_notifications(
    client_for, amina, ada, prescription, home
):
    patient = client_for(amina)
    response = patient.post(
        reverse("prescription_delivery", args=[prescription.public_id]),
        {"address": str(home.public_id)},
    )
    delivery = Delivery.objects.get()
    assert response["Location"] == reverse("delivery_detail", args=[delivery.public_id])
    assert delivery.address_text.startswith("Amina Okafor\nHauptstr. 1")

    admin = client_for(ada)
    assert "Amina Okafor" in admin.get(reverse("operations_deliveries")).content.decode()
    url = reverse("operations_delivery_advance", args=[delivery.public_id])
    before = Notification.objects.filter(recipient=amina).count()
    for step in ("preparing", "dispatched", "delivered"):
        assert admin.post(url, {"status": step}).status_code == 302, step

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert (
        delivery.requested_at
        <= delivery.preparing_at
        <= delivery.dispatched_at
        <= delivery.delivered_at
    )
    assert Notification.objects.filter(recipient=amina).count() == before + 3
    page = patient.get(reverse("delivery_detail", args=[delivery.public_id])).content.decode()
    assert "Delivered" in page and "every 30s" not in page  # a finished delivery stops polling


@pytest.mark.django_db
def test_an_invalid_step_is_refused(client_for, amina, ada, prescription, home):
    delivery = delivery_request(prescription=prescription, address=home, by=amina)
    url = reverse("operations_delivery_advance", args=[delivery.public_id])

    response = client_for(ada).post(url, {"status": "delivered"})

    assert response.status_code == 400
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.REQUESTED
    # Only admins move deliveries.
    assert client_for(amina).post(url, {"status": "preparing"}).status_code == 403


@pytest.mark.django_db
def test_the_requester_cancels_while_requested_only(client_for, amina, ada, prescription, home):
    delivery = delivery_request(prescription=prescription, address=home, by=amina)
    patient = client_for(amina)

    assert patient.post(reverse("delivery_cancel", args=[delivery.public_id])).status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.CANCELLED and delivery.cancelled_at

    second = delivery_request(prescription=prescription, address=home, by=amina)
    client_for(ada).post(
        reverse("operations_delivery_advance", args=[second.public_id]), {"status": "preparing"}
    )
    assert patient.post(reverse("delivery_cancel", args=[second.public_id])).status_code == 400


@pytest.mark.django_db
def test_one_open_delivery_and_only_to_ones_own_address(amina, ben, prescription, home):
    bens = address_add(owner=ben, fields={**HOME, "recipient_name": "Ben"})
    with pytest.raises(PrescriptionError):
        delivery_request(prescription=prescription, address=bens, by=amina)
    delivery_request(prescription=prescription, address=home, by=amina)
    with pytest.raises(PrescriptionError):
        delivery_request(prescription=prescription, address=home, by=amina)


@pytest.mark.django_db
def test_the_tracking_page_polls_and_its_partial_is_not_audited_again(
    client_for, amina, prescription, home
):
    delivery = delivery_request(prescription=prescription, address=home, by=amina)
    client = client_for(amina)
    url = reverse("delivery_detail", args=[delivery.public_id])

    page = client.get(url).content.decode()
    views = AuditEvent.objects.filter(action="view", target_id=str(delivery.public_id)).count()
    partial = client.get(url, **htmx("delivery-status"))

    assert 'hx-trigger="every 30s, notificationReceived from:body"' in page
    assert f'href="{url}"' in page
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    assert (
        AuditEvent.objects.filter(action="view", target_id=str(delivery.public_id)).count() == views
    )


@pytest.mark.django_db
def test_the_operations_home_links_the_deliveries_and_emergency_access(client_for, ada):
    page = client_for(ada).get("/operations/").content.decode()

    assert 'href="/operations/deliveries/"' in page
    assert 'href="/operations/emergency-access/"' in page
