"""The patient's reschedule page and ratings after a completed visit. Each page is tried by the
participant, the outsider, the other doctor, the anonymous visitor and with the wrong method."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import assign_perm
from icalendar import Calendar

from clinic.models import Appointment, Patient, Rating
from clinic.scheduling import hospital_zone
from clinic.services.ratings import RatingError, rating_create
from core.models import AuditEvent, Notification
from tests.conftest import htmx
from tests.factories import DoctorUserFactory, make_appointment, make_doctor
from tests.scheduling_fixtures import EVERY_DAY, weekly

DAY = timezone.localdate() + timedelta(days=3)


def local(day, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=hospital_zone())


def start_value(day, hhmm: str) -> str:
    """The radio value the slot picker offers for a local time: the UTC instant in ISO."""
    return local(day, hhmm).astimezone(UTC).isoformat()


@pytest.fixture
def clara(dr_clara):
    """A verified cardiologist working 09:00-12:00 every day, 30-minute slots."""
    doctor = make_doctor(dr_clara, location="Cardiology, building B")
    weekly(doctor, EVERY_DAY, "09:00", "12:00")
    return doctor


@pytest.fixture
def other_doctor():
    """A doctor (with TOTP) who treats other patients."""
    return make_doctor(DoctorUserFactory(first_name="Omar", last_name="Haddad"))


@pytest.fixture
def child(amina) -> Patient:
    noah = Patient.objects.create(first_name="Noah", last_name="Okafor")
    assign_perm("clinic.book_for_patient", amina, noah)
    return noah


@pytest.fixture
def visit(clara, child, amina) -> Appointment:
    """Noah's visit with Dr Clara at 10:00 on DAY, booked by his mother."""
    return make_appointment(
        clara, child, local(DAY, "10:00"), booked_by=amina, location="Building B", reason="Cough"
    )


def _url(appointment, action="reschedule") -> str:
    return f"/appointments/{appointment.public_id}/{action}/"


# --- The reschedule page ----------------------------------------------------------------------


@pytest.mark.django_db
def test_reschedule_page_offers_the_days_and_free_slots(client_for, amina, visit):
    response = client_for(amina).get(_url(visit))

    page = response.content.decode()
    assert response.status_code == 200
    # The appointment's own day is chosen first, with its own time marked.
    assert 'aria-current="date"' in page and f"?day={DAY.isoformat()}" in page
    for hhmm in ("09:00", "09:30", "10:30", "11:30"):
        assert f'value="{start_value(DAY, hhmm)}"' in page
    assert "current time" in page
    assert "for Noah Okafor" in page


@pytest.mark.django_db
def test_its_own_time_does_not_block_the_day(client_for, amina, clara, visit):
    """With one visit a day allowed, the day is full, except to the visit being moved."""
    clara.max_appointments_per_day = 1
    clara.save()

    page = client_for(amina).get(f"{_url(visit)}?day={DAY}").content.decode()

    assert f'value="{start_value(DAY, "09:00")}"' in page
    assert f'value="{start_value(DAY, "11:00")}"' in page
    booking = client_for(amina).get(f"/doctors/{clara.public_id}/book/?day={DAY}")
    assert start_value(DAY, "09:00") not in booking.content.decode()


@pytest.mark.django_db
def test_detail_links_the_reschedule_page_for_an_active_appointment(
    client_for, amina, dr_clara, visit
):
    url = f"/appointments/{visit.public_id}/"

    assert _url(visit) in client_for(amina).get(url).content.decode()
    # The doctor may use the page, but it is linked for the patient side.
    assert _url(visit) not in client_for(dr_clara).get(url).content.decode()
    visit.status = Appointment.Status.CANCELLED
    visit.save()
    assert _url(visit) not in client_for(amina).get(url).content.decode()


@pytest.mark.django_db
def test_rescheduling_moves_the_visit_and_goes_to_the_new_one(client_for, amina, visit):
    response = client_for(amina).post(_url(visit), {"start_at": start_value(DAY, "11:30")})

    visit.refresh_from_db()
    new = visit.rescheduled_to
    assert response.status_code == 302
    assert response["Location"] == f"/appointments/{new.public_id}/"
    assert response["HX-Trigger"] == "appointmentRescheduled"
    assert visit.status == Appointment.Status.RESCHEDULED
    assert new.start_at == local(DAY, "11:30") and new.is_active
    assert (new.patient, new.doctor, new.booked_by, new.reason) == (
        visit.patient,
        visit.doctor,
        amina,
        "Cough",
    )
    follow = client_for(amina).get(response["Location"])
    assert "This appointment was moved." not in follow.content.decode()
    old_page = client_for(amina).get(f"/appointments/{visit.public_id}/").content.decode()
    assert f"/appointments/{new.public_id}/" in old_page


@pytest.mark.django_db
def test_rescheduling_to_another_day(client_for, amina, visit):
    later = DAY + timedelta(days=2)

    response = client_for(amina).post(
        _url(visit), {"start_at": start_value(later, "09:00"), "day": later.isoformat()}
    )

    assert response.status_code == 302
    assert Appointment.objects.active().get().local_date == later


@pytest.mark.django_db
def test_htmx_reschedule_navigates_and_fires_the_event(client_for, amina, visit):
    response = client_for(amina).post(
        _url(visit), {"start_at": start_value(DAY, "11:00")}, **htmx("main")
    )

    new = Appointment.objects.active().get()
    assert response.status_code == 204
    assert response["HX-Location"] == f"/appointments/{new.public_id}/"
    assert response["HX-Trigger"] == "appointmentRescheduled"


@pytest.mark.django_db
def test_htmx_day_request_gets_only_the_slots(client_for, amina, visit):
    later = DAY + timedelta(days=1)

    response = client_for(amina).get(f"{_url(visit)}?day={later}", **htmx("slots"))

    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="slots">') and "<html" not in page
    assert start_value(later, "10:00") in page


@pytest.mark.django_db
def test_a_slot_taken_meanwhile_is_409_next_to_the_slots(client_for, amina, ben, clara, visit):
    make_appointment(clara, ben.patient, local(DAY, "11:00"))

    response = client_for(amina).post(_url(visit), {"start_at": start_value(DAY, "11:00")})

    page = response.content.decode()
    assert response.status_code == 409
    assert 'id="start-at-errors"' in page and "This slot was just taken" in page
    visit.refresh_from_db()
    assert visit.status == Appointment.Status.CONFIRMED
    assert Appointment.objects.count() == 2


@pytest.mark.django_db
def test_an_inactive_appointment_cannot_move(client_for, amina, visit):
    visit.status = Appointment.Status.CANCELLED
    visit.save()

    response = client_for(amina).post(_url(visit), {"start_at": start_value(DAY, "11:00")})

    assert response.status_code == 400
    assert "cannot be rescheduled" in response.content.decode()
    assert Appointment.objects.count() == 1
    # The page itself says so instead of offering slots.
    page = client_for(amina).get(_url(visit)).content.decode()
    assert "cannot be rescheduled" in page and 'name="start_at"' not in page


@pytest.mark.django_db
def test_past_the_cut_off_is_400_with_the_message(client_for, amina, clara):
    soon = make_appointment(clara, amina.patient, timezone.now() + timedelta(minutes=60))

    response = client_for(amina).post(_url(soon), {"start_at": start_value(DAY, "11:00")})

    assert response.status_code == 400
    assert "too late to reschedule online" in response.content.decode()
    soon.refresh_from_db()
    assert soon.status == Appointment.Status.CONFIRMED


@pytest.mark.django_db
@pytest.mark.parametrize("start", ["", "garbage", "2030-01-01T10:00:00", "1" * 5000])
def test_garbage_start_is_400(client_for, amina, visit, start):
    response = client_for(amina).post(_url(visit), {"start_at": start})

    assert response.status_code == 400
    assert Appointment.objects.get() == visit and visit.status == Appointment.Status.CONFIRMED


@pytest.mark.django_db
def test_off_grid_start_is_400(client_for, amina, visit):
    response = client_for(amina).post(_url(visit), {"start_at": start_value(DAY, "10:10")})

    assert response.status_code == 400
    assert "not one of the doctor" in response.content.decode()


@pytest.mark.django_db
def test_outsiders_get_404_and_the_anonymous_visitor_the_login(
    client, client_for, ben, other_doctor, visit
):
    url = _url(visit)
    data = {"start_at": start_value(DAY, "11:00")}
    for outsider in (ben, other_doctor.user):  # another patient; a doctor of other patients
        assert client_for(outsider).get(url).status_code == 404
        assert client_for(outsider).post(url, data).status_code == 404
    assert client.get(url)["Location"] == f"/accounts/login/?next={url}"
    assert client.post(url, data).status_code == 302
    missing = "/appointments/00000000-0000-0000-0000-000000000000/reschedule/"
    assert client_for(ben).get(missing).status_code == 404
    assert Appointment.objects.get() == visit


@pytest.mark.django_db
def test_the_doctor_of_the_appointment_may_move_it(client_for, dr_clara, visit):
    client = client_for(dr_clara)
    assert client.get(_url(visit)).status_code == 200

    response = client.post(_url(visit), {"start_at": start_value(DAY, "09:00")})

    assert response.status_code == 302
    assert Appointment.objects.active().get().start_at == local(DAY, "09:00")


@pytest.mark.django_db
def test_reschedule_rejects_other_methods(client_for, amina, visit):
    assert client_for(amina).put(_url(visit)).status_code == 405
    assert client_for(amina).delete(_url(visit)).status_code == 405


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_rescheduling_emails_both_calendar_updates_and_tells_the_doctor(client_for, amina, visit):
    client_for(amina).post(_url(visit), {"start_at": start_value(DAY, "11:30")})

    visit.refresh_from_db()
    new = visit.rescheduled_to
    moved, booked = [message for message in mail.outbox if message.attachments]
    assert [moved.to, booked.to] == [[amina.email], [amina.email]]
    # The doctor's notice comes by her own notification email.
    (to_doctor,) = [message for message in mail.outbox if not message.attachments]
    assert to_doctor.to == [visit.doctor.user.email] and "moved" in to_doctor.subject
    assert "moved" in moved.subject.lower() and "confirmed" in booked.subject.lower()
    assert "has been moved to" in moved.body
    for message, method, appointment, start in (
        (moved, "CANCEL", visit, local(DAY, "10:00")),
        (booked, "REQUEST", new, local(DAY, "11:30")),
    ):
        ((name, content, mimetype),) = message.attachments
        assert name == "appointment.ics"
        assert mimetype == f"text/calendar; method={method}"
        calendar = Calendar.from_ical(content)
        assert calendar["method"] == method
        (event,) = calendar.walk("VEVENT")
        assert event["uid"] == f"appointment-{appointment.public_id}@hospital"
        assert event.decoded("dtstart") == start
        assert "Cough" not in str(content)
    told = Notification.objects.get(recipient=visit.doctor.user)
    assert told.title.startswith("Appointment moved from") and str(new.public_id) in told.link
    assert Notification.objects.filter(recipient=amina, title__contains="moved to").exists()
    assert AuditEvent.objects.filter(
        action="update", target_id=str(visit.public_id), details__status="rescheduled"
    ).exists()


@pytest.mark.django_db
def test_a_cancellation_tells_the_doctor(client_for, amina, visit):
    client_for(amina).post(_url(visit, "cancel"), {"reason": "Feeling better"})

    told = Notification.objects.get(recipient=visit.doctor.user)
    assert told.title.startswith("Appointment cancelled")
    assert told.link == f"/appointments/{visit.public_id}/"


# --- Ratings ----------------------------------------------------------------------------------

PAST_DAY = timezone.localdate() - timedelta(days=2)


@pytest.fixture
def completed(clara, child, amina) -> Appointment:
    """Noah's visit two days ago, done."""
    return make_appointment(
        clara,
        child,
        local(PAST_DAY, "10:00"),
        booked_by=amina,
        status=Appointment.Status.COMPLETED,
        reason="Cough",
    )


def _rate(client, appointment, stars="4", review="Kind and thorough.", **extra):
    return client.post(_url(appointment, "rate"), {"stars": stars, "review": review}, **extra)


@pytest.mark.django_db
def test_a_completed_visit_offers_the_rating_form_to_the_family_only(
    client_for, amina, dr_clara, completed, visit
):
    mine = client_for(amina).get(f"/appointments/{completed.public_id}/").content.decode()
    doctors = client_for(dr_clara).get(f"/appointments/{completed.public_id}/").content.decode()
    upcoming = client_for(amina).get(f"/appointments/{visit.public_id}/").content.decode()

    assert _url(completed, "rate") in mine and 'name="stars"' in mine
    assert _url(completed, "rate") not in doctors
    assert _url(visit, "rate") not in upcoming and 'id="rating"' not in upcoming


@pytest.mark.django_db
def test_rating_a_completed_visit_once(client_for, amina, clara, completed):
    client = client_for(amina)

    response = _rate(client, completed, review="  Kind and thorough.  ")

    assert response.status_code == 302
    assert response["Location"] == f"/appointments/{completed.public_id}/"
    rating = Rating.objects.get()
    assert (rating.stars, rating.review, rating.author, rating.doctor) == (
        4,
        "Kind and thorough.",
        amina,
        clara,
    )
    clara.refresh_from_db()
    assert (clara.rating_count, clara.rating_total, clara.rating_average) == (1, 4, 4.0)
    assert AuditEvent.objects.filter(action="create", target_id=str(rating.public_id)).exists()
    page = client.get(response["Location"]).content.decode()
    assert "4 out of 5" in page and "Kind and thorough." in page and 'name="stars"' not in page

    again = _rate(client, completed, stars="1")

    assert again.status_code == 400
    assert "already been rated" in again.content.decode()
    clara.refresh_from_db()
    assert (Rating.objects.count(), clara.rating_count, clara.rating_total) == (1, 1, 4)


@pytest.mark.django_db
def test_htmx_rating_swaps_only_the_rating_region(client_for, amina, completed):
    response = _rate(client_for(amina), completed, stars="5", **htmx("rating"))

    page = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Trigger"] == "appointmentRated"
    assert page.lstrip().startswith('<section id="rating"') and "<html" not in page
    assert "5 out of 5" in page
    # The thank-you message comes along out of band.
    assert "Thank you for rating the visit." in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status",
    [
        Appointment.Status.CONFIRMED,
        Appointment.Status.CANCELLED,
        Appointment.Status.NO_SHOW,
        Appointment.Status.RESCHEDULED,
    ],
)
def test_only_a_completed_visit_can_be_rated(client_for, amina, clara, completed, status):
    completed.status = status
    completed.save()

    response = _rate(client_for(amina), completed)

    assert response.status_code == 400
    assert "Only a completed visit can be rated." in response.content.decode()
    clara.refresh_from_db()
    assert not Rating.objects.exists() and clara.rating_count == 0


@pytest.mark.django_db
def test_only_someone_who_may_book_for_the_patient_rates(
    client, client_for, dr_clara, ben, other_doctor, completed
):
    url = _url(completed, "rate")

    # The doctor takes part in the visit, so she knows it exists: forbidden, not unknown.
    assert _rate(client_for(dr_clara), completed).status_code == 403
    assert _rate(client_for(ben), completed).status_code == 404
    assert _rate(client_for(other_doctor.user), completed).status_code == 404
    assert client.post(url, {"stars": "5"})["Location"] == f"/accounts/login/?next={url}"
    assert not Rating.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("stars", ["0", "6", "-1", "4.5", "five", "", "9" * 400])
def test_stars_out_of_range_are_400(client_for, amina, clara, completed, stars):
    response = _rate(client_for(amina), completed, stars=stars)

    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    clara.refresh_from_db()
    assert not Rating.objects.exists() and clara.rating_count == 0


@pytest.mark.django_db
def test_a_too_long_review_is_400(client_for, amina, completed):
    response = _rate(client_for(amina), completed, review="x" * 501)

    assert response.status_code == 400
    assert not Rating.objects.exists()


@pytest.mark.django_db
def test_rate_is_post_only(client_for, amina, completed):
    assert client_for(amina).get(_url(completed, "rate")).status_code == 405
    assert client_for(amina).put(_url(completed, "rate")).status_code == 405


def test_the_service_turns_a_duplicate_into_a_clear_error(db, amina, clara, completed):
    """The second of two concurrent attempts finds the row the first inserted: the unique
    constraint, not a check before the insert, refuses it."""
    Rating.objects.create(appointment=completed, doctor=clara, author=amina, stars=3)

    with pytest.raises(RatingError, match="already been rated"):
        rating_create(appointment=completed, by=amina, stars=5, review="")

    clara.refresh_from_db()
    assert clara.rating_count == 0 and Rating.objects.count() == 1


@pytest.mark.parametrize("stars", [0, 6, True, "5", 4.5, None])
def test_the_service_checks_the_stars(db, amina, completed, stars):
    with pytest.raises(RatingError, match="1 to 5 stars"):
        rating_create(appointment=completed, by=amina, stars=stars, review="")
    assert not Rating.objects.exists()


def test_the_service_refuses_the_doctor_and_outsiders(db, dr_clara, ben, completed):
    for user in (dr_clara, ben):
        with pytest.raises(PermissionDenied):
            rating_create(appointment=completed, by=user, stars=5, review="")


def _two_ratings(clara, child, amina):
    """Two completed visits of Noah's with Dr Clara, rated 4 and 5 through the service."""
    for days, stars, review in ((9, 4, "Explained everything."), (8, 5, "")):
        appointment = make_appointment(
            clara,
            child,
            local(timezone.localdate() - timedelta(days=days), "09:00"),
            booked_by=amina,
            status=Appointment.Status.COMPLETED,
        )
        rating_create(appointment=appointment, by=amina, stars=stars, review=review)


@pytest.mark.django_db
def test_the_profile_shows_the_average_and_the_latest_reviews_without_names(
    client_for, amina, ben, clara, child
):
    url = f"/doctors/{clara.public_id}/"
    assert "No ratings yet" in client_for(ben).get(url).content.decode()

    _two_ratings(clara, child, amina)
    page = client_for(ben).get(url).content.decode()

    assert "4.5 ★ (2 ratings)" in page
    assert "Explained everything." in page
    assert f"{timezone.localdate() - timedelta(days=9):%B %Y}" in page
    for name in ("Noah", "Amina", "Okafor"):
        assert name not in page


@pytest.mark.django_db
def test_the_profile_reads_its_reviews_in_one_query(
    client_for, amina, ben, clara, child, django_assert_num_queries
):
    client = client_for(ben)
    _two_ratings(clara, child, amina)
    client.get(f"/doctors/{clara.public_id}/")
    with CaptureQueriesContext(connection) as with_two:
        client.get(f"/doctors/{clara.public_id}/")
    for days in range(10, 16):
        appointment = make_appointment(
            clara,
            child,
            local(timezone.localdate() - timedelta(days=days), "09:00"),
            booked_by=amina,
            status=Appointment.Status.COMPLETED,
        )
        rating_create(appointment=appointment, by=amina, stars=3, review=f"Visit {days}")

    with django_assert_num_queries(len(with_two)):
        page = client.get(f"/doctors/{clara.public_id}/").content.decode()
    assert page.count("<blockquote>") == 5
    reviews = [query for query in with_two.captured_queries if "clinic_rating" in query["sql"]]
    assert len(reviews) == 1


@pytest.mark.django_db
def test_the_directory_shows_ratings_without_more_queries(
    client_for, amina, ben, clara, child, other_doctor
):
    client = client_for(ben)
    client.get("/doctors/")
    with CaptureQueriesContext(connection) as unrated:
        page = client.get("/doctors/").content.decode()
    assert page.count("No ratings yet") == 2

    _two_ratings(clara, child, amina)
    with CaptureQueriesContext(connection) as rated:
        page = client.get("/doctors/").content.decode()

    assert len(rated) == len(unrated)
    assert "4.5 ★ (2 ratings)" in page and page.count("No ratings yet") == 1
