"""An anonymous visitor on a phone finds an article by specialty, topic and search, without the
page reloading, reads it, and comes back to the list; and the pages look right on a desktop."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import NAV_TIMEOUT_MS, UI_TIMEOUT_MS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path("/tmp/shots-articles")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _articles_publish() -> None:
    """Three published articles by a verified doctor, reviewed by an editor."""
    from datetime import timedelta

    from django.utils import timezone

    from blog.models import ArticleIndexPage, ArticlePage
    from clinic.models import Specialty
    from tests.factories import DoctorUserFactory, EditorUserFactory, make_doctor

    doctor = make_doctor(
        DoctorUserFactory(email="weiss@example.test", first_name="Clara", last_name="Weiss")
    )
    editor = EditorUserFactory(email="ed@example.test", first_name="Eddie", last_name="Editor")
    index = ArticleIndexPage.objects.get()
    articles = [
        ("Chest pain: when to call an ambulance", "chest", "cardiology", ["heart", "emergency"]),
        ("Blood pressure at home", "bp", "cardiology", ["heart"]),
        ("Fever in children", "fever", "pediatrics", ["children", "emergency"]),
    ]
    for days_ago, (title, slug, specialty, tags) in enumerate(articles):
        published = timezone.now() - timedelta(days=days_ago)
        article = ArticlePage(
            title=title,
            slug=slug,
            summary=f"What to know about {title.lower()}.",
            specialty=Specialty.objects.get(slug=specialty),
            author=doctor,
            owner=doctor.user,
            medically_reviewed_on=timezone.localdate(),
            medical_reviewer=editor,
            body=[
                {"type": "rich_text", "value": f"<p>{title} explained for patients.</p>"},
                {"type": "heading", "value": {"text": "Warning signs", "level": "h2"}},
                {
                    "type": "callout",
                    "value": {
                        "kind": "danger",
                        "title": "Call now",
                        "text": "<p>Pain that spreads to the arm or jaw.</p>",
                    },
                },
                {"type": "quote", "value": {"text": "Minutes count.", "attribution": "Dr Weiss"}},
                {
                    "type": "references",
                    "value": [{"citation": "NHS. Heart attack.", "url": "https://www.nhs.uk/"}],
                },
            ],
            first_published_at=published,
            last_published_at=published,
            live=True,
        )
        for tag in tags:
            article.tags.add(tag)
        index.add_child(instance=article)


@pytest.fixture(autouse=True)
def _shots_dir():
    SHOTS.mkdir(parents=True, exist_ok=True)


def _titles(page) -> list[str]:
    return page.locator("#article-list .article-card h3").all_inner_texts()


def test_anonymous_visitor_filters_searches_and_reads_an_article(live_asgi, tab):
    live_asgi.run(_articles_publish)
    page = tab.page
    page.set_viewport_size(PHONE)

    page.goto("/articles/")
    expect(page.locator("h1")).to_have_text("Health articles")
    assert _titles(page) == [
        "Chest pain: when to call an ambulance",
        "Blood pressure at home",
        "Fever in children",
    ]
    page.screenshot(path=f"{SHOTS}/browser-index-phone.png", full_page=True)
    # Marks this page load: it stays while htmx swaps the list, and would go with a reload.
    page.evaluate("window.__sameLoad = true")

    # A specialty: the list is swapped in and the address bar follows.
    page.get_by_role("link", name="Cardiology", exact=True).click()
    expect(page).to_have_url(re.compile(r"/articles/\?specialty=cardiology$"))
    expect(page.locator("#article-results-heading")).to_contain_text("2 articles found")
    assert _titles(page) == ["Chest pain: when to call an ambulance", "Blood pressure at home"]
    expect(page.locator("#article-results-status")).to_have_text("2 articles found")

    # A topic on top of it.
    page.get_by_role("link", name="#emergency", exact=True).click()
    expect(page).to_have_url(re.compile(r"/articles/\?specialty=cardiology&tag=emergency$"))
    expect(page.locator("#article-results-heading")).to_contain_text("1 article found")

    # Removing the specialty keeps the topic.
    page.locator('#article-list a[aria-current="true"]', has_text="Cardiology").click()
    expect(page).to_have_url(re.compile(r"/articles/\?tag=emergency$"))
    expect(page.locator("#article-results-heading")).to_contain_text("2 articles found")

    # A search keeps the topic chosen, and finds words in the body.
    page.get_by_label("Search articles").fill("children")
    expect(page).to_have_url(re.compile(r"/articles/\?q=children&tag=emergency$"))
    expect(page.locator("#article-results-heading")).to_contain_text("1 article found")
    assert _titles(page) == ["Fever in children"]
    # Words that match nothing say so.
    page.get_by_label("Search articles").fill("zebra")
    page.get_by_label("Search articles").press("Enter")
    expect(page.locator("#article-list")).to_contain_text("No article matches this search.")
    assert page.evaluate("window.__sameLoad") is True

    # Read an article.
    page.get_by_label("Search articles").fill("fever")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#article-results-heading")).to_contain_text("1 article found")
    page.get_by_role("link", name="Fever in children").click()
    expect(page).to_have_url(re.compile(r"/articles/fever/$"))
    expect(page.locator("h1")).to_have_text("Fever in children")
    expect(page.locator(".article-reviewed")).to_contain_text("Medically reviewed on")
    expect(page.locator(".article-reviewed")).to_contain_text("by Eddie Editor")
    expect(page.get_by_role("complementary", name="Seek care now")).to_contain_text("Call now")
    expect(page.locator(".references ol li")).to_have_count(1)
    expect(page.locator(".article-related")).to_contain_text("Chest pain")
    page.screenshot(path=f"{SHOTS}/browser-article-phone.png", full_page=True)

    # Back to the list as it was.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/articles/\?q=fever&tag=emergency$"))
    expect(page.locator("#article-results-heading")).to_contain_text(
        "1 article found", timeout=UI_TIMEOUT_MS
    )
    expect(page.get_by_label("Search articles")).to_have_value("fever")

    # A topic link on the article leads to the filtered index.
    page.goto("/articles/fever/")
    page.locator(".article-footer").get_by_role("link", name="#children").click()
    expect(page).to_have_url(re.compile(r"/articles/\?tag=children$"), timeout=NAV_TIMEOUT_MS)
    assert _titles(page) == ["Fever in children"]

    assert tab.csp_violations() == []
    assert tab.errors == []


def test_index_and_article_on_a_desktop(live_asgi, tab):
    live_asgi.run(_articles_publish)
    page = tab.page
    page.set_viewport_size(DESKTOP)

    page.goto("/articles/")
    # Three cards side by side on a wide screen.
    boxes = [card.bounding_box() for card in page.locator(".article-card").all()]
    assert len({round(box["y"]) for box in boxes}) == 1
    page.screenshot(path=f"{SHOTS}/browser-index-desktop.png", full_page=True)

    page.goto("/articles/chest/")
    expect(page.locator("h1")).to_have_text("Chest pain: when to call an ambulance")
    column = page.locator("article.article").bounding_box()
    assert column["width"] <= 46 * 16 + 1  # a readable line length
    page.screenshot(path=f"{SHOTS}/browser-article-desktop.png", full_page=True)

    assert tab.csp_violations() == []
    assert tab.errors == []
