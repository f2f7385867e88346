"""Wagtail serves the health articles under /articles/, readable by anyone once published."""

import pytest
from wagtail.rich_text import RichText

from blog.models import ArticleIndexPage, ArticlePage


@pytest.fixture
def article_index(db):
    return ArticleIndexPage.objects.get()


def _add_article(index, *, title, slug, live=True, summary="", body=""):
    stream = [("rich_text", RichText(body))] if body else []
    article = ArticlePage(title=title, slug=slug, summary=summary, body=stream, live=live)
    index.add_child(instance=article)
    if live:
        article.save_revision().publish()
    return article


@pytest.mark.django_db
def test_article_index_is_served_at_articles(client, article_index):
    response = client.get("/articles/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f"<h1>{article_index.title}</h1>" in html
    assert "No articles published yet." in html


@pytest.mark.django_db
def test_published_article_is_readable_by_anonymous_at_its_url(client, article_index):
    article = _add_article(
        article_index,
        title="Staying well in flu season",
        slug="flu-season",
        summary="Vaccination, hand washing and rest.",
        body="<p>Get your flu shot in autumn.</p>",
    )

    assert article.url == "/articles/flu-season/"
    response = client.get(article.url)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Staying well in flu season</h1>" in html
    assert "Get your flu shot in autumn." in html
    assert 'href="/articles/"' in html
    # The strict policy applies to article pages too: they are not under /cms/.
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_published_article_is_listed_on_the_index_and_the_landing_page(client, article_index):
    _add_article(article_index, title="Healthy sleep", slug="sleep", summary="Seven hours.")

    index = client.get("/articles/").content.decode()
    landing = client.get("/").content.decode()

    for html in (index, landing):
        assert '<a href="/articles/sleep/">Healthy sleep</a>' in html
        assert "Seven hours." in html


@pytest.mark.django_db
def test_draft_article_is_not_readable(client, article_index):
    draft = _add_article(article_index, title="Not yet", slug="not-yet", live=False)

    assert client.get("/articles/not-yet/").status_code == 404
    assert "Not yet" not in client.get("/articles/").content.decode()
    assert not ArticlePage.objects.get(pk=draft.pk).live


@pytest.mark.django_db
def test_article_text_is_not_a_way_to_run_script(client, article_index):
    _add_article(
        article_index,
        title="<script>alert(1)</script>",
        slug="xss",
        summary="<img src=x onerror=alert(1)>",
    )

    html = client.get("/articles/xss/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html


LANDING_QUERIES = 3  # view restrictions, the latest live articles, the site's root paths
ARTICLE_INDEX_QUERIES = 6


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 3])
def test_article_lists_have_a_fixed_query_count(
    client, article_index, django_assert_num_queries, count
):
    for number in range(count):
        _add_article(article_index, title=f"Article {number}", slug=f"article-{number}")
    client.get("/")  # warm up the per-process caches (current site, content types)
    client.get("/articles/")

    with django_assert_num_queries(LANDING_QUERIES):
        landing = client.get("/")
    with django_assert_num_queries(ARTICLE_INDEX_QUERIES):
        index = client.get("/articles/")

    assert landing.content.decode().count('<a href="/articles/article-') == min(count, 3)
    assert index.content.decode().count('<a href="/articles/article-') == count
