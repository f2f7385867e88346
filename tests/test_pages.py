"""Health check, landing page, and the four role homes with their HTMX widgets."""

import re

import pytest

from core.models import Role
from tests.conftest import htmx
from tests.factories import NotificationFactory

# role -> (home URL, a widget region on it, text only the whole page has)
HOMES = {
    Role.PATIENT: ("/patient/", "care-overview", "Emergency"),
    Role.DOCTOR: ("/doctor/", "day-at-work", "Open the CMS"),
    Role.ADMIN: ("/operations/", "operations", "Administration"),
    Role.EDITOR: ("/editorial/", "review-queue", "Editorial review"),
}
CAST = {Role.PATIENT: "amina", Role.DOCTOR: "dr_clara", Role.ADMIN: "ada", Role.EDITOR: "eddie"}


@pytest.fixture
def user_of(request):
    """The cast member who has the given role."""

    def get(role):
        return request.getfixturevalue(CAST[role])

    return get


# --- health check ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_answers_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert response["Content-Type"].startswith("text/plain")
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_refuses_post(client):
    assert client.post("/healthz").status_code == 405


# --- landing and /home/ ------------------------------------------------------------------------


@pytest.mark.django_db
def test_landing_page_offers_signup_and_login_to_visitors(client):
    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/accounts/signup/"' in html
    assert 'href="/accounts/login/"' in html
    assert "Create a patient account" in html
    assert "ws-connect=" not in html  # no live socket for visitors


@pytest.mark.django_db
def test_landing_page_refuses_post(client):
    assert client.post("/").status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_signed_in_user_at_landing_goes_to_their_role_home(client_for, user_of, role):
    client = client_for(user_of(role))

    landing = client.get("/")
    home = client.get("/home/")

    assert landing.status_code == 302
    assert landing["Location"] == "/home/"
    assert home.status_code == 302
    assert home["Location"] == HOMES[role][0]


@pytest.mark.django_db
def test_home_for_anonymous_goes_to_login(client):
    response = client.get("/home/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/home/"


# --- role homes --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_role_home_works_for_its_role(client_for, user_of, role):
    url, region, page_only = HOMES[role]

    response = client_for(user_of(role)).get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert f'id="{region}"' in html
    assert page_only in html
    assert 'id="latest-notifications"' in html
    assert 'ws-connect="/ws/notifications/?regions=list"' in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "other"), [(role, other) for role in Role for other in Role if role != other]
)
def test_role_home_is_forbidden_to_other_roles(client_for, user_of, role, other):
    url = HOMES[role][0]

    response = client_for(user_of(other)).get(url)

    assert response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_role_home_sends_anonymous_to_login(client, role):
    url = HOMES[role][0]

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_role_home_refuses_post(client_for, user_of, role):
    response = client_for(user_of(role)).post(HOMES[role][0])

    assert response.status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_role_home_htmx_widget_gets_only_its_section(client_for, user_of, role):
    url, region, page_only = HOMES[role]

    response = client_for(user_of(role)).get(url, **htmx(region))

    assert response.status_code == 200
    html = response.content.decode().strip()
    assert re.match(rf'<section id="{region}"', html)
    assert html.endswith("</section>")
    assert "<html" not in html and "site-header" not in html
    assert page_only not in html
    assert 'id="latest-notifications"' not in html
    assert "HX-Request" in response["Vary"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_role_home_htmx_latest_notifications_widget(client_for, user_of, role):
    user = user_of(role)
    NotificationFactory(recipient=user, title="Widget news")

    response = client_for(user).get(HOMES[role][0], **htmx("latest-notifications"))

    html = response.content.decode().strip()
    assert html.startswith('<section id="latest-notifications"')
    assert "Widget news" in html
    assert "<html" not in html


@pytest.mark.django_db
def test_htmx_request_for_an_unknown_region_gets_the_whole_page(client_for, amina):
    response = client_for(amina).get("/patient/", **htmx("no-such-region"))

    assert response.status_code == 200
    assert b"<html" in response.content


@pytest.mark.django_db
def test_boosted_htmx_navigation_gets_the_whole_page(client_for, amina):
    response = client_for(amina).get("/patient/", **htmx("care-overview", **{"HX-Boosted": "true"}))

    assert b"<html" in response.content


@pytest.mark.django_db
def test_patient_home_shows_her_own_record_and_latest_notifications_only(client_for, amina, ben):
    NotificationFactory.create_batch(7, recipient=amina)
    NotificationFactory(recipient=ben, title="For Ben only")

    html = client_for(amina).get("/patient/").content.decode()

    assert "Hello, Amina" in html
    assert "Amina Okafor" in html  # the patient record
    assert html.count('<li id="notification-') == 5
    assert "For Ben only" not in html
    assert re.search(r'<span id="unread-count" class="badge">7</span>', html)


@pytest.mark.django_db
def test_htmx_request_to_a_redirecting_view_navigates_the_page(client_for, amina):
    # A plain 302 would be followed by the XHR and its page swapped into the widget.
    response = client_for(amina).get("/", **htmx("care-overview"))

    assert response.status_code == 204
    assert response["HX-Location"] == "/home/"
    assert response.content == b""


# --- query counts: pinned, and the same with 1 and with 30 notifications -----------------------

# Every home: user, the latest five notifications and the unread badge. Then per role: the
# patient record, the upcoming appointments of her and her dependents, and the live public
# articles (view restrictions, pages); staff: the TOTP check of the MFA middleware, plus the
# doctor profile (and today's agenda), or the operations board's four regions (today's
# appointments by status, open SOS requests, pending applications, deliveries in progress),
# or the editor's review queue (the workflow states waiting for a step of the editors).
HOME_QUERIES = {
    Role.PATIENT: 7,
    Role.DOCTOR: 5,
    Role.ADMIN: 8,
    Role.EDITOR: 5,
}


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 30])
@pytest.mark.parametrize("role", list(Role))
def test_role_home_query_count_is_fixed(
    client_for, user_of, django_assert_num_queries, role, count
):
    user = user_of(role)
    NotificationFactory.create_batch(count, recipient=user)
    client = client_for(user)
    url = HOMES[role][0]
    client.get(url)  # warm up: session and user-session rows exist afterwards

    with django_assert_num_queries(HOME_QUERIES[role]):
        response = client.get(url)

    assert response.status_code == 200
    assert response.content.decode().count('<li id="notification-') == min(count, 5)
