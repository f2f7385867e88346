"""Notifications everywhere: each product event notifies the person concerned with the right
kind, email follows each user's choices (safety notices always go), the settings page, article
review outcomes, and the unread count kept right on every open page of the user."""

import re
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Group
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from wagtail.models import GroupApprovalTask, Workflow, WorkflowTask

from blog.models import ArticleIndexPage, ArticlePage
from clinic.models import Specialty
from clinic.services.appointments import appointment_book, appointment_cancel, appointment_remind
from clinic.services.break_glass import break_glass_open
from clinic.services.doctors import CredentialUpload, doctor_apply, doctor_verify
from clinic.services.prescriptions import (
    address_add,
    delivery_advance,
    delivery_request,
    prescription_issue,
)
from clinic.services.records import AnalyteInput, record_create, record_review
from clinic.services.waitlist import waitlist_join, waitlist_offer_slot
from core.models import (
    AuditEvent,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from core.services import (
    notification_create,
    notification_email_wanted,
    notification_mark_all_read,
    notification_preferences_set,
)
from hospital.asgi import application
from tests.conftest import htmx
from tests.factories import (
    NotificationFactory,
    local_datetime,
    make_appointment,
    make_doctor,
)
from tests.scheduling_fixtures import extra_session

K = NotificationKind
URL = "/notifications/settings/"


def _opt_out(user, kind) -> None:
    NotificationPreference.objects.update_or_create(user=user, kind=kind, defaults={"email": False})


def _mail_to(user) -> list:
    return [message for message in mail.outbox if message.to == [user.email]]


# --- notification_email_wanted: defaults, choices, safety kinds --------------------------------


@pytest.mark.django_db
def test_email_defaults_are_on_except_chat(amina):
    for kind in K:
        assert notification_email_wanted(amina, kind) is (kind != K.CHAT), kind


@pytest.mark.django_db
def test_a_stored_choice_wins_over_the_default(amina):
    _opt_out(amina, K.APPOINTMENT)
    NotificationPreference.objects.create(user=amina, kind=K.CHAT, email=True)

    assert notification_email_wanted(amina, K.APPOINTMENT) is False
    assert notification_email_wanted(amina, K.CHAT) is True
    assert notification_email_wanted(amina, K.RECORD) is True


@pytest.mark.django_db
def test_safety_kinds_always_email_even_with_a_stored_no(amina):
    _opt_out(amina, K.SOS)
    _opt_out(amina, K.EMERGENCY_ACCESS)

    assert notification_email_wanted(amina, K.SOS) is True
    assert notification_email_wanted(amina, K.EMERGENCY_ACCESS) is True


@pytest.mark.django_db
def test_inactive_users_and_users_without_an_address_get_no_email(amina, ben):
    amina.is_active = False
    ben.email = ""

    assert notification_email_wanted(amina, K.SOS) is False
    assert notification_email_wanted(ben, K.SOS) is False


# --- notification_create sends the email on commit ----------------------------------------------


@pytest.mark.django_db
def test_notification_email_has_title_body_and_absolute_link(
    amina, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://intranet.hospital.example/"
    with django_capture_on_commit_callbacks(execute=True):
        notification_create(
            recipient=amina,
            title="A new result is available",
            body="Open your records to read it.",
            link="/records/",
            kind=K.RECORD,
        )

    (message,) = mail.outbox
    assert message.to == [amina.email]
    assert message.subject.endswith("A new result is available")
    assert "Open your records to read it." in message.body
    assert "https://intranet.hospital.example/records/" in message.body
    assert "https://intranet.hospital.example/notifications/settings/" in message.body


@pytest.mark.django_db
def test_no_email_before_the_commit_nor_after_a_rollback(amina, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                notification_create(recipient=amina, title="Never sent", kind=K.RECORD)
                assert mail.outbox == []
                raise RuntimeError("the booking failed")
        except RuntimeError:
            pass

    assert mail.outbox == []


@pytest.mark.django_db
def test_opting_out_stops_the_email_but_not_the_in_app_notification(
    amina, django_capture_on_commit_callbacks
):
    _opt_out(amina, K.RECORD)

    with django_capture_on_commit_callbacks(execute=True):
        notification_create(recipient=amina, title="A new result is available", kind=K.RECORD)

    assert mail.outbox == []
    assert Notification.objects.get(recipient=amina).kind == K.RECORD


@pytest.mark.django_db
def test_email_false_never_sends(amina, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification_create(recipient=amina, title="Sent elsewhere", kind=K.SOS, email=False)

    assert mail.outbox == []


@pytest.mark.django_db
def test_an_off_site_link_is_never_put_in_an_email(amina, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification = notification_create(
            recipient=amina, title="Look", link="//evil.example/phish", kind=K.GENERAL
        )

    (message,) = mail.outbox
    assert "evil.example" not in message.body
    assert f"/notifications/{notification.public_id}/" in message.body


@pytest.mark.django_db
def test_a_failing_mail_server_does_not_break_the_commit(
    amina, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("core.services.send_mail", refuse)

    with django_capture_on_commit_callbacks(execute=True):
        notification_create(recipient=amina, title="Still here", kind=K.RECORD)

    assert Notification.objects.filter(recipient=amina, title="Still here").exists()


# --- every product event notifies the right person with the right kind -------------------------

ITEM = {"medication": "Amoxicillin", "strength": "500 mg", "dose": "1 tablet", "frequency": "3x"}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
REASON = "Unconscious on arrival, no relatives reachable yet"


@pytest.fixture
def cast(amina, ben, dr_clara, ada):
    return SimpleNamespace(amina=amina, ben=ben, dr_clara=dr_clara, ada=ada)


def _bookable_clara(cast):
    clara = make_doctor(cast.dr_clara, location="Building B")
    extra_session(clara, timezone.localdate() + timedelta(days=3), "10:00", "11:00")
    return clara


def _booking(cast):
    clara = _bookable_clara(cast)
    return lambda: appointment_book(
        booked_by=cast.amina,
        patient=cast.amina.patient,
        doctor=clara,
        start_at=local_datetime(3, 10),
    )


def event_booking_tells_the_doctor(cast):
    return _booking(cast), cast.dr_clara, K.APPOINTMENT


def event_booking_tells_the_booker(cast):
    return _booking(cast), cast.amina, K.APPOINTMENT


def _visit(cast, start=None):
    clara = make_doctor(cast.dr_clara)
    start = start or local_datetime(3, 10)
    return make_appointment(clara, cast.amina.patient, start, booked_by=cast.amina)


def event_cancellation_by_the_patient_tells_the_doctor(cast):
    visit = _visit(cast)
    act = lambda: appointment_cancel(appointment=visit, by=cast.amina, reason="Feeling better")  # noqa: E731
    return act, cast.dr_clara, K.APPOINTMENT


def event_cancellation_by_the_doctor_tells_the_patient(cast):
    visit = _visit(cast)
    act = lambda: appointment_cancel(appointment=visit, by=cast.dr_clara, reason="Ill today")  # noqa: E731
    return act, cast.amina, K.APPOINTMENT


def event_reminder(cast):
    visit = _visit(cast)
    act = lambda: appointment_remind(  # noqa: E731
        appointment_id=visit.pk, which="24h", now=visit.start_at - timedelta(hours=23)
    )
    return act, cast.amina, K.REMINDER


def event_waitlist_offer(cast):
    clara = _bookable_clara(cast)
    waitlist_join(
        by=cast.amina,
        patient=cast.amina.patient,
        doctor=clara,
        date_from=timezone.localdate(),
        date_to=timezone.localdate() + timedelta(days=3),
    )
    act = lambda: waitlist_offer_slot(doctor_id=clara.pk, start_at=local_datetime(3, 10))  # noqa: E731
    return act, cast.amina, K.WAITLIST


def event_record_released(cast):
    visit = _visit(cast)
    record = record_create(
        patient=cast.amina.patient,
        author=visit.doctor,
        kind="lab_result",
        title="Potassium",
        analytes=[AnalyteInput(name="Potassium", value=Decimal("4.1"), unit="mmol/L")],
    )
    assert record.released_at is None  # held until the doctor reviews it
    return lambda: record_review(record=record, by=visit.doctor), cast.amina, K.RECORD


def _started_visit(cast):
    return _visit(cast, start=timezone.now() - timedelta(minutes=10))


def event_prescription_issued(cast):
    visit = _started_visit(cast)
    act = lambda: prescription_issue(appointment=visit, by=cast.dr_clara, items=[ITEM])  # noqa: E731
    return act, cast.amina, K.PRESCRIPTION


def event_delivery_step(cast):
    prescription = prescription_issue(
        appointment=_started_visit(cast), by=cast.dr_clara, items=[ITEM]
    )
    home = address_add(
        owner=cast.amina,
        fields={
            "recipient_name": "Amina Okafor",
            "line1": "Hauptstr. 1",
            "postal_code": "10115",
            "city": "Berlin",
        },
    )
    delivery = delivery_request(prescription=prescription, address=home, by=cast.amina)
    act = lambda: delivery_advance(delivery=delivery, by=cast.ada, status="preparing")  # noqa: E731
    return act, cast.amina, K.DELIVERY


def event_doctor_verified(cast):
    doctor = doctor_apply(
        user=cast.ben,
        specialty=Specialty.objects.get(slug="cardiology"),
        licence_number="LIC-BEN-1",
        documents=[
            CredentialUpload(
                file=SimpleUploadedFile("licence.pdf", PDF),
                original_name="Licence.pdf",
                content_type="application/pdf",
            )
        ],
    )
    return lambda: doctor_verify(doctor=doctor, by=cast.ada), cast.ben, K.ACCOUNT


EVENTS = [
    event_booking_tells_the_doctor,
    event_booking_tells_the_booker,
    event_cancellation_by_the_patient_tells_the_doctor,
    event_cancellation_by_the_doctor_tells_the_patient,
    event_reminder,
    event_waitlist_offer,
    event_record_released,
    event_prescription_issued,
    event_delivery_step,
    event_doctor_verified,
]


@pytest.mark.django_db
@pytest.mark.parametrize("opted_out", [False, True], ids=["email-on", "opted-out"])
@pytest.mark.parametrize("event", EVENTS, ids=lambda event: event.__name__[len("event_") :])
def test_each_event_notifies_the_right_person_and_emails_unless_opted_out(
    cast, event, opted_out, django_capture_on_commit_callbacks
):
    act, recipient, kind = event(cast)
    before = set(Notification.objects.values_list("pk", flat=True))
    if opted_out:
        _opt_out(recipient, kind)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        act()

    new = Notification.objects.filter(recipient=recipient).exclude(pk__in=before)
    assert new.count() == 1, list(new.values_list("title", flat=True))
    assert new.get().kind == kind
    # One email for the event (the calendar file, the offer, or the notification's own), never
    # two; none once the person has said no to that kind.
    assert len(_mail_to(recipient)) == (0 if opted_out else 1)


@pytest.mark.django_db
def test_emergency_access_is_emailed_even_to_someone_who_said_no(
    amina, dr_omar, django_capture_on_commit_callbacks
):
    _opt_out(amina, K.EMERGENCY_ACCESS)
    omar = make_doctor(dr_omar)

    with django_capture_on_commit_callbacks(execute=True):
        break_glass_open(doctor=omar, patient=amina.patient, reason=REASON)

    assert Notification.objects.get(recipient=amina).kind == K.EMERGENCY_ACCESS
    (message,) = _mail_to(amina)
    assert "always sent by email, for your safety" in message.body


@pytest.mark.django_db
def test_the_doctor_who_cancels_is_not_told_of_her_own_cancellation(
    cast, django_capture_on_commit_callbacks
):
    visit = _visit(cast)

    with django_capture_on_commit_callbacks(execute=True):
        appointment_cancel(appointment=visit, by=cast.dr_clara, reason="Ill today")

    assert not Notification.objects.filter(recipient=cast.dr_clara).exists()
    told = Notification.objects.get(recipient=cast.amina)
    assert "cancelled" in told.title and told.body == "Ill today"


# --- article review outcomes reach the author -----------------------------------------------------


@pytest.fixture
def submitted_article(dr_clara):
    """Dr Clara's draft article, submitted to a one-step editorial review."""
    index = ArticleIndexPage.objects.get()
    article = ArticlePage(title="Flu season", slug="flu-season", summary="Get vaccinated.")
    article.live = False
    index.add_child(instance=article)
    article.save_revision(user=dr_clara)
    editors = Group.objects.get(name="editor")
    workflow = Workflow.objects.create(name="Review in this test")
    task = GroupApprovalTask.objects.create(name="Editor review")
    task.groups.set([editors])
    WorkflowTask.objects.create(workflow=workflow, task=task, sort_order=0)
    workflow_state = workflow.start(article, dr_clara)
    mail.outbox.clear()  # Wagtail tells the reviewers of the submission
    return article, workflow_state.current_task_state


def _review(task_state, reviewer, action: str, comment: str) -> None:
    task_state.task.specific.on_action(task_state, reviewer, action, comment=comment)


@pytest.mark.django_db
def test_approving_an_article_tells_its_author_with_the_comment(
    dr_clara, eddie, submitted_article, django_capture_on_commit_callbacks
):
    article, task_state = submitted_article

    with django_capture_on_commit_callbacks(execute=True):
        _review(task_state, eddie, "approve", "Well sourced, thank you.")

    article.refresh_from_db()
    assert article.live
    told = Notification.objects.get(recipient=dr_clara)
    assert told.kind == K.ARTICLE
    assert told.title == 'Your article "Flu season" was approved and published'
    assert "Eddie Editor wrote: Well sourced, thank you." in told.body
    assert told.link == "/articles/flu-season/"
    # One email (ours, by her choice), not Wagtail's own as well.
    (message,) = _mail_to(dr_clara)
    assert "approved and published" in message.subject


@pytest.mark.django_db
def test_sending_an_article_back_tells_its_author_with_the_comment(
    dr_clara, eddie, submitted_article, django_capture_on_commit_callbacks
):
    article, task_state = submitted_article

    with django_capture_on_commit_callbacks(execute=True):
        _review(task_state, eddie, "reject", "Please cite the 2024 guideline.")

    article.refresh_from_db()
    assert not article.live
    told = Notification.objects.get(recipient=dr_clara)
    assert told.kind == K.ARTICLE
    assert told.title == 'Changes requested on your article "Flu season"'
    assert "Please cite the 2024 guideline." in told.body
    assert told.link == f"/cms/pages/{article.pk}/edit/"
    (message,) = _mail_to(dr_clara)
    assert "Changes requested" in message.subject
    assert "Please cite the 2024 guideline." in message.body


@pytest.mark.django_db
def test_an_author_who_opted_out_of_article_email_is_told_in_app_only(
    dr_clara, eddie, submitted_article, django_capture_on_commit_callbacks
):
    _opt_out(dr_clara, K.ARTICLE)
    _article, task_state = submitted_article

    with django_capture_on_commit_callbacks(execute=True):
        _review(task_state, eddie, "reject", "Shorter, please.")

    assert Notification.objects.filter(recipient=dr_clara, kind=K.ARTICLE).count() == 1
    assert _mail_to(dr_clara) == []


@pytest.mark.django_db
def test_an_intermediate_step_says_the_article_moves_on(
    dr_clara, eddie, submitted_article, django_capture_on_commit_callbacks
):
    article, task_state = submitted_article
    second = GroupApprovalTask.objects.create(name="Medical director")
    WorkflowTask.objects.create(
        workflow=task_state.workflow_state.workflow, task=second, sort_order=1
    )

    with django_capture_on_commit_callbacks(execute=True):
        _review(task_state, eddie, "approve", "")

    article.refresh_from_db()
    assert not article.live
    told = Notification.objects.get(recipient=dr_clara)
    assert told.title == 'Your article "Flu season" passed the review step "Editor review"'
    assert told.body == "Eddie Editor left no comment."
    assert told.link == f"/cms/pages/{article.pk}/edit/"


# --- the settings page ------------------------------------------------------------------------


def _rows(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr id="notification-kind-([a-z_]+)">(.*?)</tr>', html, re.S))


@pytest.mark.django_db
def test_settings_page_for_anonymous_goes_to_login(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={URL}"
    assert client.post(URL, {"email": []})["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_settings_page_refuses_other_methods(client_for, amina):
    assert client_for(amina).put(URL).status_code == 405
    assert client_for(amina).delete(URL).status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "shown", "not_shown"),
    [
        ("amina", {"appointment", "reminder", "record", "family", "sos"}, {"article"}),
        ("dr_clara", {"appointment", "article", "chat", "sos"}, {"reminder", "family"}),
        ("ada", {"account", "delivery", "emergency_access", "sos"}, {"reminder", "article"}),
        ("eddie", {"article", "account"}, {"reminder", "record", "appointment"}),
    ],
)
def test_every_role_sees_the_kinds_that_reach_it(client_for, request, who, shown, not_shown):
    response = client_for(request.getfixturevalue(who)).get(URL)

    assert response.status_code == 200
    rows = _rows(response.content.decode())
    assert shown <= set(rows) and not (not_shown & set(rows))


@pytest.mark.django_db
def test_settings_page_shows_defaults_and_safety_kinds_locked_on(client_for, amina):
    html = client_for(amina).get(URL).content.decode()

    rows = _rows(html)
    assert 'name="email" value="appointment" checked' in rows["appointment"]
    assert "checked" not in rows["chat"]
    for kind in ("sos", "emergency_access"):
        assert "checked disabled" in rows[kind]
        assert 'name="email"' not in rows[kind]
        assert "always sent, for your safety" in rows[kind]


@pytest.mark.django_db
def test_saving_writes_the_choices_says_saved_and_is_audited(client_for, amina):
    client = client_for(amina)

    response = client.post(URL, {"email": ["record", "chat"]}, follow=True)

    assert response.redirect_chain == [(URL, 302)]
    assert "Saved." in response.content.decode()
    assert notification_email_wanted(amina, K.APPOINTMENT) is False
    assert notification_email_wanted(amina, K.RECORD) is True
    assert notification_email_wanted(amina, K.CHAT) is True
    rows = _rows(response.content.decode())
    assert "checked" not in rows["appointment"] and "checked" in rows["chat"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE, actor=amina)
    assert set(event.details["changed"]) == {
        "appointment",
        "reminder",
        "waitlist",
        "prescription",
        "delivery",
        "family",
        "account",
        "general",
        "chat",
    }


@pytest.mark.django_db
def test_saving_with_htmx_returns_the_region_and_the_saved_message(client_for, amina):
    response = client_for(amina).post(URL, {"email": ["record"]}, **htmx("notification-settings"))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="notification-settings"')
    assert "<html" not in html
    assert 'id="messages"' in html and "Saved." in html
    assert notification_email_wanted(amina, K.APPOINTMENT) is False


@pytest.mark.django_db
def test_safety_kinds_cannot_be_switched_off_even_by_posting(client_for, amina):
    client = client_for(amina)

    client.post(URL, {"email": []})
    client.post(URL, {"email": ["sos"]})
    notification_preferences_set(user=amina, email_kinds=[])

    assert not NotificationPreference.objects.filter(
        user=amina, kind__in=["sos", "emergency_access"]
    ).exists()
    assert notification_email_wanted(amina, K.SOS) is True
    assert notification_email_wanted(amina, K.EMERGENCY_ACCESS) is True


@pytest.mark.django_db
@pytest.mark.parametrize("posted", ["bogus", "article"])
def test_a_kind_that_is_not_offered_is_refused_and_nothing_is_saved(client_for, amina, posted):
    response = client_for(amina).post(URL, {"email": ["record", posted]})

    assert response.status_code == 400
    assert "That choice is not available" in response.content.decode()
    assert not NotificationPreference.objects.filter(user=amina).exists()


@pytest.mark.django_db
def test_the_settings_are_linked_from_the_notifications_page_and_the_account_menu(
    client_for, amina
):
    html = client_for(amina).get("/notifications/").content.decode()

    assert html.count(f'href="{URL}"') == 2


# --- the unread count -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_badge_on_page_load_counts_only_unread_ones(client_for, amina, ben):
    NotificationFactory.create_batch(3, recipient=amina)
    NotificationFactory.create_batch(2, recipient=amina, read_at=timezone.now())
    NotificationFactory(recipient=ben)

    html = client_for(amina).get("/notifications/settings/").content.decode()

    assert re.search(r'<span id="unread-count" class="badge">3</span>', html)


SAME_ORIGIN = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def _tab(client: Client) -> WebsocketCommunicator:
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    communicator = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[*SAME_ORIGIN, (b"cookie", cookie.encode())]
    )
    connected, _code = await communicator.connect(timeout=5)
    assert connected
    return communicator


def _badge(html: str) -> str | None:
    found = re.search(r'<span id="unread-count" hx-swap-oob="true"[^>]*>(\d+)</span>', html)
    return found.group(1) if found else None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_reading_in_one_tab_updates_the_badge_in_every_other_tab(amina, ben):
    laptop = await database_sync_to_async(_browser)(amina)
    phone = await database_sync_to_async(_browser)(amina)
    first, second, _third = await database_sync_to_async(
        lambda: NotificationFactory.create_batch(3, recipient=amina)
    )()
    tab_a, tab_b, tab_on_phone = await _tab(laptop), await _tab(laptop), await _tab(phone)
    bens_tab = await _tab(await database_sync_to_async(_browser)(ben))

    # Tab A marks one read: tab B and the phone learn the new count.
    response = await database_sync_to_async(laptop.post)(
        f"/notifications/{first.public_id}/read/", headers={"HX-Request": "true"}
    )
    assert _badge(response.content.decode()) == "2"
    for tab in (tab_a, tab_b, tab_on_phone):
        assert _badge(await tab.receive_from(timeout=5)) == "2"

    # Following a notification's link reads it as well.
    await database_sync_to_async(phone.get)(second.get_absolute_url())
    for tab in (tab_a, tab_b, tab_on_phone):
        assert _badge(await tab.receive_from(timeout=5)) == "1"

    # Reading one that is read already changes nothing and sends nothing.
    await database_sync_to_async(laptop.post)(f"/notifications/{first.public_id}/read/")
    assert await tab_b.receive_nothing(timeout=0.3)

    await database_sync_to_async(notification_mark_all_read)(user=amina)
    for tab in (tab_a, tab_b, tab_on_phone):
        assert _badge(await tab.receive_from(timeout=5)) == "0"

    # Nobody else hears of Amina's count.
    assert await bens_tab.receive_nothing(timeout=0.3)
    for tab in (tab_a, tab_b, tab_on_phone, bens_tab):
        await tab.disconnect()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_read_all_in_one_browser_zeroes_the_badge_in_another(amina):
    await database_sync_to_async(lambda: NotificationFactory.create_batch(2, recipient=amina))()
    laptop = await database_sync_to_async(_browser)(amina)
    phone = await database_sync_to_async(_browser)(amina)
    on_phone = await _tab(phone)

    await database_sync_to_async(laptop.post)("/notifications/read-all/")

    assert _badge(await on_phone.receive_from(timeout=5)) == "0"
    await on_phone.disconnect()


# user, the stored choices, the unread badge
SETTINGS_PAGE_QUERIES = 3


@pytest.mark.django_db
@pytest.mark.parametrize("stored", [0, 8])
def test_settings_page_query_count_is_fixed(client_for, amina, django_assert_num_queries, stored):
    for kind in [
        K.APPOINTMENT,
        K.REMINDER,
        K.WAITLIST,
        K.RECORD,
        K.PRESCRIPTION,
        K.DELIVERY,
        K.FAMILY,
        K.GENERAL,
    ][:stored]:
        _opt_out(amina, kind)
    client = client_for(amina)
    client.get(URL)  # warm up: session and user-session rows exist afterwards

    with django_assert_num_queries(SETTINGS_PAGE_QUERIES):
        response = client.get(URL)

    assert response.status_code == 200
    # Eleven of a patient's twelve kinds come by email by default (not chat).
    assert response.content.decode().count(" checked") == 11 - stored
