"""The doctor's availability editor: weekly hours, exceptions, booking policy and the booked
visits left outside her hours. Tried by the doctor, another doctor, a patient, an editor, an
admin and the anonymous visitor."""

from datetime import time, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from clinic.models import AvailabilityException, Doctor, WeeklyAvailability
from clinic.scheduling import slots_free
from clinic.selectors import appointments_outside_hours
from clinic.services.availability import policy_update, weekly_interval_add
from core.models import AuditEvent
from tests.conftest import htmx
from tests.factories import DoctorUserFactory, local_datetime, make_appointment, make_doctor
from tests.scheduling_fixtures import (  # noqa: F401 (fixtures)
    clara_fixture,
    local_starts,
    omar_fixture,
    time_off,
    weekly,
)

PAGE = "/doctor/availability/"
WEEKLY_ADD = "/doctor/availability/weekly/"
WEEKLY_REMOVE = "/doctor/availability/weekly/remove/"
EXCEPTION_ADD = "/doctor/availability/exceptions/"
EXCEPTION_REMOVE = "/doctor/availability/exceptions/remove/"
POLICY = "/doctor/availability/policy/"

# Far enough ahead that the minimum notice never hides the slots.
DAYS_AHEAD = 3


def _day():
    return timezone.localdate() + timedelta(days=DAYS_AHEAD)


def _hours(day, start="09:00", end="10:00", **extra) -> dict:
    return {"weekday": day.weekday(), "start_time": start, "end_time": end} | {
        "mode": "in_person",
        "location": "",
        **extra,
    }


def _policy(**changes) -> dict:
    form = {
        "slot_minutes": 30,
        "buffer_minutes": 0,
        "min_notice_minutes": 120,
        "horizon_days": 60,
        "cancel_cutoff_minutes": 120,
        "max_appointments_per_day": "",
    }
    form.update(changes)
    return form


@pytest.fixture
def other_doctor(db) -> Doctor:
    """A second doctor with an authenticator app, so the MFA gate lets her through."""
    return make_doctor(DoctorUserFactory(email="ines@example.test", first_name="Ines"))


@pytest.mark.django_db
def test_page_shows_the_doctors_own_rules(client_for, clara, other_doctor):
    weekly(clara, 0, "09:00", "12:00", location="Room 4")
    weekly(other_doctor, 0, "14:00", "18:00", location="Room 9")

    response = client_for(clara.user).get(PAGE)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Room 4" in body and "09:00\u201312:00" in body
    assert "Room 9" not in body
    assert 'hx-trigger="availabilityChanged from:body"' in body


@pytest.mark.django_db
def test_adding_hours_makes_their_slots_bookable(client_for, clara):
    day = _day()
    assert slots_free(clara, day, day) == []

    response = client_for(clara.user).post(WEEKLY_ADD, _hours(day, location="Room 4"))

    assert response.status_code == 302
    assert response["Location"] == "/doctor/availability/#weekly-hours"
    clara.refresh_from_db()
    free = slots_free(clara, day, day)
    assert local_starts(free) == ["09:00", "09:30"]
    assert {slot.location for slot in free} == {"Room 4"}
    event = AuditEvent.objects.get(details__change="weekly_interval_added")
    assert event.actor == clara.user
    assert event.target_id == str(clara.public_id)


@pytest.mark.django_db
def test_overlapping_or_backwards_hours_are_refused(client_for, clara):
    day = _day()
    weekly(clara, day.weekday(), "09:00", "12:00")
    client = client_for(clara.user)

    overlap = client.post(WEEKLY_ADD, _hours(day, "11:00", "13:00"))
    backwards = client.post(WEEKLY_ADD, _hours(day, "15:00", "14:00"))
    touching = client.post(WEEKLY_ADD, _hours(day, "12:00", "13:00"))

    assert overlap.status_code == 400
    assert "This overlaps your hours from 09:00 to 12:00" in overlap.content.decode()
    assert backwards.status_code == 400
    assert "The end must be after the start." in backwards.content.decode()
    assert touching.status_code == 302
    assert list(
        clara.weekly_hours.order_by("start_time").values_list("start_time", "end_time")
    ) == [(time(9), time(12)), (time(12), time(13))]


@pytest.mark.django_db
def test_bad_input_is_a_400_with_the_message_next_to_the_field(client_for, clara):
    response = client_for(clara.user).post(
        WEEKLY_ADD, {"weekday": "9", "start_time": "nine", "end_time": "", "mode": "in_person"}
    )

    assert response.status_code == 400
    form = response.context["weekly_form"]
    assert set(form.errors) == {"weekday", "start_time", "end_time"}
    assert not WeeklyAvailability.objects.exists()


@pytest.mark.django_db
def test_removing_hours_keeps_the_booking_and_lists_it_outside_hours(client_for, clara, amina):
    day = _day()
    weekly(clara, day.weekday(), "09:00", "12:00")
    visit = make_appointment(clara, amina.patient, local_datetime(DAYS_AHEAD, 10))
    client = client_for(clara.user)
    assert str(visit.public_id) not in client.get(PAGE).content.decode()

    interval = clara.weekly_hours.get()
    response = client.post(WEEKLY_REMOVE, {"interval": interval.pk})

    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.status == "confirmed"
    assert appointments_outside_hours(clara, timezone.now()) == [visit]
    body = client.get(PAGE).content.decode()
    assert "Booked appointments now outside your hours" in body
    assert f'href="/appointments/{visit.public_id}/"' in body
    assert AuditEvent.objects.filter(details__change="weekly_interval_removed").count() == 1


@pytest.mark.django_db
def test_whole_day_off_hides_slots_and_flags_the_days_bookings(client_for, clara, amina):
    day = _day()
    weekly(clara, day.weekday(), "09:00", "12:00")
    visit = make_appointment(clara, amina.patient, local_datetime(DAYS_AHEAD, 10))
    assert slots_free(clara, day, day)

    response = client_for(clara.user).post(
        EXCEPTION_ADD, {"kind": "time_off", "date": day.isoformat(), "mode": "in_person"}
    )

    assert response.status_code == 302
    assert slots_free(clara, day, day) == []
    visit.refresh_from_db()
    assert visit.status == "confirmed"
    assert appointments_outside_hours(clara, timezone.now()) == [visit]


@pytest.mark.django_db
def test_part_of_a_day_off_hides_only_those_slots(client_for, clara):
    day = _day()
    weekly(clara, day.weekday(), "09:00", "11:00")

    response = client_for(clara.user).post(
        EXCEPTION_ADD,
        {
            "kind": "time_off",
            "date": day.isoformat(),
            "start_time": "09:00",
            "end_time": "10:00",
            "mode": "in_person",
            "note": "Training",
        },
    )

    assert response.status_code == 302
    assert local_starts(slots_free(clara, day, day)) == ["10:00", "10:30"]


@pytest.mark.django_db
def test_an_extra_session_adds_slots_and_needs_times(client_for, clara):
    day = _day()
    client = client_for(clara.user)

    without_times = client.post(
        EXCEPTION_ADD, {"kind": "extra", "date": day.isoformat(), "mode": "online"}
    )
    with_times = client.post(
        EXCEPTION_ADD,
        {
            "kind": "extra",
            "date": day.isoformat(),
            "start_time": "18:00",
            "end_time": "19:00",
            "mode": "online",
        },
    )

    assert without_times.status_code == 400
    assert set(without_times.context["exception_form"].errors) == {"start_time", "end_time"}
    assert with_times.status_code == 302
    free = slots_free(clara, day, day)
    assert local_starts(free) == ["18:00", "18:30"]
    assert {slot.mode for slot in free} == {"online"}


@pytest.mark.django_db
def test_exceptions_in_the_past_or_twice_are_refused(client_for, clara):
    yesterday = timezone.localdate() - timedelta(days=1)
    day = _day()
    time_off(clara, day)
    client = client_for(clara.user)

    past = client.post(
        EXCEPTION_ADD, {"kind": "time_off", "date": yesterday.isoformat(), "mode": "in_person"}
    )
    again = client.post(
        EXCEPTION_ADD,
        {
            "kind": "time_off",
            "date": day.isoformat(),
            "start_time": "09:00",
            "end_time": "10:00",
            "mode": "in_person",
        },
    )

    assert past.status_code == 400
    assert "Choose today or a later date." in past.content.decode()
    assert again.status_code == 400
    assert "You already have time off on this date" in again.content.decode()
    assert AvailabilityException.objects.count() == 1


@pytest.mark.django_db
def test_removing_time_off_brings_the_slots_back(client_for, clara):
    day = _day()
    weekly(clara, day.weekday(), "09:00", "10:00")
    off = time_off(clara, day)

    response = client_for(clara.user).post(EXCEPTION_REMOVE, {"exception": off.pk})

    assert response.status_code == 302
    assert response["Location"] == "/doctor/availability/#availability-exceptions"
    assert local_starts(slots_free(clara, day, day)) == ["09:00", "09:30"]


@pytest.mark.django_db
def test_policy_update_is_validated_and_audited_with_before_and_after(client_for, clara):
    client = client_for(clara.user)

    bad = client.post(POLICY, _policy(slot_minutes=3, horizon_days=1000))
    good = client.post(
        POLICY, _policy(slot_minutes=20, max_appointments_per_day=8, requires_confirmation="on")
    )

    assert bad.status_code == 400
    assert set(bad.context["policy_form"].errors) == {"slot_minutes", "horizon_days"}
    assert good.status_code == 302
    clara.refresh_from_db()
    assert (clara.slot_minutes, clara.max_appointments_per_day) == (20, 8)
    assert clara.requires_confirmation is True
    event = AuditEvent.objects.get(details__change="policy_updated")
    assert event.details["before"] == {
        "slot_minutes": 30,
        "max_appointments_per_day": None,
        "requires_confirmation": False,
    }
    assert event.details["after"] == {
        "slot_minutes": 20,
        "max_appointments_per_day": 8,
        "requires_confirmation": True,
    }


@pytest.mark.django_db
def test_policy_service_checks_its_ranges_itself(clara):
    values = {
        "slot_minutes": 30,
        "buffer_minutes": 0,
        "min_notice_minutes": 120,
        "horizon_days": 60,
        "cancel_cutoff_minutes": 120,
        "max_appointments_per_day": None,
        "requires_confirmation": False,
    }
    with pytest.raises(ValidationError) as error:
        policy_update(doctor=clara, by=clara.user, **values | {"buffer_minutes": -5})
    assert set(error.value.message_dict) == {"buffer_minutes"}

    policy_update(doctor=clara, by=clara.user, **values)  # nothing changes, nothing is written
    assert not AuditEvent.objects.filter(details__change="policy_updated").exists()


@pytest.mark.django_db
def test_a_longer_slot_keeps_booked_visits_and_only_time_outside_hours_is_flagged(
    client_for, clara, amina, ben
):
    day = _day()
    weekly(clara, [day.weekday(), (day + timedelta(days=1)).weekday()], "09:00", "10:00")
    off_grid = make_appointment(clara, amina.patient, local_datetime(DAYS_AHEAD, 9, 30))
    # Runs past the end of the day's hours (booked before they were shortened, say).
    overrun = make_appointment(clara, ben.patient, local_datetime(DAYS_AHEAD + 1, 9, 45))

    response = client_for(clara.user).post(POLICY, _policy(slot_minutes=45))

    assert response.status_code == 302
    # 09:30 is no longer on the 45-minute grid but still inside working time: not flagged.
    assert appointments_outside_hours(clara, timezone.now()) == [overrun]
    off_grid.refresh_from_db()
    assert off_grid.status == "confirmed"


@pytest.mark.django_db
def test_outside_hours_ignores_past_and_cancelled_visits(clara, amina, ben):
    make_appointment(clara, amina.patient, local_datetime(-1, 10), status="completed")
    make_appointment(clara, ben.patient, local_datetime(DAYS_AHEAD, 10), status="cancelled")

    assert appointments_outside_hours(clara, timezone.now()) == []


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 12])
def test_outside_hours_has_a_fixed_query_count(clara, amina, django_assert_num_queries, count):
    weekly(clara, range(7), "08:00", "09:00")
    for index in range(count):
        make_appointment(clara, amina.patient, local_datetime(DAYS_AHEAD + index, 17))

    # the visits, the weekly hours, the exceptions on their dates
    with django_assert_num_queries(3):
        assert len(appointments_outside_hours(clara, timezone.now())) == count


@pytest.mark.django_db
def test_htmx_change_gets_its_region_and_fires_the_event(client_for, clara):
    day = _day()
    client = client_for(clara.user)

    added = client.post(WEEKLY_ADD, _hours(day), **htmx("weekly-hours"))
    refused = client.post(WEEKLY_ADD, _hours(day, "09:30", "11:00"), **htmx("weekly-hours"))
    outside = client.get(PAGE, **htmx("outside-hours"))

    body = added.content.decode()
    assert added.status_code == 200
    assert added["HX-Trigger"] == "availabilityChanged"
    assert body.lstrip().startswith('<section id="weekly-hours"')
    assert "<html" not in body and 'id="booking-policy"' not in body
    assert "Working hours added." in body  # the message, swapped out of band
    assert refused.status_code == 400
    assert refused.content.decode().lstrip().startswith('<section id="weekly-hours"')
    assert "This overlaps your hours" in refused.content.decode()
    assert "HX-Trigger" not in refused
    assert outside.content.decode().lstrip().startswith('<section id="outside-hours"')


@pytest.mark.django_db
def test_htmx_policy_and_exception_changes_get_their_regions(client_for, clara):
    client = client_for(clara.user)

    policy = client.post(POLICY, _policy(buffer_minutes=10), **htmx("booking-policy"))
    exception = client.post(
        EXCEPTION_ADD,
        {"kind": "time_off", "date": _day().isoformat(), "mode": "in_person"},
        **htmx("availability-exceptions"),
    )

    assert policy.content.decode().lstrip().startswith('<section id="booking-policy"')
    assert 'value="10"' in policy.content.decode()
    assert exception.content.decode().lstrip().startswith('<section id="availability-exceptions"')
    assert exception["HX-Trigger"] == "availabilityChanged"


@pytest.mark.django_db
def test_another_doctor_cannot_touch_her_rules(client_for, clara, other_doctor):
    day = _day()
    weekly(clara, day.weekday(), "09:00", "12:00")
    off = time_off(clara, day)
    interval = clara.weekly_hours.get()
    client = client_for(other_doctor.user)

    assert client.post(WEEKLY_REMOVE, {"interval": interval.pk}).status_code == 404
    assert client.post(EXCEPTION_REMOVE, {"exception": off.pk}).status_code == 404
    assert client.post(WEEKLY_REMOVE, {"interval": "junk"}).status_code == 404
    # Adding always acts on one's own profile: there is no doctor to choose.
    assert client.post(WEEKLY_ADD, _hours(day)).status_code == 302
    assert clara.weekly_hours.count() == 1 and clara.exceptions.count() == 1
    assert other_doctor.weekly_hours.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("url", [PAGE, WEEKLY_ADD, WEEKLY_REMOVE, EXCEPTION_ADD, POLICY])
def test_other_roles_get_403_and_the_anonymous_visitor_the_login(
    client, client_for, clara, amina, eddie, ada, url
):
    weekly(clara, 0, "09:00", "12:00")
    for user in (amina, eddie, ada):
        method = client_for(user).get if url == PAGE else client_for(user).post
        assert method(url).status_code == 403
    anonymous = client.get(url) if url == PAGE else client.post(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    assert clara.weekly_hours.count() == 1


@pytest.mark.django_db
def test_a_doctor_login_without_a_profile_gets_403(client_for, dr_clara):
    assert client_for(dr_clara).get(PAGE).status_code == 403


@pytest.mark.django_db
def test_wrong_methods_are_405(client_for, clara):
    client = client_for(clara.user)

    assert client.post(PAGE).status_code == 405
    for url in (WEEKLY_ADD, WEEKLY_REMOVE, EXCEPTION_ADD, EXCEPTION_REMOVE, POLICY):
        assert client.get(url).status_code == 405


@pytest.mark.django_db
def test_services_allow_the_doctor_herself_or_an_admin_only(clara, other_doctor, amina, ada):
    hours = {"weekday": 0, "start_time": time(9), "end_time": time(10)}
    for outsider in (other_doctor.user, amina):
        with pytest.raises(PermissionDenied):
            weekly_interval_add(doctor=clara, by=outsider, **hours)

    weekly_interval_add(doctor=clara, by=ada, **hours)

    assert clara.weekly_hours.count() == 1
    assert AuditEvent.objects.get(details__change="weekly_interval_added").actor == ada


@pytest.mark.django_db
@pytest.mark.parametrize("outside", [0, 10])
def test_page_query_count_does_not_grow_with_bookings(
    client_for, clara, amina, django_assert_num_queries, outside
):
    weekly(clara, range(7), "08:00", "09:00")
    make_appointment(clara, amina.patient, local_datetime(DAYS_AHEAD, 8))
    for index in range(outside):
        make_appointment(clara, amina.patient, local_datetime(DAYS_AHEAD + 1 + index, 17))
    client = client_for(clara.user)
    client.get(PAGE)

    # user, unread badge, TOTP check, doctor profile, weekly hours, upcoming exceptions,
    # then the outside-hours check: visits, weekly hours, exceptions on their dates
    with django_assert_num_queries(9):
        assert client.get(PAGE).status_code == 200
