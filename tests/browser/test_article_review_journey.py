"""The issue's editorial journey in real browsers: a verified doctor writes an article in the
Wagtail editor and submits it to medical review; an editor requests changes with a comment;
the doctor reads the comment (on the site and in her email), edits and resubmits; the editor
approves; an anonymous visitor reads the published, stamped article at its URL."""

import re
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.browser.conftest import NAV_TIMEOUT_MS, log_in, url_path_re

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path("/tmp/shots-editorial")
EDIT_URL = re.compile(r"^https?://[^/]+/cms/pages/(\d+)/edit/(\?.*)?$")
COMMENT = "Please cite the 2024 ESC guideline for the blood pressure targets."


def _verified(user_id: int) -> None:
    from core.models import User
    from tests.factories import make_doctor

    make_doctor(User.objects.get(pk=user_id))


def _article_index_id() -> int:
    from blog.models import ArticleIndexPage

    return ArticleIndexPage.objects.get().pk


def _article_state(page_id: int) -> dict:
    from wagtail.models import WorkflowState

    from blog.models import ArticlePage

    article = ArticlePage.objects.get(pk=page_id)
    state = WorkflowState.objects.filter(object_id=str(page_id)).order_by("-pk").first()
    return {
        "live": article.live,
        "url": article.url,
        "author": str(article.author),
        "reviewed_on": article.medically_reviewed_on,
        "reviewer": article.medical_reviewer.email if article.medical_reviewer else None,
        "workflow": state.status if state else None,
    }


def _shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _body_editor(page):
    return page.locator("#panel-child-content-body-section [contenteditable='true']").first


def _write_text(page, text: str) -> None:
    """Types into the body's first rich text block, as a person would, and waits until the
    editor shows it (Draftail keeps its hidden input in step on each change)."""
    editor = _body_editor(page)
    expect(editor).to_be_visible()
    editor.click()
    page.keyboard.press("ControlOrMeta+End")  # add to the end of what is there
    page.keyboard.type(text, delay=5)
    expect(editor).to_contain_text(text)
    # Draftail copies its content into the form a moment after the last change (debounced),
    # which a person pausing before pressing a button gives it.
    page.locator("#id_summary").click()
    page.wait_for_timeout(1_000)


def _open_more_actions(page) -> None:
    """The editor's footer: the primary button and a menu toggle with the other actions."""
    page.locator("footer .dropdown-toggle, footer [data-w-dropdown-target='toggle']").first.click()


def _submit(page, action: str) -> None:
    """Chooses an action from the footer menu of the page editor; the page reloads."""
    _open_more_actions(page)
    button = page.locator("footer").get_by_role("button", name=action, exact=True)
    expect(button).to_be_visible()
    button.click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_be_visible(timeout=NAV_TIMEOUT_MS)


def test_doctor_writes_editor_sends_back_doctor_resubmits_editor_approves_reader_reads(
    settings, live_asgi, make_account, new_tab
):
    # Wagtail 8 autosaves drafts in the background every half second. A background save
    # racing a button press makes the test's shared in-memory SQLite answer "table is
    # locked"; the journey is about the buttons, so the background saving is off here.
    settings.WAGTAIL_AUTOSAVE_INTERVAL = 0
    clara = make_account("doctor", "Clara", "Weiss")
    eddie = make_account("editor", "Eddie", "Editor")
    live_asgi.run(_verified, clara.user.pk)
    index_id = live_asgi.run(_article_index_id)
    doctor_tab, editor_tab, reader_tab = new_tab(), new_tab(), new_tab()
    doctor, editor, reader = doctor_tab.page, editor_tab.page, reader_tab.page

    # --- The doctor writes an article in the Wagtail editor.
    log_in(doctor, clara)
    expect(doctor).to_have_url(url_path_re(clara.home), timeout=NAV_TIMEOUT_MS)
    doctor.goto("/cms/")
    _shoot(doctor, "doctor_cms_home")
    doctor.goto(f"/cms/pages/{index_id}/")
    _shoot(doctor, "doctor_explorer")
    doctor.goto(f"/cms/pages/add/blog/articlepage/{index_id}/")
    doctor.locator("#id_title").fill("Blood pressure after fifty")
    doctor.locator("#id_summary").fill("What the numbers mean and what lowers them.")
    _shoot(doctor, "doctor_editor_new")
    # Wagtail 8 saves a draft as soon as there is something to save: the page now exists.
    doctor.locator("#panel-child-content-body-section button[title='Insert a block']").first.click()
    doctor.get_by_role("option", name="Text").click()
    _write_text(doctor, "Below 120/80 is optimal. Walk thirty minutes a day.")
    _shoot(doctor, "doctor_editor_written")
    doctor.locator("footer").get_by_role("button", name="Save draft").click()
    expect(doctor).to_have_url(EDIT_URL, timeout=NAV_TIMEOUT_MS)
    page_id = int(EDIT_URL.match(doctor.url).group(1))
    expect(_body_editor(doctor)).to_contain_text("Walk thirty minutes a day.")
    _submit(doctor, "Submit to Medical review")
    _shoot(doctor, "doctor_submitted")
    state = live_asgi.run(_article_state, page_id)
    assert state["workflow"] == "in_progress" and not state["live"]
    assert state["author"] == "Dr Clara Weiss"

    # --- The editor finds it in the review queue on the site and requests changes.
    log_in(editor, eddie)
    expect(editor).to_have_url(url_path_re(eddie.home), timeout=NAV_TIMEOUT_MS)
    queue = editor.locator("#review-queue")
    expect(queue).to_contain_text("Blood pressure after fifty")
    expect(queue).to_contain_text("Dr Clara Weiss")
    expect(queue).to_contain_text("submitted just now")
    _shoot(editor, "editor_home")
    queue.get_by_role("link", name="Blood pressure after fifty").click()
    expect(editor).to_have_url(EDIT_URL, timeout=NAV_TIMEOUT_MS)
    _open_more_actions(editor)
    _shoot(editor, "editor_review_actions")
    editor.locator("footer").get_by_role("button", name="Request changes").click()
    modal = editor.locator(".modal-dialog")
    expect(modal).to_be_visible()
    modal.get_by_label("Comment").fill(COMMENT)
    _shoot(editor, "editor_request_changes_modal")
    modal.get_by_role("button", name="Request changes").click()
    expect(editor.locator(".messages")).to_contain_text("has been updated")
    state = live_asgi.run(_article_state, page_id)
    assert state["workflow"] == "needs_changes" and not state["live"]

    # --- The doctor reads the comment on the site and in her email.
    doctor.goto("/notifications/")
    notification = doctor.locator("main").get_by_text(
        'Changes requested on your article "Blood pressure after fifty"'
    )
    expect(notification).to_be_visible()
    expect(doctor.locator("main")).to_contain_text(COMMENT)
    _shoot(doctor, "doctor_notification")
    (message,) = [
        m for m in mail.outbox if clara.email in m.to and "Changes requested" in m.subject
    ]
    assert COMMENT in message.body

    # She follows the notification to the editor, edits and resubmits.
    notification.click()
    expect(doctor).to_have_url(EDIT_URL, timeout=NAV_TIMEOUT_MS)
    _write_text(doctor, " Source: 2024 ESC guideline.")
    _submit(doctor, "Resubmit to Medical review")
    state = live_asgi.run(_article_state, page_id)
    assert state["workflow"] == "in_progress" and not state["live"]

    # --- The editor sees it back in the queue and approves it.
    editor.goto(eddie.home)
    queue = editor.locator("#review-queue")
    expect(queue).to_contain_text("Blood pressure after fifty")
    queue.get_by_role("link", name="Blood pressure after fifty").click()
    expect(editor).to_have_url(EDIT_URL, timeout=NAV_TIMEOUT_MS)
    expect(_body_editor(editor)).to_contain_text("2024 ESC guideline")
    _submit(editor, "Approve and Publish")
    state = live_asgi.run(_article_state, page_id)
    assert state["live"] and state["workflow"] == "approved"
    assert state["reviewer"] == eddie.email and state["reviewed_on"] is not None
    editor.goto(eddie.home)
    expect(editor.locator("#review-queue")).to_contain_text("No articles are waiting for review.")

    # --- Anyone reads it at its URL.
    reader.goto(state["url"])
    _shoot(reader, "reader_article")
    expect(reader.locator("h1")).to_have_text("Blood pressure after fifty")
    expect(reader.locator("main")).to_contain_text("Walk thirty minutes a day.")
    expect(reader.locator("main")).to_contain_text("2024 ESC guideline")
    for tab in (doctor_tab, editor_tab, reader_tab):
        assert tab.errors == []
