"""In-app notifications: created and pushed live on commit, listed, marked read, followed."""

import asyncio
import re

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from core.models import Notification
from core.services import notification_create, notification_group_name
from tests.conftest import htmx
from tests.factories import NotificationFactory


async def _receive(layer, channel: str, timeout: float):
    try:
        return await asyncio.wait_for(layer.receive(channel), timeout)
    except TimeoutError:
        return None


# --- notification_create and the live push ------------------------------------------------------


@pytest.mark.django_db
def test_notification_is_pushed_to_the_recipient_only_and_only_on_commit(
    amina, ben, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()

    async def scenario():
        aminas_page = await layer.new_channel()
        bens_page = await layer.new_channel()
        await layer.group_add(notification_group_name(amina.pk), aminas_page)
        await layer.group_add(notification_group_name(ben.pk), bens_page)

        def create_and_commit():
            with django_capture_on_commit_callbacks(execute=True) as callbacks:
                notification = notification_create(
                    recipient=amina, title="Your lab results are ready", link="/patient/"
                )
                before_commit = async_to_sync(_receive)(layer, aminas_page, 0.2)
            return notification, callbacks, before_commit

        notification, callbacks, before_commit = await sync_to_async(create_and_commit)()
        to_amina = await _receive(layer, aminas_page, 2)
        to_ben = await _receive(layer, bens_page, 0.3)
        await layer.group_discard(notification_group_name(amina.pk), aminas_page)
        await layer.group_discard(notification_group_name(ben.pk), bens_page)
        return notification, callbacks, before_commit, to_amina, to_ben

    notification, callbacks, before_commit, to_amina, to_ben = async_to_sync(scenario)()

    assert Notification.objects.get(pk=notification.pk).recipient == amina
    assert len(callbacks) == 2  # the live push and the email, both after the commit
    assert before_commit is None  # nothing leaves before the transaction commits
    assert to_amina["type"] == "notification.push"
    html = to_amina["html"]
    assert "Your lab results are ready" in html
    assert f'data-notification="{notification.public_id}"' in html
    assert re.search(r'<span id="unread-count"[^>]*>1</span>', html)
    assert to_ben is None


@pytest.mark.django_db
def test_rolled_back_notification_is_never_pushed(amina, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                notification_create(recipient=amina, title="Never sent")
                raise RuntimeError("booking failed")
        except RuntimeError:
            pass

    assert callbacks == []
    assert not Notification.objects.filter(title="Never sent").exists()


# --- list page ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_notification_list_shows_only_my_notifications(client_for, amina, ben):
    NotificationFactory(recipient=amina, title="Appointment confirmed")
    NotificationFactory(recipient=ben, title="Ben's prescription")

    response = client_for(amina).get("/notifications/")

    assert response.status_code == 200
    assert b"Appointment confirmed" in response.content
    assert b"Ben&#x27;s prescription" not in response.content
    assert b"Ben's prescription" not in response.content


@pytest.mark.django_db
def test_notification_list_for_anonymous_goes_to_login(client):
    response = client.get("/notifications/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/notifications/"


@pytest.mark.django_db
def test_notification_list_refuses_post(client_for, amina):
    assert client_for(amina).post("/notifications/").status_code == 405


@pytest.mark.django_db
def test_notification_list_htmx_gets_only_the_list(client_for, amina):
    NotificationFactory(recipient=amina, title="Appointment confirmed")

    response = client_for(amina).get("/notifications/", **htmx("notification-list"))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="notification-list">')
    assert "Appointment confirmed" in html
    assert "<html" not in html and "site-header" not in html


@pytest.mark.django_db
def test_notification_list_pages_by_twenty(client_for, amina):
    NotificationFactory.create_batch(25, recipient=amina)
    client = client_for(amina)

    first = client.get("/notifications/").content.decode()
    second = client.get("/notifications/", {"page": 2}).content.decode()

    assert first.count('<li id="notification-') == 20
    assert second.count('<li id="notification-') == 5
    assert "Page 1 of 2" in first


@pytest.mark.django_db
def test_notification_text_is_escaped(client_for, amina):
    NotificationFactory(recipient=amina, title="<script>alert(1)</script>", body="<b>x</b>")

    html = client_for(amina).get("/notifications/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html


# --- mark one read ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_mark_my_notification_read(client_for, amina):
    notification = NotificationFactory(recipient=amina)

    response = client_for(amina).post(f"/notifications/{notification.public_id}/read/")

    assert response.status_code == 302
    assert response["Location"] == "/notifications/"
    notification.refresh_from_db()
    assert notification.is_read


@pytest.mark.django_db
def test_mark_read_of_someone_elses_notification_is_404(client_for, amina, ben):
    bens = NotificationFactory(recipient=ben)

    response = client_for(amina).post(f"/notifications/{bens.public_id}/read/")

    assert response.status_code == 404
    bens.refresh_from_db()
    assert not bens.is_read


@pytest.mark.django_db
def test_mark_read_of_an_unknown_id_is_404(client_for, amina):
    response = client_for(amina).post("/notifications/00000000-0000-4000-8000-000000000000/read/")

    assert response.status_code == 404


@pytest.mark.django_db
def test_mark_read_by_get_is_405(client_for, amina):
    notification = NotificationFactory(recipient=amina)

    response = client_for(amina).get(f"/notifications/{notification.public_id}/read/")

    assert response.status_code == 405
    notification.refresh_from_db()
    assert not notification.is_read


@pytest.mark.django_db
def test_mark_read_anonymous_goes_to_login(client, amina):
    notification = NotificationFactory(recipient=amina)

    response = client.post(f"/notifications/{notification.public_id}/read/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    notification.refresh_from_db()
    assert not notification.is_read


@pytest.mark.django_db
def test_mark_read_htmx_returns_the_item_and_the_new_unread_badge(client_for, amina):
    notification, _other = NotificationFactory.create_batch(2, recipient=amina)
    target = f"notification-{notification.public_id}"

    response = client_for(amina).post(
        f"/notifications/{notification.public_id}/read/", **htmx(target)
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    item = re.search(rf'<li id="{target}" class="([^"]*)">', html)
    assert item and "notification-unread" not in item.group(1)
    assert "Mark read" not in html
    badge = re.search(r'<span id="unread-count" hx-swap-oob="true"[^>]*>(\d+)</span>', html)
    assert badge and badge.group(1) == "1"


@pytest.mark.django_db
def test_mark_read_twice_keeps_the_first_read_time(client_for, amina):
    notification = NotificationFactory(recipient=amina)
    client = client_for(amina)

    client.post(f"/notifications/{notification.public_id}/read/")
    notification.refresh_from_db()
    first = notification.read_at
    client.post(f"/notifications/{notification.public_id}/read/")
    notification.refresh_from_db()

    assert notification.read_at == first


# --- mark all read ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_read_all_marks_only_my_notifications(client_for, amina, ben):
    NotificationFactory.create_batch(3, recipient=amina)
    bens = NotificationFactory(recipient=ben)

    response = client_for(amina).post("/notifications/read-all/")

    assert response.status_code == 302
    assert response["Location"] == "/notifications/"
    assert not Notification.objects.filter(recipient=amina).unread().exists()
    bens.refresh_from_db()
    assert not bens.is_read


@pytest.mark.django_db
def test_read_all_htmx_returns_the_list_a_zero_badge_and_an_event(client_for, amina):
    NotificationFactory.create_batch(3, recipient=amina)

    response = client_for(amina).post("/notifications/read-all/", **htmx("notification-list"))

    assert response.status_code == 200
    assert response["HX-Trigger"] == "notificationsRead"
    html = response.content.decode()
    assert "<html" not in html
    assert '<section id="notification-list">' in html
    assert "notification-unread" not in html
    assert re.search(r'<span id="unread-count" hx-swap-oob="true"[^>]*>0</span>', html)


@pytest.mark.django_db
def test_read_all_by_get_is_405(client_for, amina):
    NotificationFactory(recipient=amina)

    assert client_for(amina).get("/notifications/read-all/").status_code == 405
    assert Notification.objects.filter(recipient=amina).unread().count() == 1


@pytest.mark.django_db
def test_read_all_anonymous_goes_to_login(client):
    response = client.post("/notifications/read-all/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- open (follow the link) -----------------------------------------------------------------------


@pytest.mark.django_db
def test_open_follows_an_internal_link_and_marks_read(client_for, amina):
    notification = NotificationFactory(recipient=amina, link="/patient/")

    response = client_for(amina).get(notification.get_absolute_url())

    assert response.status_code == 302
    assert response["Location"] == "/patient/"
    notification.refresh_from_db()
    assert notification.is_read


@pytest.mark.django_db
@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "http://evil.example",
        "javascript:alert(1)",
        "/\\evil.example",
    ],
)
def test_open_never_redirects_off_site(client_for, amina, link):
    notification = NotificationFactory(recipient=amina, link=link)

    response = client_for(amina).get(notification.get_absolute_url())

    assert response.status_code == 302
    assert response["Location"] == "/notifications/"


@pytest.mark.django_db
def test_open_without_a_link_goes_to_the_list(client_for, amina):
    notification = NotificationFactory(recipient=amina, link="")

    response = client_for(amina).get(notification.get_absolute_url())

    assert response["Location"] == "/notifications/"


@pytest.mark.django_db
def test_open_someone_elses_notification_is_404(client_for, amina, ben):
    bens = NotificationFactory(recipient=ben, link="/patient/")

    response = client_for(amina).get(bens.get_absolute_url())

    assert response.status_code == 404
    bens.refresh_from_db()
    assert not bens.is_read


@pytest.mark.django_db
def test_open_by_post_is_405(client_for, amina):
    notification = NotificationFactory(recipient=amina)

    assert client_for(amina).post(notification.get_absolute_url()).status_code == 405


@pytest.mark.django_db
def test_open_anonymous_goes_to_login(client, amina):
    notification = NotificationFactory(recipient=amina)

    response = client.get(notification.get_absolute_url())

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- query counts -----------------------------------------------------------------------------


# user, allauth user-session (savepoint, select, user, update, release), count, unread, page
NOTIFICATIONS_PAGE_QUERIES = 4


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 30])
def test_notification_page_query_count_does_not_grow(
    client_for, amina, django_assert_num_queries, count
):
    NotificationFactory.create_batch(count, recipient=amina)
    client = client_for(amina)
    client.get("/notifications/")  # warm up: session and user-session rows exist afterwards

    with django_assert_num_queries(NOTIFICATIONS_PAGE_QUERIES):
        response = client.get("/notifications/")

    assert response.status_code == 200
    assert response.content.decode().count('<li id="notification-') == min(count, 20)
