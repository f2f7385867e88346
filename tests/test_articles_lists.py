"""Articles in lists: related articles under an article, the latest ones on the landing page and
the patient home, and the fixed number of queries each of these pages (and the index) makes."""

import re

import pytest
from wagtail.models import PageViewRestriction

from blog.models import ArticleIndexPage
from blog.selectors import articles_latest, articles_related
from tests.factories import make_doctor
from tests.test_articles import card_titles, hero_image, publish


@pytest.fixture
def article_index(db):
    return ArticleIndexPage.objects.get()


@pytest.fixture
def clara_doctor(dr_clara):
    return make_doctor(dr_clara)


# --- Related articles ----------------------------------------------------------------------


@pytest.mark.django_db
def test_related_articles_share_the_specialty_or_a_tag(client, article_index):
    article = publish(
        article_index, title="Blood pressure", slug="bp", specialty="cardiology", tags=["heart"]
    )
    publish(article_index, title="Cholesterol", slug="chol", specialty="cardiology", days_ago=1)
    publish(article_index, title="Heart and sport", slug="sport", tags=["heart"], days_ago=2)
    publish(article_index, title="Acne", slug="acne", specialty="dermatology", days_ago=3)
    publish(article_index, title="Heart draft", slug="draft", tags=["heart"], live=False)
    private = publish(article_index, title="Heart memo", slug="memo", specialty="cardiology")
    PageViewRestriction.objects.create(page=private, restriction_type=PageViewRestriction.LOGIN)

    related = articles_related(article)

    # Sharing a tag ranks before sharing only the specialty.
    assert [a.title for a in related] == ["Heart and sport", "Cholesterol"]
    html = client.get(article.url).content.decode()
    section = html.split('id="related-heading"')[1]
    assert card_titles(section) == ["Heart and sport", "Cholesterol"]


@pytest.mark.django_db
def test_related_articles_are_at_most_three_those_sharing_more_tags_first(article_index):
    article = publish(
        article_index, title="Fever", slug="fever", specialty="pediatrics", tags=["kids", "fever"]
    )
    publish(article_index, title="Same specialty", slug="s1", specialty="pediatrics")
    publish(article_index, title="One tag", slug="t1", tags=["kids"], days_ago=1)
    publish(article_index, title="Two tags", slug="t2", tags=["kids", "fever"], days_ago=5)
    publish(article_index, title="Another", slug="s2", specialty="pediatrics", days_ago=9)

    related = articles_related(article)

    assert [a.title for a in related] == ["Two tags", "One tag", "Same specialty"]


@pytest.mark.django_db
def test_an_article_with_nothing_in_common_has_no_related_section(client, article_index):
    article = publish(article_index, title="Alone", slug="alone")
    publish(article_index, title="Other", slug="other", specialty="cardiology")

    assert articles_related(article) == []
    assert "Related articles" not in client.get(article.url).content.decode()


# --- Latest articles on the landing page and the patient home ------------------------------


@pytest.mark.django_db
def test_landing_page_shows_the_three_latest_articles(client, article_index, clara_doctor):
    for number in range(4):
        publish(
            article_index,
            title=f"Article {number}",
            slug=f"a{number}",
            summary=f"Summary {number}.",
            specialty="cardiology",
            author=clara_doctor,
            days_ago=number,
            hero=hero_image(f"hero-{number}") if number == 0 else None,
            hero_alt="A heart",
        )
    publish(article_index, title="Draft", slug="draft", live=False)

    html = client.get("/").content.decode()

    section = html.split('id="latest-articles-heading"')[1]
    assert card_titles(section) == ["Article 0", "Article 1", "Article 2"]
    assert "Summary 0." in section
    assert '<p class="article-kicker">Cardiology</p>' in section
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\d">', section)
    assert ".fill-480x270." in section  # the hero thumbnail
    assert 'href="/articles/">All health articles' in section


@pytest.mark.django_db
def test_patient_home_shows_the_latest_articles(client_for, amina, article_index):
    publish(article_index, title="Healthy sleep", slug="sleep", summary="Seven hours.")

    html = client_for(amina).get("/patient/").content.decode()

    section = html.split('id="latest-articles"')[1]
    assert card_titles(section) == ["Healthy sleep"]
    assert "Seven hours." in section


@pytest.mark.django_db
def test_latest_lists_say_when_there_are_no_articles(client, client_for, amina, article_index):
    for html in (
        client.get("/").content.decode(),
        client_for(amina).get("/patient/").content.decode(),
    ):
        assert "No articles published yet." in html.split('id="latest-articles-heading"')[1]


# --- Query counts: the same for one article as for thirty ----------------------------------

LATEST_QUERIES = 4  # view restrictions, articles (author, specialty joined), images, renditions
LANDING_QUERIES = LATEST_QUERIES + 0
# Wagtail's serving (site, page route, its ancestors, their view restrictions), then ours: view
# restrictions, the filter choices (specialties, tags), count, page of articles, hero images,
# renditions
INDEX_QUERIES = 11
SEARCH_QUERIES = INDEX_QUERIES
PATIENT_HOME_QUERIES = 10  # the whole home, its other widgets included
# Wagtail's serving (site, route, ancestors, restrictions: 6), the parent for links, specialty,
# author, author's user and specialty, reviewer, hero image, tags, related (restrictions,
# articles, images, renditions)
ARTICLE_QUERIES = 17


def _many(index, count, author):
    for number in range(count):
        publish(
            index,
            title=f"Heart article {number}",
            slug=f"article-{number}",
            summary="About the heart.",
            specialty="cardiology" if number % 2 else "pediatrics",
            tags=["heart", f"tag-{number % 4}"],
            author=author,
            # Every card has its own picture, so any page of results shows some.
            hero=hero_image(f"hero-{number}", size=(160, 90)),
            hero_alt="A heart",
            days_ago=number,
        )


def _warm_up(client, *urls):
    # Per-process caches (current site, content types, renditions cache) fill on first use.
    for url in urls:
        client.get(url)


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 30])
def test_latest_articles_take_a_fixed_number_of_queries(
    client, article_index, clara_doctor, django_assert_num_queries, count
):
    _many(article_index, count, clara_doctor)
    _warm_up(client, "/")

    with django_assert_num_queries(LATEST_QUERIES):
        latest = articles_latest(limit=3)
    with django_assert_num_queries(LANDING_QUERIES + 1):  # + the site root paths, once
        html = client.get("/").content.decode()

    assert len(latest) == min(count, 3)
    assert len(card_titles(html.split('id="latest-articles-heading"')[1])) == min(count, 3)


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 30])
def test_patient_home_articles_take_a_fixed_number_of_queries(
    client_for, amina, article_index, clara_doctor, django_assert_num_queries, count
):
    _many(article_index, count, clara_doctor)
    client = client_for(amina)
    _warm_up(client, "/patient/")

    with django_assert_num_queries(PATIENT_HOME_QUERIES):
        html = client.get("/patient/").content.decode()

    assert len(card_titles(html.split('id="latest-articles"')[1])) == min(count, 3)


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 30])
def test_index_takes_a_fixed_number_of_queries(
    client, article_index, clara_doctor, django_assert_num_queries, count
):
    _many(article_index, count, clara_doctor)
    filtered_url = "/articles/?specialty=pediatrics&tag=heart&page=1"
    _warm_up(client, "/articles/", filtered_url)

    with django_assert_num_queries(INDEX_QUERIES):
        html = client.get("/articles/").content.decode()
    with django_assert_num_queries(INDEX_QUERIES):
        filtered = client.get(filtered_url).content.decode()

    assert len(card_titles(html)) == min(count, 12)
    assert len(card_titles(filtered)) == min((count + 1) // 2, 12)


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 30])
def test_search_takes_a_fixed_number_of_queries(
    client, article_index, clara_doctor, django_assert_num_queries, count
):
    _many(article_index, count, clara_doctor)
    _warm_up(client, "/articles/?q=heart&tag=heart")

    with django_assert_num_queries(SEARCH_QUERIES):
        html = client.get("/articles/?q=heart&tag=heart").content.decode()

    assert len(card_titles(html)) == min(count, 12)


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 30])
def test_article_page_takes_a_fixed_number_of_queries(
    client, article_index, clara_doctor, eddie, django_assert_num_queries, count
):
    _many(article_index, count, clara_doctor)
    article = publish(
        article_index,
        title="The article",
        slug="the-article",
        specialty="cardiology",
        tags=["heart", "tag-1"],
        author=clara_doctor,
        reviewed_by=eddie,
        hero=hero_image("main"),
        hero_alt="A heart",
        body=[
            {"type": "rich_text", "value": "<p>Text.</p>"},
            {"type": "heading", "value": {"text": "Part", "level": "h2"}},
        ],
    )
    _warm_up(client, article.url)

    with django_assert_num_queries(ARTICLE_QUERIES):
        html = client.get(article.url).content.decode()

    assert len(card_titles(html.split('id="related-heading"')[1])) == min(count, 3)
