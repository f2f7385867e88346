"""Break-the-glass: a doctor who does not treat a patient opens her records in an emergency,
after reauthenticating and giving a reason; it lasts three hours, admins are alerted and review
each use, and the patient is told."""

import asyncio
from datetime import date, timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from clinic.models import BreakGlassAccess, Doctor, Patient
from clinic.permissions import Capability, get_patient_for_user, patient_access
from clinic.services.break_glass import BreakGlassError, break_glass_open, break_glass_review
from core.models import AuditEvent, Notification
from core.services import notification_group_name
from tests.conftest import htmx
from tests.factories import PASSWORD, AdminUserFactory, make_doctor

REASON = "Brought in unconscious after a road accident; need allergies and medication."
REAUTH = "/accounts/reauthenticate/"


def emergency_url(patient: Patient) -> str:
    return reverse("emergency_access", args=[patient.public_id])


def records_path(patient: Patient) -> str:
    return f"/patients/{patient.public_id}/records/"


@pytest.fixture
def clara(dr_clara) -> Doctor:
    return make_doctor(dr_clara)


@pytest.fixture
def clara_client(client_for, dr_clara, clara):
    return client_for(dr_clara)


def reauthenticate(client) -> None:
    response = client.post(REAUTH, {"password": PASSWORD})
    assert response.status_code == 302


def as_request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


@pytest.mark.django_db
def test_a_doctor_who_does_not_treat_the_patient_opens_her_records_after_reauthenticating(
    clara_client, dr_clara, clara, amina
):
    patient = amina.patient
    with pytest.raises(Http404):
        get_patient_for_user(as_request(dr_clara), patient.public_id, Capability.VIEW_RECORDS)

    form = clara_client.get(emergency_url(patient))
    assert form.status_code == 200
    assert "Use this only in an emergency." in form.content.decode()

    # Without a recent reauthentication allauth keeps the request and asks for the password.
    asked = clara_client.post(emergency_url(patient), {"reason": REASON})
    assert asked.status_code == 302
    assert asked["Location"].startswith(REAUTH)
    assert not BreakGlassAccess.objects.exists()

    # Reauthenticating replays the kept request, which opens the access.
    opened = clara_client.post(asked["Location"], {"password": PASSWORD})
    assert opened.status_code == 302
    assert opened["Location"] == records_path(patient)

    access = BreakGlassAccess.objects.get()
    assert (access.doctor, access.patient, access.reason) == (clara, patient, REASON)
    assert access.expires_at - access.started_at == timedelta(hours=3)
    assert patient_access(dr_clara, patient).may(Capability.VIEW_RECORDS)
    found, _ = get_patient_for_user(
        as_request(dr_clara), patient.public_id, Capability.VIEW_RECORDS
    )
    assert found == patient
    event = AuditEvent.objects.get(action=AuditEvent.Action.BREAK_GLASS)
    assert event.actor == dr_clara
    assert event.reason == REASON
    assert event.patient_public_id == patient.public_id


@pytest.mark.django_db
def test_emergency_access_ends_after_three_hours(dr_clara, clara, amina):
    start = timezone.now()
    break_glass_open(doctor=clara, patient=amina.patient, reason=REASON, now=start)

    with time_machine.travel(start + timedelta(hours=2, minutes=59), tick=False):
        assert patient_access(dr_clara, amina.patient).may(Capability.VIEW_RECORDS)
    with time_machine.travel(start + timedelta(hours=3, seconds=1), tick=False):
        assert not patient_access(dr_clara, amina.patient).knows


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   ", "Emergency.", "x" * 19])
def test_a_reason_of_at_least_twenty_characters_is_required(clara_client, amina, reason):
    reauthenticate(clara_client)

    response = clara_client.post(emergency_url(amina.patient), {"reason": reason})

    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert not BreakGlassAccess.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.BREAK_GLASS).exists()


@pytest.mark.django_db
def test_the_service_refuses_a_short_reason_and_an_unverified_doctor(dr_omar, clara, amina):
    with pytest.raises(BreakGlassError) as error:
        break_glass_open(doctor=clara, patient=amina.patient, reason="Too short")
    assert error.value.field == "reason"
    pending = make_doctor(dr_omar, status=Doctor.Status.PENDING)
    with pytest.raises(PermissionDenied):
        break_glass_open(doctor=pending, patient=amina.patient, reason=REASON)
    assert not BreakGlassAccess.objects.exists()


@pytest.mark.django_db
def test_admins_the_patient_and_her_family_are_told(dr_clara, clara, amina, ada, ben):
    other_admin = AdminUserFactory(first_name="Otto")
    retired_admin = AdminUserFactory(first_name="Rita")
    retired_admin.is_active = False
    retired_admin.save(update_fields=["is_active"])
    child = Patient.objects.create(first_name="Noah", last_name="Okafor")
    assign_perm("clinic.view_records_patient", amina, child)
    assign_perm("clinic.view_patient", ben, child)  # no records scope: not told

    break_glass_open(doctor=clara, patient=child, reason=REASON)

    review = reverse("break_glass_review_list")
    for admin in (ada, other_admin):
        note = Notification.objects.get(recipient=admin)
        assert "Dr Clara Weiss" in note.title and note.link == review
    assert not Notification.objects.filter(recipient=retired_admin).exists()
    told = Notification.objects.get(recipient=amina)
    assert "Dr Clara Weiss" in told.title and "Noah Okafor" in told.title
    assert told.link.endswith(f"?patient={child.public_id}")
    assert not Notification.objects.filter(recipient=ben).exists()


@pytest.mark.django_db
def test_the_patient_is_told_and_a_second_request_while_open_changes_nothing(clara, amina, ada):
    first = break_glass_open(doctor=clara, patient=amina.patient, reason=REASON)
    again = break_glass_open(doctor=clara, patient=amina.patient, reason=REASON + " Again.")

    assert again == first
    assert BreakGlassAccess.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.BREAK_GLASS).count() == 1
    told = Notification.objects.get(recipient=amina)
    assert told.title == "Emergency access to your records by Dr Clara Weiss"
    assert Notification.objects.filter(recipient=ada).count() == 1


@pytest.mark.django_db
def test_admins_are_alerted_live(clara, amina, ada, django_capture_on_commit_callbacks):
    layer = get_channel_layer()

    async def scenario():
        adas_page = await layer.new_channel()
        await layer.group_add(notification_group_name(ada.pk), adas_page)

        def open_and_commit():
            with django_capture_on_commit_callbacks(execute=True):
                break_glass_open(doctor=clara, patient=amina.patient, reason=REASON)

        await sync_to_async(open_and_commit)()
        try:
            message = await asyncio.wait_for(layer.receive(adas_page), 2)
        finally:
            await layer.group_discard(notification_group_name(ada.pk), adas_page)
        return message

    message = async_to_sync(scenario)()

    assert message["type"] == "notification.push"
    assert "Emergency access by Dr Clara Weiss" in message["html"]


@pytest.mark.django_db
def test_a_doctor_who_treats_the_patient_needs_no_emergency_access(clara_client, clara, amina):
    from tests.factories import local_datetime, make_appointment

    make_appointment(clara, amina.patient, local_datetime(2, 9), booked_by=amina)

    page = clara_client.get(emergency_url(amina.patient))
    posted = clara_client.post(emergency_url(amina.patient), {"reason": REASON})

    assert "You treat this patient" in page.content.decode()
    assert posted["Location"] == records_path(amina.patient)
    assert not BreakGlassAccess.objects.exists()


@pytest.mark.django_db
def test_an_open_access_is_shown_instead_of_the_form(clara_client, clara, amina):
    break_glass_open(doctor=clara, patient=amina.patient, reason=REASON)

    page = clara_client.get(emergency_url(amina.patient))

    assert "Your emergency access is open until" in page.content.decode()
    assert records_path(amina.patient) in page.content.decode()


@pytest.mark.django_db
def test_who_may_use_the_emergency_pages(
    client, client_for, dr_omar, clara, amina, eddie, ada, clara_client
):
    url = emergency_url(amina.patient)
    find = reverse("patient_find")
    for user in (amina, eddie, ada):
        assert client_for(user).get(url).status_code == 403
        assert client_for(user).get(find).status_code == 403
    assert client.get(url).status_code == 302  # to sign in
    assert client.get(find)["Location"].startswith(reverse("account_login"))
    # An unknown patient is 404, even for a verified doctor.
    assert clara_client.get(reverse("emergency_access", args=[ada.public_id])).status_code == 404


@pytest.mark.django_db
def test_an_unverified_doctor_may_not_break_the_glass(client_for, dr_clara, amina):
    make_doctor(dr_clara, status=Doctor.Status.PENDING)
    doctor = client_for(dr_clara)

    assert doctor.get(emergency_url(amina.patient)).status_code == 403
    assert doctor.get(reverse("patient_find"), {"national_id": "X"}).status_code == 403


@pytest.mark.django_db
def test_wrong_methods_are_refused(clara_client, client_for, ada, clara, amina):
    access = break_glass_open(doctor=clara, patient=amina.patient, reason=REASON)
    admin = client_for(ada)

    assert clara_client.put(emergency_url(amina.patient)).status_code == 405
    assert clara_client.post(reverse("patient_find")).status_code == 405
    assert admin.post(reverse("break_glass_review_list")).status_code == 405
    assert admin.get(reverse("break_glass_review", args=[access.public_id])).status_code == 405


# --- Finding a patient ----------------------------------------------------------------------------


@pytest.fixture
def amina_on_file(amina) -> Patient:
    patient = amina.patient
    patient.national_id = "DE-1985-4411"
    patient.date_of_birth = date(1985, 3, 14)
    patient.allergies = "Penicillin"
    patient.insurance_id = "INS-777"
    patient.emergency_contact_phone = "+49 30 5550199"
    patient.save()
    return patient


@pytest.mark.django_db
def test_a_doctor_finds_a_patient_by_national_id_and_sees_only_name_and_year(
    clara_client, dr_clara, amina_on_file
):
    response = clara_client.get(reverse("patient_find"), {"national_id": "de-1985-4411"})

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["results"] == [
        {"public_id": amina_on_file.public_id, "name": "Amina Okafor", "birth_year": 1985}
    ]
    assert "1985" in html and emergency_url(amina_on_file) in html
    for secret in ("Penicillin", "INS-777", "5550199", "14 Mar", "1985-03-14"):
        assert secret not in html
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW, actor=dr_clara)
    assert event.details["search"] == "patient_find"
    assert event.details["national_id"] == "de-1985-4411"
    assert event.details["results"] == [str(amina_on_file.public_id)]


@pytest.mark.django_db
def test_a_doctor_finds_a_patient_by_name_and_date_of_birth(clara_client, amina_on_file, ben):
    found = clara_client.get(
        reverse("patient_find"), {"name": "okafor amina", "date_of_birth": "1985-03-14"}
    )
    wrong_day = clara_client.get(
        reverse("patient_find"), {"name": "Amina Okafor", "date_of_birth": "1985-03-15"}
    )

    assert [r["name"] for r in found.context["results"]] == ["Amina Okafor"]
    assert wrong_day.context["results"] == []
    assert "No patient matches" in wrong_day.content.decode()


@pytest.mark.django_db
def test_a_name_alone_is_not_enough_and_nothing_is_audited(clara_client, amina_on_file):
    response = clara_client.get(reverse("patient_find"), {"name": "Amina"})

    assert response.status_code == 400
    assert "together with the date of birth" in response.content.decode()
    assert response.context["results"] is None
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VIEW).exists()


@pytest.mark.django_db
def test_the_htmx_search_gets_only_the_results(clara_client, amina_on_file):
    response = clara_client.get(
        reverse("patient_find"), {"national_id": "DE-1985-4411"}, **htmx("find-results")
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="find-results"')
    assert "<html" not in html and "Amina Okafor" in html


# --- Admin review ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_admin_reviews_each_use_once(client_for, ada, clara, amina, ben):
    older = break_glass_open(
        doctor=clara,
        patient=ben.patient,
        reason=REASON,
        now=timezone.now() - timedelta(days=1),
    )
    newer = break_glass_open(doctor=clara, patient=amina.patient, reason=REASON)
    admin = client_for(ada)

    listing = admin.get(reverse("break_glass_review_list"))
    assert listing.status_code == 200
    assert list(listing.context["page"].object_list) == [newer, older]

    url = reverse("break_glass_review", args=[older.public_id])
    reviewed = admin.post(url, {"note": "Confirmed with the ER: genuine emergency."}, **htmx())
    assert reviewed.status_code == 200
    assert reviewed["HX-Trigger"] == "breakGlassReviewed"
    assert "Reviewed by Ada Admin" in reviewed.content.decode()
    older.refresh_from_db()
    assert older.reviewed_by == ada and older.reviewed_at is not None

    again = admin.post(url, {"note": "Second look."}, **htmx())
    assert again.status_code == 409
    older.refresh_from_db()
    assert older.review_note == "Confirmed with the ER: genuine emergency."
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE, target_id=str(older.public_id))
    assert event.actor == ada and event.details["break_glass_review"] is True

    # Unreviewed uses come first, even when older.
    relisted = admin.get(reverse("break_glass_review_list"))
    assert list(relisted.context["page"].object_list) == [newer, older]


@pytest.mark.django_db
def test_a_plain_review_post_redirects_and_an_empty_note_is_refused(client_for, ada, clara, amina):
    access = break_glass_open(doctor=clara, patient=amina.patient, reason=REASON)
    admin = client_for(ada)
    url = reverse("break_glass_review", args=[access.public_id])

    empty = admin.post(url, {"note": ""})
    assert empty.status_code == 400
    assert 'aria-invalid="true"' in empty.content.decode()

    done = admin.post(url, {"note": "Looked fine."})
    assert done.status_code == 302 and done["Location"] == reverse("break_glass_review_list")


@pytest.mark.django_db
def test_only_admins_review(client, client_for, clara, dr_clara, amina, eddie, ada):
    access = break_glass_open(doctor=clara, patient=amina.patient, reason=REASON)
    url = reverse("break_glass_review", args=[access.public_id])
    for user in (dr_clara, amina, eddie):
        assert client_for(user).get(reverse("break_glass_review_list")).status_code == 403
        assert client_for(user).post(url, {"note": "Fine."}).status_code == 403
    assert client.post(url, {"note": "Fine."}).status_code == 302
    with pytest.raises(PermissionDenied):
        break_glass_review(access=access, by=dr_clara, note="Fine.")
    access.refresh_from_db()
    assert access.reviewed_at is None
    unknown = reverse("break_glass_review", args=[amina.public_id])
    assert client_for(ada).post(unknown, {"note": "Fine."}).status_code == 404


@pytest.mark.django_db
def test_the_cms_audit_log_filters_by_patient_and_proxy(client_for, ada, clara, amina, ben):
    break_glass_open(doctor=clara, patient=amina.patient, reason=REASON)
    break_glass_open(doctor=clara, patient=ben.patient, reason="Other patient " + REASON)

    response = client_for(ada).get(
        "/cms/audit-log/",
        {"patient_public_id": str(amina.patient.public_id), "acting_for_patient": "false"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Amina Okafor" in html and "Ben Keller" not in html
    everyone = client_for(ada).get("/cms/audit-log/").content.decode()
    assert "Amina Okafor" in everyone and "Ben Keller" in everyone
