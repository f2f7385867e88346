from blog.models import ArticlePage


def articles_latest(limit: int = 3) -> list[ArticlePage]:
    """The most recently published articles anyone may read."""
    return list(ArticlePage.objects.live().public().order_by("-first_published_at")[:limit])
