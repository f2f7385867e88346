"""The public side of medical articles: the index at /articles/ (pages, filters, search, the
HTMX list region) and the article page (every block kind, authorship, review stamp, escaping).

Anyone may read a published, public article; nobody reads a draft or a private one without
the right to."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from wagtail.images import get_image_model
from wagtail.images.tests.utils import get_test_image_file
from wagtail.models import PageViewRestriction

from blog.models import ArticleIndexPage, ArticlePage
from clinic.models import Doctor, Specialty
from tests.conftest import htmx
from tests.factories import make_doctor

SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture
def article_index(db):
    return ArticleIndexPage.objects.get()


def hero_image(title="Hero", size=(1600, 900)):
    return get_image_model().objects.create(
        title=title, file=get_test_image_file(filename=f"{title}.png", size=size)
    )


def publish(
    index,
    *,
    title,
    slug,
    summary="",
    body=None,
    specialty=None,
    tags=(),
    author=None,
    days_ago=0,
    hero=None,
    hero_alt="",
    reviewed_by=None,
    search_description="",
    live=True,
):
    """An article as the editorial side leaves it once published (or a draft, with live=False)."""
    published_at = timezone.now() - timedelta(days=days_ago)
    article = ArticlePage(
        title=title,
        slug=slug,
        summary=summary,
        body=body or [],
        specialty=Specialty.objects.get(slug=specialty) if specialty else None,
        author=author,
        hero_image=hero,
        hero_alt=hero_alt,
        search_description=search_description,
        medically_reviewed_on=timezone.localdate(published_at) if reviewed_by else None,
        medical_reviewer=reviewed_by,
        live=live,
        first_published_at=published_at if live else None,
        last_published_at=published_at if live else None,
    )
    for tag in tags:
        article.tags.add(tag)
    index.add_child(instance=article)
    return article


def text(html):
    return {"type": "rich_text", "value": html}


def card_titles(html: str) -> list[str]:
    """The titles of the article cards on a page, in order."""
    return re.findall(r'<h3><a href="/articles/[^"]+/">([^<]+)</a></h3>', html)


# --- The index ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_index_without_articles_says_so(client, article_index):
    response = client.get("/articles/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f"<h1>{article_index.title}</h1>" in html
    assert "No articles published yet." in html
    assert 'name="q"' in html
    # The strict policy applies to article pages too: they are not under /cms/.
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "style=" not in html


@pytest.mark.django_db
def test_index_lists_published_public_articles_newest_first(client, article_index):
    publish(article_index, title="Older", slug="older", days_ago=5, summary="From last week.")
    publish(article_index, title="Newest", slug="newest", days_ago=0)
    publish(article_index, title="Middle", slug="middle", days_ago=2)
    publish(article_index, title="A draft", slug="draft", live=False)
    private = publish(article_index, title="Staff only", slug="private")
    PageViewRestriction.objects.create(page=private, restriction_type=PageViewRestriction.LOGIN)

    html = client.get("/articles/").content.decode()

    assert card_titles(html) == ["Newest", "Middle", "Older"]
    assert '<a href="/articles/older/">Older</a>' in html
    assert "From last week." in html


@pytest.mark.django_db
def test_index_pages_by_twelve(client, article_index):
    for number in range(13):
        publish(article_index, title=f"Article {number:02d}", slug=f"a-{number}", days_ago=number)

    first = client.get("/articles/").content.decode()
    second = client.get("/articles/?page=2").content.decode()

    assert card_titles(first) == [f"Article {n:02d}" for n in range(12)]
    assert card_titles(second) == ["Article 12"]
    assert 'href="/articles/?page=2"' in first
    assert 'rel="next"' in first
    assert 'href="/articles/?page=1"' in second
    assert 'aria-current="page">2<' in second
    # A page out of range or not a number shows the last or the first page, not an error.
    assert card_titles(client.get("/articles/?page=99").content.decode()) == ["Article 12"]
    assert len(card_titles(client.get("/articles/?page=x").content.decode())) == 12


@pytest.fixture
def topics(article_index):
    """Two cardiology articles and a pediatrics one, tagged."""
    return {
        "bp": publish(
            article_index,
            title="Blood pressure basics",
            slug="bp",
            specialty="cardiology",
            tags=["heart health", "lifestyle"],
            body=[text("<p>Measure at home, seated, twice a day.</p>")],
            days_ago=3,
        ),
        "chest": publish(
            article_index,
            title="Chest pain",
            slug="chest",
            specialty="cardiology",
            tags=["heart health", "emergency"],
            summary="When to call an ambulance.",
            days_ago=2,
        ),
        "fever": publish(
            article_index,
            title="Fever in children",
            slug="fever",
            specialty="pediatrics",
            tags=["children", "emergency"],
            body=[text("<p>A temperature of 38 degrees or more is a fever.</p>")],
            days_ago=1,
        ),
    }


@pytest.mark.django_db
def test_index_filters_by_specialty_with_real_links(client, topics):
    html = client.get("/articles/").content.decode()
    assert 'href="/articles/?specialty=cardiology"' in html
    assert 'href="/articles/?specialty=pediatrics"' in html
    assert 'href="/articles/?specialty=dermatology"' not in html  # no article there

    filtered = client.get("/articles/?specialty=cardiology").content.decode()

    assert card_titles(filtered) == ["Chest pain", "Blood pressure basics"]
    assert "2 articles found" in filtered
    # The chosen chip is marked and links back to the unfiltered list.
    assert re.search(r'<a href="/articles/"[^>]*aria-current="true"[^>]*>Cardiology', filtered)


@pytest.mark.django_db
def test_index_filters_by_tag_and_combines_filters(client, topics):
    by_tag = client.get("/articles/?tag=emergency").content.decode()
    assert card_titles(by_tag) == ["Fever in children", "Chest pain"]
    # Each other filter link keeps the tag chosen.
    assert 'href="/articles/?specialty=cardiology&amp;tag=emergency"' in by_tag

    both = client.get("/articles/?specialty=cardiology&tag=emergency").content.decode()
    assert card_titles(both) == ["Chest pain"]
    assert "1 article found" in both


@pytest.mark.django_db
def test_index_unknown_filter_shows_no_results_not_everything(client, topics):
    html = client.get("/articles/?specialty=nope").content.decode()

    assert card_titles(html) == []
    assert "No article matches this search." in html
    assert 'href="/articles/">Show all articles' in html


@pytest.mark.django_db
def test_index_search_finds_words_in_title_summary_and_body(client, topics):
    assert card_titles(client.get("/articles/?q=ambulance").content.decode()) == ["Chest pain"]
    assert card_titles(client.get("/articles/?q=temperature").content.decode()) == [
        "Fever in children"
    ]
    assert card_titles(client.get("/articles/?q=pressure").content.decode()) == [
        "Blood pressure basics"
    ]


@pytest.mark.django_db
def test_index_search_combines_with_the_filters(client, topics):
    html = client.get("/articles/?q=chest&specialty=pediatrics").content.decode()
    assert card_titles(html) == []
    assert "No article matches this search." in html

    html = client.get("/articles/?q=fever&specialty=pediatrics&tag=children").content.decode()
    assert card_titles(html) == ["Fever in children"]
    # The search box keeps the words and the filters for the next search.
    assert 'value="fever"' in html
    assert '<input type="hidden" name="specialty" value="pediatrics">' in html
    assert '<input type="hidden" name="tag" value="children">' in html


@pytest.mark.django_db
def test_index_search_never_finds_drafts_or_private_articles(client, article_index):
    publish(article_index, title="Draft on asthma", slug="asthma", live=False)
    private = publish(article_index, title="Private asthma notes", slug="asthma-private")
    PageViewRestriction.objects.create(page=private, restriction_type=PageViewRestriction.LOGIN)

    html = client.get("/articles/?q=asthma").content.decode()

    assert card_titles(html) == []
    assert "0 articles found" in html


@pytest.mark.django_db
def test_index_htmx_request_for_the_list_gets_only_the_list(client, topics):
    response = client.get("/articles/?specialty=pediatrics", **htmx("article-list"))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="article-list"')
    assert "<html" not in html
    assert "<h1>" not in html
    assert 'name="q"' not in html
    assert card_titles(html) == ["Fever in children"]
    # The search form's hidden filters follow out of band.
    assert '<span id="article-search-state" hx-swap-oob="true">' in html
    assert '<input type="hidden" name="specialty" value="pediatrics">' in html
    # And the count, into the live region that stays on the page for screen readers.
    assert (
        '<p id="article-results-status" class="visually-hidden" aria-live="polite" '
        'hx-swap-oob="innerHTML">1 article found</p>'
    ) in html
    assert "HX-Request" in response["Vary"]


@pytest.mark.django_db
def test_index_without_htmx_or_aimed_elsewhere_gets_the_whole_page(client, topics):
    for response in (
        client.get("/articles/?specialty=pediatrics"),
        client.get("/articles/?specialty=pediatrics", **htmx("somewhere-else")),
        client.get("/articles/", **htmx("article-list", **{"HX-Boosted": "true"})),
    ):
        html = response.content.decode()
        assert "<html" in html
        assert "<h1>" in html
        assert 'id="article-list"' in html
        assert "hx-swap-oob" not in html


@pytest.mark.django_db
def test_index_links_work_without_javascript_and_with_htmx(client, topics):
    html = client.get("/articles/").content.decode()

    for link in re.findall(r"<a [^>]*hx-get=[^>]*>", html):
        href = re.search(r'href="([^"]+)"', link).group(1)
        hx_get = re.search(r'hx-get="([^"]+)"', link).group(1)
        assert href == hx_get
    assert 'hx-push-url="true"' in html
    assert '<form method="get" action="/articles/"' in html


# --- The article page ----------------------------------------------------------------------

EVERY_BLOCK = [
    text("<p>Opening paragraph with <b>bold</b> words.</p>"),
    {"type": "heading", "value": {"text": "What to watch for", "level": "h2"}},
    {"type": "heading", "value": {"text": "In babies", "level": "h3"}},
    {"type": "quote", "value": {"text": "Trust your instinct.", "attribution": "Dr Omar"}},
    {"type": "callout", "value": {"kind": "info", "title": "Tip", "text": "<p>Drink.</p>"}},
    {"type": "callout", "value": {"kind": "warning", "title": "", "text": "<p>Careful.</p>"}},
    {"type": "callout", "value": {"kind": "danger", "title": "Now", "text": "<p>Go.</p>"}},
    {
        "type": "references",
        "value": [
            {"citation": "NICE NG143. Fever in under 5s.", "url": "https://www.nice.org.uk/ng143"},
            {"citation": "A printed book, 2020.", "url": ""},
            {"citation": "A bad link.", "url": "javascript:alert(1)"},
        ],
    },
]


@pytest.fixture
def omar_doctor(dr_omar):
    doctor = make_doctor(dr_omar)
    doctor.specialty = Specialty.objects.get(slug="pediatrics")
    doctor.save()
    return doctor


@pytest.mark.django_db
def test_article_page_shows_every_block_kind(client, article_index, omar_doctor, eddie):
    image = hero_image("body-image")
    body = [
        *EVERY_BLOCK,
        {
            "type": "image",
            "value": {
                "image": {"image": image.pk, "alt_text": "A thermometer", "decorative": False},
                "caption": "Digital thermometers are the most reliable.",
            },
        },
    ]
    article = publish(
        article_index, title="Fever", slug="fever", body=body, author=omar_doctor, tags=["kids"]
    )

    response = client.get(article.url)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<p>Opening paragraph with <b>bold</b> words.</p>" in html
    assert '<h2 id="section-what-to-watch-for">What to watch for</h2>' in html
    assert '<h3 id="section-in-babies">In babies</h3>' in html
    assert html.count("<h1>") == 1
    assert "<blockquote><p>Trust your instinct.</p></blockquote>" in html
    assert "<figcaption>— <cite>Dr Omar</cite></figcaption>" in html
    assert re.search(r'<aside class="callout callout-info" aria-label="Good to know">', html)
    assert re.search(r'<aside class="callout callout-warning" aria-label="Caution">', html)
    assert re.search(r'<aside class="callout callout-danger" aria-label="Seek care now">', html)
    assert '<p class="callout-kind">Caution</p>' in html
    assert "<strong>Tip</strong>" in html
    assert 'In an emergency call <a href="tel:112">112</a>' in html
    # References: numbered, web links only, which do not tell the source who sent the reader.
    assert "<ol>" in html.split('class="references"')[1]
    assert (
        '<a href="https://www.nice.org.uk/ng143" rel="noopener noreferrer nofollow external"'
        in html
    )
    assert "A printed book, 2020." in html
    assert "A bad link." in html
    assert 'href="javascript:' not in html
    # The image with its alt text and caption.
    figure = html.split('<figure class="article-figure">')[1].split("</figure>")[0]
    assert 'alt="A thermometer"' in figure
    assert "srcset=" in figure
    assert "<figcaption>Digital thermometers are the most reliable.</figcaption>" in figure


@pytest.mark.django_db
def test_article_page_shows_who_wrote_and_reviewed_it(client, article_index, omar_doctor, eddie):
    article = publish(
        article_index,
        title="Fever",
        slug="fever",
        summary="When to worry.",
        specialty="pediatrics",
        tags=["children", "fever"],
        author=omar_doctor,
        reviewed_by=eddie,
        body=[text("<p>" + "word " * 450 + "</p>")],
    )

    html = client.get(article.url).content.decode()

    assert "<h1>Fever</h1>" in html
    assert '<p class="article-summary">When to worry.</p>' in html
    profile = f"/doctors/{omar_doctor.public_id}/"
    assert f'<a href="{profile}" rel="author">Dr Omar Haddad</a>' in html
    reviewed = timezone.localdate()
    assert (
        f'Medically reviewed on <time datetime="{reviewed:%Y-%m-%d}">'
        f"{reviewed.day} {reviewed:%B %Y}</time> by Eddie Editor"
    ) in html
    assert "2 min read" in html  # 452 words at 200 a minute
    assert '<a href="/articles/?specialty=pediatrics">Pediatrics</a>' in html
    assert '<a class="chip" href="/articles/?tag=children">#children</a>' in html
    assert '<a class="chip" href="/articles/?tag=fever">#fever</a>' in html
    assert '<meta name="description" content="When to worry.">' in html


@pytest.mark.django_db
def test_article_page_meta_description_prefers_the_search_description(client, article_index):
    article = publish(
        article_index,
        title="Fever",
        slug="fever",
        summary="The summary.",
        search_description="What search engines show.",
    )

    html = client.get(article.url).content.decode()

    assert '<meta name="description" content="What search engines show.">' in html
    assert '<meta name="description" content="The summary.">' not in html


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["deactivated", "unverified"])
def test_author_no_longer_listed_is_named_without_a_link(
    client, article_index, omar_doctor, change
):
    article = publish(article_index, title="Fever", slug="fever", author=omar_doctor)
    if change == "deactivated":
        omar_doctor.user.is_active = False
        omar_doctor.user.save()
    else:
        Doctor.objects.filter(pk=omar_doctor.pk).update(status=Doctor.Status.REJECTED)

    html = client.get(article.url).content.decode()

    assert "Dr Omar Haddad" in html
    assert f"/doctors/{omar_doctor.public_id}/" not in html


@pytest.mark.django_db
def test_article_without_review_stamp_or_author_says_nothing_about_them(client, article_index):
    article = publish(article_index, title="Plain", slug="plain")

    html = client.get(article.url).content.decode()

    assert "Medically reviewed" not in html
    assert 'rel="author"' not in html
    assert "1 min read" in html


@pytest.mark.django_db
def test_article_page_hero_image_carries_its_alt_text(client, article_index):
    article = publish(
        article_index,
        title="Heart",
        slug="heart",
        hero=hero_image(),
        hero_alt="A doctor listening to a patient's heart",
    )

    html = client.get(article.url).content.decode()

    hero = html.split('<figure class="article-hero">')[1].split("</figure>")[0]
    assert 'alt="A doctor listening to a patient&#x27;s heart"' in hero
    assert ".fill-1200x630-c100." in hero


@pytest.mark.django_db
def test_every_text_of_an_article_arrives_escaped(client, article_index, omar_doctor):
    image = hero_image("xss")
    article = publish(
        article_index,
        title=SCRIPT,
        slug="xss",
        summary=SCRIPT,
        search_description=SCRIPT,
        hero=image,
        hero_alt=SCRIPT,
        tags=[SCRIPT],
        author=omar_doctor,
        body=[
            {"type": "heading", "value": {"text": SCRIPT, "level": "h2"}},
            {"type": "quote", "value": {"text": SCRIPT, "attribution": SCRIPT}},
            {"type": "callout", "value": {"kind": SCRIPT, "title": SCRIPT, "text": "<p>x</p>"}},
            {"type": "references", "value": [{"citation": SCRIPT, "url": ""}]},
            {
                "type": "image",
                "value": {
                    "image": {"image": image.pk, "alt_text": SCRIPT, "decorative": False},
                    "caption": SCRIPT,
                },
            },
        ],
    )
    omar_doctor.user.first_name = SCRIPT
    omar_doctor.user.save()

    for url in (article.url, "/articles/", "/"):
        html = client.get(url).content.decode()
        assert SCRIPT not in html, url
        assert "<script>alert" not in html, url
    html = client.get(article.url).content.decode()
    assert html.count(ESCAPED_SCRIPT) >= 9
    # A made-up callout kind falls back to the plain "Good to know" style.
    assert 'class="callout callout-info"' in html


@pytest.mark.django_db
def test_search_words_arrive_escaped(client, topics):
    html = client.get("/articles/", {"q": SCRIPT}).content.decode()

    assert SCRIPT not in html
    assert ESCAPED_SCRIPT in html


@pytest.mark.django_db
def test_drafts_are_not_found(client, article_index):
    draft = publish(article_index, title="Not yet", slug="not-yet", live=False)

    assert client.get("/articles/not-yet/").status_code == 404
    assert "Not yet" not in client.get("/articles/").content.decode()
    assert not ArticlePage.objects.get(pk=draft.pk).live


@pytest.mark.django_db
def test_an_unpublished_article_is_gone_from_its_url_and_the_lists(client, article_index):
    article = publish(article_index, title="Withdrawn", slug="withdrawn")
    assert client.get(article.url).status_code == 200

    article.unpublish()

    assert client.get("/articles/withdrawn/").status_code == 404
    assert "Withdrawn" not in client.get("/articles/").content.decode()
    assert "Withdrawn" not in client.get("/").content.decode()


@pytest.mark.django_db
def test_private_articles_are_not_shown_to_the_anonymous(client, article_index):
    article = publish(article_index, title="Staff memo", slug="memo", summary="Internal.")
    PageViewRestriction.objects.create(page=article, restriction_type=PageViewRestriction.LOGIN)

    response = client.get(article.url)

    # Wagtail sends the visitor to sign in rather than showing anything of the article.
    assert response.status_code == 302
    assert "login/?next=/articles/memo/" in response["Location"]
    assert "Internal." not in client.get("/articles/").content.decode()
    assert "Staff memo" not in client.get("/").content.decode()


@pytest.mark.django_db
def test_article_dates_are_the_sites_dates(client, article_index):
    article = publish(article_index, title="Dated", slug="dated")
    # 23:30 in Berlin is already the next day in UTC: the reader sees the hospital's date.
    ArticlePage.objects.filter(pk=article.pk).update(
        first_published_at=datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
    )

    html = client.get(article.url).content.decode()

    assert '<time datetime="2026-03-01">1 March 2026</time>' in html
