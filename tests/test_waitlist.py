"""The waitlist: joining, a freed slot offered to the first in line and held for 15 minutes,
accepting, declining, expiry passing it on (the real periodic task, run twice), and the pages'
access rules.

Dr Clara works one extra session, 10:00-11:00, three days ahead: two slots, so a held slot is
visibly the only one left and the directory's "next free slot" must agree with the booking page.
"""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule
from guardian.shortcuts import assign_perm

from clinic.models import Appointment, Doctor, Patient, WaitlistEntry, WaitlistOffer
from clinic.scheduling import slots_free
from clinic.selectors import doctors_with_next_free_slot
from clinic.services.appointments import (
    SlotTaken,
    appointment_book,
    appointment_cancel,
    appointment_reschedule,
)
from clinic.services.waitlist import (
    OfferClosed,
    waitlist_join,
    waitlist_offer_accept,
    waitlist_offer_slot,
)
from clinic.tasks import waitlist_expire_offers
from core.models import AuditEvent, Notification
from tests.conftest import htmx
from tests.factories import local_datetime, make_appointment, make_doctor
from tests.scheduling_fixtures import extra_session

REASON = "Palpitations at night"
DAYS_AHEAD = 3


@pytest.fixture
def day():
    return timezone.localdate() + timedelta(days=DAYS_AHEAD)


@pytest.fixture
def slot():
    """10:00 local, three days ahead: the slot that is booked, cancelled and offered."""
    return local_datetime(DAYS_AHEAD, 10)


@pytest.fixture
def clara(dr_clara, day) -> Doctor:
    doctor = make_doctor(dr_clara, location="Building B")
    extra_session(doctor, day, "10:00", "11:00")
    return doctor


@pytest.fixture
def child(amina) -> Patient:
    noah = Patient.objects.create(first_name="Noah", last_name="Okafor")
    assign_perm("clinic.book_for_patient", amina, noah)
    return noah


@pytest.fixture
def bens_child(ben) -> Patient:
    mia = Patient.objects.create(first_name="Mia", last_name="Keller")
    assign_perm("clinic.book_for_patient", ben, mia)
    return mia


@pytest.fixture
def eve(db):
    """A third patient whose visit at 10:00 is the one that gets cancelled."""
    from tests.factories import PatientUserFactory

    return PatientUserFactory(email="eve@example.test", first_name="Eve", last_name="Stone")


@pytest.fixture
def eves_visit(clara, eve, slot) -> Appointment:
    return make_appointment(clara, eve.patient, slot, location="Building B")


def join(user, patient, doctor, day, **extra) -> WaitlistEntry:
    return waitlist_join(
        by=user,
        patient=patient,
        doctor=doctor,
        date_from=timezone.localdate(),
        date_to=day,
        reason=extra.pop("reason", REASON),
        **extra,
    )


def cancel(appointment, by, capture) -> None:
    """Cancel and run what waits for the commit (the offer, its notification and email)."""
    with capture(execute=True):
        appointment_cancel(appointment=appointment, by=by, reason="Feeling better")


def open_offer() -> WaitlistOffer:
    return WaitlistOffer.objects.select_related("entry__patient").get(
        status=WaitlistOffer.Status.OPEN
    )


# --- Joining -----------------------------------------------------------------------------------


def join_form(patient, day, **extra) -> dict:
    return {
        "patient": str(patient.public_id),
        "date_from": timezone.localdate().isoformat(),
        "date_to": day.isoformat(),
        "reason": REASON,
        **extra,
    }


@pytest.mark.django_db
def test_join_page_offers_herself_and_her_child(client_for, amina, child, clara):
    response = client_for(amina).get(f"/doctors/{clara.public_id}/waitlist/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Myself" in page and "Noah Okafor" in page
    assert "keep your place in line" in page


@pytest.mark.django_db
@pytest.mark.parametrize("whom", ["self", "child"])
def test_she_joins_for_herself_or_her_child(client_for, amina, child, clara, day, whom):
    patient = amina.patient if whom == "self" else child
    response = client_for(amina).post(
        f"/doctors/{clara.public_id}/waitlist/", join_form(patient, day)
    )
    assert response.status_code == 302
    assert response["Location"] == "/waitlist/"
    entry = WaitlistEntry.objects.get()
    assert (entry.patient, entry.created_by, entry.doctor) == (patient, amina, clara)
    assert entry.status == WaitlistEntry.Status.WAITING
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CREATE, target_id=str(entry.public_id)
    ).exists()
    listing = client_for(amina).get("/waitlist/").content.decode()
    assert "Dr Clara Weiss" in listing and "Leave the waitlist" in listing


@pytest.mark.django_db
def test_she_cannot_join_for_someone_elses_child(client_for, amina, bens_child, clara, day):
    response = client_for(amina).post(
        f"/doctors/{clara.public_id}/waitlist/", join_form(bens_child, day)
    )
    assert response.status_code == 400
    assert "Choose someone you may book for." in response.content.decode()
    assert not WaitlistEntry.objects.exists()


@pytest.mark.django_db
def test_joining_twice_is_a_clear_error(client_for, amina, clara, day):
    client = client_for(amina)
    url = f"/doctors/{clara.public_id}/waitlist/"
    client.post(url, join_form(amina.patient, day))
    response = client.post(url, join_form(amina.patient, day))
    assert response.status_code == 400
    assert "already on this doctor&#x27;s waitlist" in response.content.decode()
    assert WaitlistEntry.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "date_from, date_to, message",
    [
        (-1, 3, "cannot be in the past"),
        (3, 1, "on or after the first day"),
        (0, 61, "takes bookings up to"),
        ("garbage", 3, "Enter a valid date"),
    ],
)
def test_join_refuses_a_bad_range(client_for, amina, clara, date_from, date_to, message):
    today = timezone.localdate()

    def value(days):
        return days if isinstance(days, str) else (today + timedelta(days=days)).isoformat()

    response = client_for(amina).post(
        f"/doctors/{clara.public_id}/waitlist/",
        {
            "patient": str(amina.patient.public_id),
            "date_from": value(date_from),
            "date_to": value(date_to),
        },
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WaitlistEntry.objects.exists()


@pytest.mark.django_db
def test_profile_and_booking_page_link_to_the_waitlist(client_for, amina, clara):
    client = client_for(amina)
    join_url = f"/doctors/{clara.public_id}/waitlist/"
    assert join_url in client.get(f"/doctors/{clara.public_id}/").content.decode()
    assert join_url in client.get(f"/doctors/{clara.public_id}/book/").content.decode()


# --- A freed slot is offered and held ----------------------------------------------------------


@pytest.mark.django_db
def test_a_cancellation_offers_the_slot_to_the_first_in_line(
    amina, ben, eve, clara, day, slot, eves_visit, django_capture_on_commit_callbacks
):
    first = join(amina, amina.patient, clara, day)
    join(ben, ben.patient, clara, day)

    cancel(eves_visit, eve, django_capture_on_commit_callbacks)

    offer = open_offer()
    assert offer.entry == first
    assert offer.start_at == slot
    assert timedelta(minutes=14) < offer.expires_at - timezone.now() <= timedelta(minutes=15)
    notification = Notification.objects.get(recipient=amina)
    assert notification.link == f"/waitlist/offers/{offer.public_id}/"
    assert not Notification.objects.filter(recipient=ben).exists()
    [email] = [message for message in mail.outbox if message.to == [amina.email]]
    assert "10:00" in email.subject
    # The subject says when, never why.
    assert REASON not in email.subject and "Cardiology" not in email.subject
    assert f"/waitlist/offers/{offer.public_id}/" in email.body
    assert AuditEvent.objects.filter(target_id=str(offer.public_id)).exists()


@pytest.mark.django_db
def test_the_held_slot_is_taken_for_everyone_else(
    amina, ben, eve, clara, day, slot, eves_visit, django_capture_on_commit_callbacks
):
    join(amina, amina.patient, clara, day)
    cancel(eves_visit, eve, django_capture_on_commit_callbacks)
    offer = open_offer()

    assert slot not in [free.start_at for free in slots_free(clara, day, day)]
    assert slot in [free.start_at for free in slots_free(clara, day, day, ignore_offer_id=offer.pk)]
    with pytest.raises(SlotTaken):
        appointment_book(booked_by=ben, patient=ben.patient, doctor=clara, start_at=slot)
    # Without the offer, the holder herself goes through the same rules as everyone.
    with pytest.raises(SlotTaken):
        appointment_book(booked_by=amina, patient=amina.patient, doctor=clara, start_at=slot)
    # The directory agrees: only 10:30 is left.
    [listed] = doctors_with_next_free_slot([Doctor.objects.get(pk=clara.pk)], timezone.now())
    assert listed.next_free_slot.start_at == slot + timedelta(minutes=30)


@pytest.mark.django_db
def test_offering_the_same_slot_twice_changes_nothing(
    amina, ben, clara, day, slot, django_capture_on_commit_callbacks
):
    join(amina, amina.patient, clara, day)
    join(ben, ben.patient, clara, day)
    with django_capture_on_commit_callbacks(execute=True):
        first = waitlist_offer_slot(doctor_id=clara.pk, start_at=slot)
        second = waitlist_offer_slot(doctor_id=clara.pk, start_at=slot)
    assert first is not None and second is None
    assert WaitlistOffer.objects.count() == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_only_an_entry_whose_range_covers_the_day_is_offered(
    amina, ben, eve, clara, day, eves_visit, django_capture_on_commit_callbacks
):
    join(amina, amina.patient, clara, day - timedelta(days=1))  # ends the day before
    second = join(ben, ben.patient, clara, day)
    cancel(eves_visit, eve, django_capture_on_commit_callbacks)
    assert open_offer().entry == second


@pytest.mark.django_db
def test_rescheduling_away_offers_the_old_slot(
    amina, eve, clara, day, slot, eves_visit, django_capture_on_commit_callbacks
):
    join(amina, amina.patient, clara, day)
    with django_capture_on_commit_callbacks(execute=True):
        appointment_reschedule(
            appointment=eves_visit, by=eve, new_start_at=slot + timedelta(minutes=30)
        )
    offer = open_offer()
    assert offer.start_at == slot
    assert offer.entry.patient == amina.patient


# --- Answering ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_holder_accepts_and_gets_the_appointment(
    client_for, amina, eve, clara, day, slot, eves_visit, django_capture_on_commit_callbacks
):
    entry = join(amina, amina.patient, clara, day)
    cancel(eves_visit, eve, django_capture_on_commit_callbacks)
    offer = open_offer()
    client = client_for(amina)
    page = client.get(f"/waitlist/offers/{offer.public_id}/").content.decode()
    assert "Accept and book" in page and "keep your place in line" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/waitlist/offers/{offer.public_id}/accept/")

    appointment = Appointment.objects.active().get(start_at=slot)
    assert response.status_code == 302
    assert response["Location"] == f"/appointments/{appointment.public_id}/"
    assert (appointment.patient, appointment.booked_by) == (amina.patient, amina)
    assert appointment.reason == REASON
    offer.refresh_from_db()
    entry.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.ACCEPTED and offer.appointment == appointment
    assert entry.status == WaitlistEntry.Status.BOOKED
    assert AuditEvent.objects.filter(
        target_id=str(offer.public_id), details__status="accepted"
    ).exists()
    # Accepting twice is a clear message, not a second booking.
    again = client.post(f"/waitlist/offers/{offer.public_id}/accept/")
    assert again.status_code == 409
    assert "already been accepted" in again.content.decode()
    assert Appointment.objects.active().filter(start_at=slot).count() == 1


@pytest.mark.django_db
def test_a_parent_accepts_for_her_child(
    client_for, amina, child, eve, clara, day, slot, eves_visit, django_capture_on_commit_callbacks
):
    join(amina, child, clara, day)
    cancel(eves_visit, eve, django_capture_on_commit_callbacks)
    offer = open_offer()
    response = client_for(amina).post(f"/waitlist/offers/{offer.public_id}/accept/")
    assert response.status_code == 302
    assert Appointment.objects.active().get(start_at=slot).patient == child


@pytest.mark.django_db
def test_declining_passes_the_slot_to_the_next_in_line(
    client_for, amina, ben, eve, clara, day, slot, eves_visit, django_capture_on_commit_callbacks
):
    first = join(amina, amina.patient, clara, day)
    second = join(ben, ben.patient, clara, day)
    cancel(eves_visit, eve, django_capture_on_commit_callbacks)
    offer = open_offer()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(amina).post(f"/waitlist/offers/{offer.public_id}/decline/")

    assert response.status_code == 302 and response["Location"] == "/waitlist/"
    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.DECLINED
    assert open_offer().entry == second
    assert Notification.objects.filter(recipient=ben, link__startswith="/waitlist/offers/")
    first.refresh_from_db()
    assert first.status == WaitlistEntry.Status.WAITING  # keeps her place for other times


@pytest.mark.django_db
def test_leaving_withdraws_the_offer_and_passes_it_on(
    client_for, amina, ben, eve, clara, day, eves_visit, django_capture_on_commit_callbacks
):
    first = join(amina, amina.patient, clara, day)
    second = join(ben, ben.patient, clara, day)
    cancel(eves_visit, eve, django_capture_on_commit_callbacks)
    offer = open_offer()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(amina).post(f"/waitlist/{first.public_id}/leave/")

    assert response.status_code == 302
    first.refresh_from_db()
    offer.refresh_from_db()
    assert first.status == WaitlistEntry.Status.LEFT
    assert offer.status == WaitlistOffer.Status.WITHDRAWN
    assert open_offer().entry == second


# --- Expiry: the real periodic task ------------------------------------------------------------


@pytest.mark.django_db
def test_expiry_passes_the_slot_on_once_even_if_the_job_runs_twice(
    amina, ben, eve, clara, day, slot, eves_visit, django_capture_on_commit_callbacks
):
    first = join(amina, amina.patient, clara, day)
    second = join(ben, ben.patient, clara, day)
    cancel(eves_visit, eve, django_capture_on_commit_callbacks)
    offer = open_offer()
    mail.outbox.clear()

    with (
        time_machine.travel(offer.expires_at + timedelta(seconds=30), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert waitlist_expire_offers() == 1
        assert waitlist_expire_offers() == 0

    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.EXPIRED
    passed_on = open_offer()
    assert passed_on.entry == second and passed_on.start_at == slot
    assert [message.to for message in mail.outbox] == [[ben.email]]
    assert Notification.objects.filter(recipient=amina, title__contains="expired").count() == 1
    first.refresh_from_db()
    assert first.status == WaitlistEntry.Status.WAITING

    # Ben lets it lapse too: nobody is left who was not offered it, and Amina is not again.
    with time_machine.travel(passed_on.expires_at + timedelta(seconds=30), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert waitlist_expire_offers() == 1
        assert slot in [free.start_at for free in slots_free(clara, day, day)]
    assert not WaitlistOffer.objects.filter(status=WaitlistOffer.Status.OPEN).exists()
    assert WaitlistOffer.objects.filter(entry=first).count() == 1


@pytest.mark.django_db
def test_an_expired_offer_cannot_be_accepted(
    client_for, amina, eve, clara, day, slot, eves_visit, django_capture_on_commit_callbacks
):
    join(amina, amina.patient, clara, day)
    cancel(eves_visit, eve, django_capture_on_commit_callbacks)
    offer = open_offer()
    client = client_for(amina)

    with time_machine.travel(offer.expires_at + timedelta(seconds=1), tick=False):
        # Before the job has run as well as after.
        response = client.post(f"/waitlist/offers/{offer.public_id}/accept/")
        assert response.status_code == 409
        assert "This offer has expired" in response.content.decode()
        waitlist_expire_offers()
        with pytest.raises(OfferClosed):
            waitlist_offer_accept(offer=offer, by=amina)
        page = client.get(f"/waitlist/offers/{offer.public_id}/").content.decode()
        assert "This offer has expired" in page and "Accept and book" not in page
    assert not Appointment.objects.active().filter(start_at=slot).exists()


@pytest.mark.django_db
def test_entries_whose_last_day_passed_end(amina, clara, day):
    entry = join(amina, amina.patient, clara, day)
    with time_machine.travel(timezone.now() + timedelta(days=DAYS_AHEAD + 1), tick=False):
        waitlist_expire_offers()
        waitlist_expire_offers()
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.ENDED
    assert AuditEvent.objects.filter(target_id=str(entry.public_id), details__status="ended")


@pytest.mark.django_db
def test_the_expiry_job_is_a_periodic_schedule_every_minute():
    call_command("setup_schedules")
    call_command("setup_schedules")
    schedule = Schedule.objects.get(func="clinic.tasks.waitlist_expire_offers")
    assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 1)


# --- Pages: who may see what -------------------------------------------------------------------


@pytest.fixture
def offer(amina, eve, clara, day, eves_visit, django_capture_on_commit_callbacks):
    join(amina, amina.patient, clara, day)
    cancel(eves_visit, eve, django_capture_on_commit_callbacks)
    return open_offer()


def waitlist_urls(offer) -> dict[str, str]:
    return {
        "offer": f"/waitlist/offers/{offer.public_id}/",
        "accept": f"/waitlist/offers/{offer.public_id}/accept/",
        "decline": f"/waitlist/offers/{offer.public_id}/decline/",
        "leave": f"/waitlist/{offer.entry.public_id}/leave/",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["offer", "accept", "decline", "leave"])
def test_an_outsider_gets_404(client_for, ben, offer, name):
    client = client_for(ben)
    url = waitlist_urls(offer)[name]
    response = client.get(url) if name == "offer" else client.post(url)
    assert response.status_code == 404
    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.OPEN


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["offer", "accept", "decline", "leave"])
def test_anonymous_is_sent_to_sign_in_and_a_doctor_gets_403(
    client, client_for, dr_clara, offer, name
):
    url = waitlist_urls(offer)[name]

    def call(c):
        return c.get(url) if name == "offer" else c.post(url)

    anonymous = call(client)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert call(client_for(dr_clara)).status_code == 403
    assert client_for(dr_clara).get("/waitlist/").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, name", [("post", "offer"), ("get", "accept"), ("get", "decline"), ("get", "leave")]
)
def test_wrong_method_is_405(client_for, amina, offer, method, name):
    response = getattr(client_for(amina), method)(waitlist_urls(offer)[name])
    assert response.status_code == 405


@pytest.mark.django_db
def test_join_rejects_other_methods(client_for, amina, clara):
    response = client_for(amina).put(f"/doctors/{clara.public_id}/waitlist/")
    assert response.status_code == 405


@pytest.mark.django_db
def test_list_shows_the_open_offer_and_htmx_gets_only_the_offers(client_for, amina, offer):
    client = client_for(amina)
    page = client.get("/waitlist/").content.decode()
    assert f"/waitlist/offers/{offer.public_id}/" in page
    partial = client.get("/waitlist/", **htmx("waitlist-offers")).content.decode()
    assert f"/waitlist/offers/{offer.public_id}/" in partial
    assert "<html" not in partial and "Your waitlist entries" not in partial


# --- Under concurrency (PostgreSQL, real connections) ------------------------------------------

CROWD = 20


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL)",
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_holder_accepting_while_a_crowd_books_the_held_slot(amina, eve, clara, day, slot):
    """Twenty patients try the held slot at the moment its holder accepts: behind the doctor
    lock the holder gets it, every other attempt is refused as taken."""
    from tests.factories import PatientUserFactory
    from tests.test_scheduling_concurrency import race

    join(amina, amina.patient, clara, day)
    visit = make_appointment(clara, eve.patient, slot)
    # transaction=True: commits are real, so the cancellation's on-commit offer runs itself.
    appointment_cancel(appointment=visit, by=eve, reason="Feeling better")
    offer = open_offer()
    crowd = [PatientUserFactory() for _ in range(CROWD)]
    for user in crowd:
        user.patient  # noqa: B018 -- loaded here, not inside the race
    doctor = Doctor.objects.select_related("user").get(pk=clara.pk)

    results = race(
        [lambda: waitlist_offer_accept(offer=offer, by=amina)]
        + [
            lambda user=user: appointment_book(
                booked_by=user, patient=user.patient, doctor=doctor, start_at=slot
            )
            for user in crowd
        ]
    )

    assert isinstance(results[0], Appointment) and results[0].patient == amina.patient
    assert all(isinstance(result, SlotTaken) for result in results[1:])
    assert Appointment.objects.active().filter(start_at=slot).count() == 1
