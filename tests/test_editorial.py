"""Editorial review in the CMS: doctors write their own articles and submit them, editors approve
(publishes, stamps the medical review) or request changes with a comment that reaches the author;
unverified or deactivated doctors cannot author; scheduled publishing; the editor's home.

Everything goes through the CMS URLs a browser would use, so Wagtail's own permission checks
are the ones tested."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.test import Client
from django.utils import timezone
from wagtail.models import (
    GroupCollectionPermission,
    GroupPagePermission,
    PageLogEntry,
    Workflow,
    WorkflowState,
)
from wagtail.test.utils.form_data import inline_formset, nested_form_data, rich_text, streamfield

from blog.editorial import MEDICAL_REVIEW, editorial_setup
from blog.models import ArticleIndexPage, ArticlePage
from blog.review import articles_awaiting_review
from blog.tasks import articles_publish_scheduled
from clinic.models import Doctor
from core.models import Notification, NotificationKind, Role
from tests.conftest import htmx
from tests.factories import DoctorUserFactory, EditorUserFactory, make_doctor

# --- the cast and helpers ---------------------------------------------------------------------


@pytest.fixture
def index(db):
    return ArticleIndexPage.objects.get()


@pytest.fixture
def clara(dr_clara):
    """Dr Clara Weiss, verified cardiologist, with her authenticator app."""
    make_doctor(dr_clara)
    return dr_clara


@pytest.fixture
def nils(db):
    """Another verified doctor, who writes his own articles."""
    user = DoctorUserFactory(email="nils@example.test", first_name="Nils", last_name="Brandt")
    make_doctor(user)
    return user


@pytest.fixture
def lena(db):
    """A doctor whose application is still pending: she holds the doctor role."""
    user = DoctorUserFactory(email="lena@example.test", first_name="Lena", last_name="Vogel")
    make_doctor(user, status=Doctor.Status.PENDING)
    return user


def _add_url(index) -> str:
    return f"/cms/pages/add/blog/articlepage/{index.pk}/"


def _edit_url(page) -> str:
    return f"/cms/pages/{page.pk}/edit/"


def _action_url(page, action: str) -> str:
    task_state = ArticlePage.objects.get(pk=page.pk).current_workflow_task_state
    return f"/cms/pages/workflow/action/{page.pk}/{action}/{task_state.pk}/"


def _article_data(title="Heart health after fifty", slug="heart-health", **extra) -> dict:
    data = {
        "title": title,
        "slug": slug,
        "summary": "Blood pressure, movement and sleep.",
        "hero_alt": "",
        "body": streamfield([("rich_text", rich_text("<p>Walk thirty minutes a day.</p>"))]),
        "tags": "",
        "comments": inline_formset([]),
    }
    data.update(extra)
    return nested_form_data(data)


def _write(client: Client, index, **extra):
    """A doctor (or editor) saves a new article in the CMS editor; returns the response."""
    return client.post(_add_url(index), _article_data(**extra))


def _article(slug="heart-health") -> ArticlePage:
    return ArticlePage.objects.get(slug=slug)


def _submit_new(client: Client, index, **extra) -> ArticlePage:
    response = _write(client, index, **{"action-submit": "Submit to Medical review", **extra})
    assert response.status_code == 302, response.content.decode()[:2000]
    return _article(extra.get("slug", "heart-health"))


def _review(client: Client, page, action: str, comment: str = ""):
    return client.post(_action_url(page, action), {"comment": comment})


def _mail_to(user) -> list:
    return [message for message in mail.outbox if user.email in message.to]


def _denied(response) -> bool:
    """Wagtail answers a forbidden admin page with 403, or sends the user to the admin home
    with 'Sorry, you do not have permission'."""
    return response.status_code == 403 or (
        response.status_code == 302 and response["Location"] in ("/cms/", "/cms/login/")
    )


# --- the set-up --------------------------------------------------------------------------------


def _setup_snapshot(index) -> dict:
    return {
        "pages": sorted(
            GroupPagePermission.objects.filter(page=index).values_list(
                "group__name", "permission__codename"
            )
        ),
        "images": sorted(
            GroupCollectionPermission.objects.filter(
                group__name__in=[Role.DOCTOR, Role.EDITOR]
            ).values_list("group__name", "permission__codename")
        ),
        "workflows": list(Workflow.objects.filter(name=MEDICAL_REVIEW).values_list("pk")),
    }


@pytest.mark.django_db
def test_setup_gives_doctors_add_only_and_editors_review_rights_idempotently(index):
    first = _setup_snapshot(index)
    editorial_setup()
    editorial_setup()

    assert _setup_snapshot(index) == first
    assert first["pages"] == [
        ("doctor", "add_page"),
        ("editor", "add_page"),
        ("editor", "change_page"),
        ("editor", "lock_page"),
        ("editor", "publish_page"),
        ("editor", "unlock_page"),
    ]
    assert first["images"] == [
        ("doctor", "add_image"),
        ("doctor", "choose_image"),
        ("editor", "add_image"),
        ("editor", "change_image"),
        ("editor", "choose_image"),
        ("editor", "delete_image"),
    ]
    workflow = index.get_workflow()
    assert workflow.name == MEDICAL_REVIEW and workflow.active
    (task,) = [task.specific for task in workflow.tasks]
    assert task.name == MEDICAL_REVIEW
    assert list(task.groups.all()) == [Group.objects.get(name=Role.EDITOR)]


@pytest.mark.django_db
def test_setup_puts_back_a_permission_someone_removed_and_takes_away_one_added(index):
    doctors = Group.objects.get(name=Role.DOCTOR)
    GroupPagePermission.objects.filter(group=doctors, page=index).delete()
    GroupPagePermission.objects.create(
        group=doctors,
        page=index,
        permission=Permission.objects.get(
            content_type__app_label="wagtailcore", codename="publish_page"
        ),
    )

    editorial_setup()

    assert list(
        GroupPagePermission.objects.filter(group=doctors).values_list(
            "permission__codename", flat=True
        )
    ) == ["add_page"]


# --- doctors write and submit ------------------------------------------------------------------


@pytest.mark.django_db
def test_doctor_writes_an_article_and_submits_it_to_medical_review(
    client_for, clara, eddie, index, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        article = _submit_new(client_for(clara), index)

    assert not article.live
    assert article.owner == clara
    assert article.author == clara.doctor
    state = WorkflowState.objects.get(object_id=str(article.pk))
    assert state.status == WorkflowState.STATUS_IN_PROGRESS
    assert state.workflow.name == MEDICAL_REVIEW
    assert state.current_task_state.task.name == MEDICAL_REVIEW
    assert state.requested_by == clara
    # The editors are told by Wagtail that something waits for them.
    assert any("Heart health after fifty" in message.subject for message in _mail_to(eddie))


@pytest.mark.django_db
def test_doctor_cannot_choose_the_author_nor_stamp_the_review(client_for, clara, nils, index):
    _write(
        client_for(clara),
        index,
        author=str(nils.doctor.pk),
        medically_reviewed_on="2020-01-01",
        medical_reviewer=str(nils.pk),
    )

    article = _article()
    assert article.author == clara.doctor
    assert article.medically_reviewed_on is None
    assert article.medical_reviewer is None


@pytest.mark.django_db
def test_doctor_cannot_publish_directly(client_for, clara, index):
    client = client_for(clara)

    _write(client, index, **{"action-publish": "Publish"})
    article = _article()
    assert not article.live
    # Nor from the edit screen, nor with the bulk action.
    client.post(_edit_url(article), _article_data(**{"action-publish": "Publish"}))
    client.post(f"/cms/bulk/wagtailcore/page/publish/?id={article.pk}", {})
    assert not _article().live
    assert not article.permissions_for_user(clara).can_publish()


@pytest.mark.django_db
def test_doctor_cannot_open_nor_change_another_doctors_article(client_for, clara, nils, index):
    _write(client_for(nils), index, title="Nils's draft", slug="nils-draft")
    draft = _article("nils-draft")
    clara_client = client_for(clara)

    assert _denied(clara_client.get(_edit_url(draft)))
    response = clara_client.post(
        _edit_url(draft), _article_data(title="Taken over", slug="nils-draft")
    )

    assert _denied(response)
    assert _article("nils-draft").get_latest_revision_as_object().title == "Nils's draft"
    assert _denied(clara_client.post(f"/cms/pages/{draft.pk}/delete/"))
    assert ArticlePage.objects.filter(pk=draft.pk).exists()
    # Her explorer does not even list his unpublished draft.
    listing = clara_client.get(f"/cms/pages/{index.pk}/").content.decode()
    assert "Nils&#x27;s draft" not in listing and "Nils's draft" not in listing


@pytest.mark.django_db
def test_no_cms_screen_tells_a_doctor_the_title_of_another_doctors_draft(
    client_for, clara, nils, index
):
    _write(client_for(nils), index, title="Nils unpublished thoughts", slug="nils-draft")
    clara_client = client_for(clara)

    for url in (
        "/cms/pages/search/?q=unpublished",
        "/cms/reports/site-history/",
        "/cms/reports/workflow/",
        "/cms/choose-page/",
        f"/cms/choose-page/{index.pk}/",
        "/cms/choose-page/search/?q=unpublished",
    ):
        response = clara_client.get(url)
        assert response.status_code == 200, url
        assert "Nils unpublished thoughts" not in response.content.decode(), url
    # The author finds his own draft.
    own = client_for(nils).get("/cms/pages/search/?q=unpublished").content.decode()
    assert "Nils unpublished thoughts" in own


@pytest.mark.django_db
def test_doctor_edits_own_draft(client_for, clara, index):
    client = client_for(clara)
    _write(client, index)
    article = _article()

    response = client.post(_edit_url(article), _article_data(title="Heart health at any age"))

    assert response.status_code == 302
    assert _article().get_latest_revision_as_object().title == "Heart health at any age"


@pytest.mark.django_db
def test_a_pending_doctor_cannot_author(client_for, lena, index):
    client = client_for(lena)

    assert _denied(client.get(_add_url(index)))
    assert _denied(_write(client, index, **{"action-submit": "Submit"}))
    assert not ArticlePage.objects.exists()
    assert _denied(client.get("/cms/images/add/"))


@pytest.mark.django_db
def test_a_doctor_who_lost_verification_cannot_edit_nor_submit_her_draft(client_for, clara, index):
    client = client_for(clara)
    _write(client, index)
    article = _article()
    Doctor.objects.filter(user=clara).update(status=Doctor.Status.REJECTED)

    assert _denied(client.get(_edit_url(article)))
    response = client.post(
        _edit_url(article), _article_data(title="Changed", **{"action-submit": "Submit"})
    )

    assert _denied(response)
    assert not WorkflowState.objects.exists()
    assert _article().get_latest_revision_as_object().title == "Heart health after fifty"


@pytest.mark.django_db
def test_a_deactivated_doctor_cannot_author(client_for, clara, index):
    client = client_for(clara)
    _write(client, index)
    article = _article()
    clara.is_active = False
    clara.save(update_fields=["is_active"])

    response = client.get(_edit_url(article))

    assert response.status_code == 302 and "login" in response["Location"]
    assert not article.permissions_for_user(clara).can_edit()
    assert not index.permissions_for_user(clara).can_add_subpage()


@pytest.mark.django_db
def test_the_gate_is_wagtails_permission_policy(clara, lena, index):
    """The same answer for every Wagtail screen, because they all ask the policy."""
    from wagtail.images import get_image_model
    from wagtail.permissions import policy_registry

    pages = policy_registry.get_by_type(ArticlePage)
    images = policy_registry.get_by_type(get_image_model())

    assert pages.user_has_permission(clara, "add")
    assert images.user_has_permission(clara, "add")
    assert not pages.user_has_permission(lena, "add")
    assert not images.user_has_permission(lena, "add")
    assert not pages.explorable_instances(lena).exists()


@pytest.mark.django_db
def test_doctor_sees_only_the_articles_section_in_the_cms(client_for, clara, index):
    response = client_for(clara).get("/cms/")

    assert response.status_code == 200
    html = response.content.decode()
    menu = json.loads(
        html.split('id="wagtail-sidebar-props"')[1].split(">", 1)[1].split("</script>")[0]
    )
    names = {item["name"] for item in _menu_items(menu)}
    # The articles (page explorer), images for them, help, and her own account.
    assert names == {"explorer", "images", "help", "account", "logout"}


def _menu_items(props) -> list[dict]:
    """The top-level menu items from the sidebar's serialised props."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("_type", "").endswith("MenuItem") and "name" in node.get("_args", [{}])[0]:
                found.append(node["_args"][0])
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(props)
    return found


@pytest.mark.django_db
def test_doctor_uploads_an_image_for_an_article(client_for, clara):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from wagtail.images import get_image_model
    from wagtail.images.tests.utils import get_test_image_file

    image_file = get_test_image_file()
    response = client_for(clara).post(
        "/cms/images/add/",
        {
            "title": "ECG",
            "file": SimpleUploadedFile("ecg.png", image_file.file.getvalue()),
            "collection": "1",
        },
    )

    assert response.status_code == 302
    assert get_image_model().objects.get(title="ECG").uploaded_by_user == clara


# --- editors review --------------------------------------------------------------------------


@pytest.fixture
def submitted(client_for, clara, index, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        article = _submit_new(client_for(clara), index)
    mail.outbox.clear()
    return article


@pytest.mark.django_db
def test_editor_requests_changes_and_the_author_reads_the_comment(
    client_for, clara, eddie, submitted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _review(
            client_for(eddie), submitted, "reject", "Please cite the 2024 ESC guideline."
        )

    assert response.status_code in (200, 302)
    assert not _article().live
    state = WorkflowState.objects.get(object_id=str(submitted.pk))
    assert state.status == WorkflowState.STATUS_NEEDS_CHANGES
    told = Notification.objects.get(recipient=clara, kind=NotificationKind.ARTICLE)
    assert told.title == 'Changes requested on your article "Heart health after fifty"'
    assert "Please cite the 2024 ESC guideline." in told.body
    assert told.link == _edit_url(submitted)
    (message,) = _mail_to(clara)
    assert "Changes requested" in message.subject
    assert "Please cite the 2024 ESC guideline." in message.body


@pytest.mark.django_db
def test_author_edits_and_resubmits_after_changes_were_requested(
    client_for, clara, eddie, submitted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _review(client_for(eddie), submitted, "reject", "Shorter title, please.")

    response = client_for(clara).post(
        _edit_url(submitted),
        _article_data(title="Heart health", **{"action-submit": "Resubmit"}),
    )

    assert response.status_code == 302
    state = WorkflowState.objects.get(object_id=str(submitted.pk))
    assert state.status == WorkflowState.STATUS_IN_PROGRESS
    assert [item.title for item in articles_awaiting_review()] == ["Heart health"]


@pytest.mark.django_db
def test_a_doctor_cannot_approve_her_own_article(client_for, clara, submitted):
    client_for(clara).post(_action_url(submitted, "approve"), {"comment": "Looks great"})

    assert not _article().live
    assert WorkflowState.objects.get().status == WorkflowState.STATUS_IN_PROGRESS


@pytest.mark.django_db
def test_editor_approves_the_article_goes_live_stamped_and_anyone_reads_it(
    client, client_for, clara, eddie, submitted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _review(client_for(eddie), submitted, "approve", "Well sourced.")

    article = _article()
    assert article.live
    assert article.medically_reviewed_on == timezone.localdate()
    assert article.medical_reviewer == eddie
    assert article.author == clara.doctor
    # The published revision carries the stamp, so it is part of the page's history.
    live = article.live_revision.as_object()
    assert (live.medically_reviewed_on, live.medical_reviewer_id) == (
        timezone.localdate(),
        eddie.pk,
    )
    told = Notification.objects.get(recipient=clara)
    assert told.title == 'Your article "Heart health after fifty" was approved and published'
    assert "Well sourced." in told.body
    assert len(_mail_to(clara)) == 1
    response = client.get("/articles/heart-health/")
    assert response.status_code == 200
    assert "Walk thirty minutes a day." in response.content.decode()


@pytest.mark.django_db
def test_the_stamp_survives_the_authors_next_draft(
    client_for, clara, eddie, submitted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _review(client_for(eddie), submitted, "approve")

    client_for(clara).post(_edit_url(submitted), _article_data(title="Heart health, updated"))

    draft = _article().get_latest_revision_as_object()
    assert draft.title == "Heart health, updated"
    assert (draft.medically_reviewed_on, draft.medical_reviewer_id) == (
        timezone.localdate(),
        eddie.pk,
    )


@pytest.mark.django_db
def test_editor_approving_from_the_editor_with_a_correction_publishes_the_corrected_stamped_text(
    client_for, eddie, submitted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(eddie).post(
            _edit_url(submitted),
            _article_data(
                title="Heart health after 50",
                **{
                    "action-workflow-action": "true",
                    "workflow-action-name": "approve",
                    "workflow-action-extra-data": json.dumps({"comment": "Fixed a typo."}),
                },
            ),
        )

    assert response.status_code == 302
    article = _article()
    assert article.live and article.title == "Heart health after 50"
    assert article.medical_reviewer == eddie
    assert article.live_revision == article.latest_revision


@pytest.mark.django_db
def test_stamping_happens_on_medical_review_approval_only(clara, eddie, index):
    """An article an editor publishes directly (no review step) is not marked reviewed."""
    article = ArticlePage(title="Direct", slug="direct", author=clara.doctor)
    index.add_child(instance=article)
    article.save_revision(user=eddie).publish(user=eddie)

    article.refresh_from_db()
    assert article.medically_reviewed_on is None


# --- scheduled publishing ----------------------------------------------------------------------


@pytest.mark.django_db
def test_an_article_approved_with_a_future_go_live_date_publishes_then(
    client, client_for, eddie, submitted, django_capture_on_commit_callbacks
):
    go_live = timezone.localtime() + timedelta(days=2)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(eddie).post(
            _edit_url(submitted),
            _article_data(
                go_live_at=go_live.strftime("%Y-%m-%d %H:%M"),
                **{"action-workflow-action": "true", "workflow-action-name": "approve"},
            ),
        )

    article = _article()
    assert not article.live
    revision = article.latest_revision
    assert revision.approved_go_live_at is not None
    assert articles_publish_scheduled() == {"published": 0, "unpublished": 0}
    assert client.get("/articles/heart-health/").status_code == 404

    # Two days later.
    with time_machine.travel(go_live + timedelta(minutes=1), tick=False):
        assert articles_publish_scheduled() == {"published": 1, "unpublished": 0}
        # A second run (late, or by a second worker) changes nothing.
        assert articles_publish_scheduled() == {"published": 0, "unpublished": 0}

    article = _article()
    assert article.live
    assert article.medical_reviewer == eddie
    assert client.get("/articles/heart-health/").status_code == 200
    assert (
        PageLogEntry.objects.filter(page=article, action="wagtail.publish.scheduled").count() == 1
    )


@pytest.mark.django_db
def test_an_expired_article_is_unpublished_once(client, clara, index):
    article = ArticlePage(title="Old news", slug="old-news", author=clara.doctor)
    index.add_child(instance=article)
    article.save_revision().publish()
    ArticlePage.objects.filter(pk=article.pk).update(expire_at=timezone.now() - timedelta(hours=1))

    assert articles_publish_scheduled() == {"published": 0, "unpublished": 1}
    assert articles_publish_scheduled() == {"published": 0, "unpublished": 0}
    assert not _article("old-news").live
    assert client.get("/articles/old-news/").status_code == 404


@pytest.mark.django_db
def test_scheduled_publishing_runs_every_minute_through_django_q():
    from django_q.models import Schedule

    from core.schedules import schedules_setup

    schedules_setup()
    schedule = Schedule.objects.get(func="blog.tasks.articles_publish_scheduled")
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1


# --- the editor's home ----------------------------------------------------------------------


HOME = "/editorial/"


def _waiting_article(index, doctor_user, *, title, slug, days_ago: int) -> ArticlePage:
    article = ArticlePage(title=title, slug=slug, author=doctor_user.doctor, owner=doctor_user)
    article.live = False
    index.add_child(instance=article)
    article.save_revision(user=doctor_user)
    state = Workflow.objects.get(name=MEDICAL_REVIEW).start(article, doctor_user)
    started = timezone.now() - timedelta(days=days_ago, minutes=5)
    type(state.current_task_state).objects.filter(pk=state.current_task_state.pk).update(
        started_at=started
    )
    return article


@pytest.mark.django_db
def test_editor_home_lists_articles_awaiting_review_oldest_first_with_age_and_author(
    client_for, eddie, clara, nils, index
):
    recent = _waiting_article(index, clara, title="Sleep", slug="sleep", days_ago=0)
    old = _waiting_article(index, nils, title="Asthma in winter", slug="asthma", days_ago=3)

    html = client_for(eddie).get(HOME).content.decode()

    assert html.index("Asthma in winter") < html.index("Sleep")
    assert "Dr Nils Brandt" in html and "waiting 3 days" in html
    assert "Dr Clara Weiss" in html and "waiting 5 minutes" in html
    assert f'href="{_edit_url(old)}"' in html and f'href="{_edit_url(recent)}"' in html
    assert "No articles are waiting for review." not in html


@pytest.mark.django_db
def test_editor_home_forgets_articles_once_reviewed(
    client_for, eddie, clara, index, django_capture_on_commit_callbacks
):
    article = _waiting_article(index, clara, title="Sleep", slug="sleep", days_ago=1)
    with django_capture_on_commit_callbacks(execute=True):
        _review(client_for(eddie), article, "approve")

    html = client_for(eddie).get(HOME).content.decode()

    assert "No articles are waiting for review." in html
    assert articles_awaiting_review() == []


@pytest.mark.django_db
def test_editor_home_refresh_returns_the_queue_only(client_for, eddie, clara, index):
    _waiting_article(index, clara, title="Sleep", slug="sleep", days_ago=2)

    response = client_for(eddie).get(HOME, **htmx("review-queue"))

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="review-queue"')
    assert "Sleep" in html and "waiting 2 days" in html
    assert "<h1>" not in html


REVIEW_QUEUE_QUERIES = 2


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 4])
def test_review_queue_reads_a_fixed_number_of_queries(
    clara, index, django_assert_num_queries, count
):
    for number in range(count):
        _waiting_article(index, clara, title=f"A{number}", slug=f"a{number}", days_ago=number)
    articles_awaiting_review()  # content types cached, as in a running server

    with django_assert_num_queries(REVIEW_QUEUE_QUERIES):
        queue = articles_awaiting_review()
        rendered = [(item.title, item.author_name, item.waiting_label) for item in queue]

    assert len(rendered) == count


@pytest.mark.django_db
def test_editor_home_is_for_editors_only(client, client_for, amina, clara, ada):
    assert client.get(HOME)["Location"] == f"/accounts/login/?next={HOME}"
    for user in (amina, clara, ada):
        assert client_for(user).get(HOME).status_code == 403
    assert client_for(EditorUserFactory()).post(HOME).status_code == 405


# --- editors stay out of the admins' screens ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/cms/audit-log/", "/cms/sos-requests/"])
def test_editors_cannot_open_admin_screens(client_for, eddie, path):
    response = client_for(eddie).get(path)

    assert _denied(response)


@pytest.mark.django_db
def test_editors_reach_the_articles_section(client_for, eddie, index):
    client = client_for(eddie)

    assert client.get(f"/cms/pages/{index.pk}/").status_code == 200
    assert client.get(_add_url(index)).status_code == 200
