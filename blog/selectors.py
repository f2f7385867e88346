"""Reads of published articles for the article pages and the role homes.

Every function returns what the templates show with a fixed number of queries, whatever the
number of articles: the author and specialty are joined, the hero images and the renditions
the templates ask for are prefetched.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import HttpRequest
from taggit.models import Tag
from wagtail.images import get_image_model

from blog.models import ArticlePage, ArticleTag
from clinic.models import Specialty

ARTICLES_PER_PAGE = 12
SEARCH_MAX_LENGTH = 100
# The rendition filter specs the templates use; prefetching them spares a query per image.
HERO_THUMBNAIL = "fill-480x270"  # templates/blog/_article_card.html
# The region of the index page that filters, search and pagination replace over HTMX.
ARTICLE_LIST_REGION = "article-list"


def _articles_readable() -> QuerySet[ArticlePage]:
    """Live articles without a view restriction (one query, for the restrictions)."""
    return ArticlePage.objects.live().public()


def _for_cards(articles: QuerySet[ArticlePage]) -> QuerySet[ArticlePage]:
    """`articles` with what a card shows (templates/blog/_article_card.html) joined or
    prefetched."""
    # The hero image comes by prefetch, not a join, so its renditions come along with it.
    images = get_image_model().objects.prefetch_renditions(HERO_THUMBNAIL)
    return articles.select_related("specialty", "author__user").prefetch_related(
        Prefetch("hero_image", queryset=images)
    )


def articles_latest(limit: int = 3) -> list[ArticlePage]:
    """The most recently published articles anyone may read (four queries: view restrictions,
    articles, hero images, their renditions)."""
    return list(_for_cards(_articles_readable()).order_by("-first_published_at", "-pk")[:limit])


@dataclass(frozen=True)
class FilterLink:
    """One choice of a filter on the index: its label, the URL that applies (or removes) it, and
    whether it is the one applied now."""

    label: str
    value: str
    url: str
    current: bool


def _index_url(path: str, **params: str) -> str:
    query = urlencode({key: value for key, value in params.items() if value})
    return f"{path}?{query}" if query else path


def article_index_context(request: HttpRequest) -> dict:
    """The article index for this request: the page of articles matching the filters (`specialty`
    and `tag` slugs, combinable) and the search (`q`), newest first or by relevance when
    searching, and the links of each filter. A fixed number of queries, however many articles.

    An HTMX request aimed at the list region renders that region only (the template extends a
    bare layout then), so filters and pages swap without reloading.
    """
    path = request.path
    query = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    specialty_slug = request.GET.get("specialty", "").strip()
    tag_slug = request.GET.get("tag", "").strip()

    # The filter choices are the specialties and tags of live, public articles only, so no
    # link leads to an empty list.
    readable = _articles_readable()
    readable_ids = readable.values("pk")
    specialties = list(
        Specialty.objects.filter(articles__in=readable_ids).distinct().order_by("name")
    )
    tags = list(
        Tag.objects.filter(blog_articletag_items__content_object__in=readable_ids)
        .distinct()
        .order_by("name")
    )
    specialty = next((s for s in specialties if s.slug == specialty_slug), None)
    tag = next((t for t in tags if t.slug == tag_slug), None)

    articles = _for_cards(readable)
    # The unknown slug of an old link matches nothing, rather than being ignored.
    if specialty_slug:
        # `specialty` is a search FilterField of the model, so this works with `.search()`.
        articles = articles.filter(specialty=specialty) if specialty else articles.none()
    if tag_slug:
        tagged = ArticleTag.objects.filter(tag=tag).values("content_object_id")
        # `id` is a search FilterField of every page, so this filter also works with `.search()`.
        articles = articles.filter(id__in=tagged) if tag else articles.none()
    # A search is ordered by relevance, the plain list by date.
    results = articles.search(query) if query else articles.order_by("-first_published_at", "-pk")

    paginator = Paginator(results, ARTICLES_PER_PAGE)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except PageNotAnInteger:
        page = paginator.page(1)
    except EmptyPage:
        page = paginator.page(paginator.num_pages)

    def url(**changes: str) -> str:
        params = {"q": query, "specialty": specialty_slug, "tag": tag_slug}
        params.update(changes)
        return _index_url(path, **params)

    specialty_links = [
        FilterLink(
            label=s.name,
            value=s.slug,
            url=url(specialty="" if s == specialty else s.slug),
            current=s == specialty,
        )
        for s in specialties
    ]
    tag_links = [
        FilterLink(
            label=t.name, value=t.slug, url=url(tag="" if t == tag else t.slug), current=t == tag
        )
        for t in tags
    ]
    # CMS previews build their own request, which may not have been through django-htmx.
    htmx = getattr(request, "htmx", None)
    list_only = bool(htmx and not htmx.boosted and htmx.target == ARTICLE_LIST_REGION)
    return {
        "articles": list(page.object_list),
        "page_obj": page,
        "paginator": paginator,
        "query": query,
        "specialty": specialty,
        "specialty_slug": specialty_slug,
        "tag": tag,
        "tag_slug": tag_slug,
        "specialty_links": specialty_links,
        "tag_links": tag_links,
        "filtered": bool(query or specialty_slug or tag_slug),
        "clear_url": path,
        "previous_url": url(page=str(page.previous_page_number())) if page.has_previous() else "",
        "next_url": url(page=str(page.next_page_number())) if page.has_next() else "",
        "page_urls": [(number, url(page=str(number))) for number in paginator.page_range]
        if paginator.num_pages > 1
        else [],
        "article_list_region": ARTICLE_LIST_REGION,
        "list_only": list_only,
        "layout_template": "blog/_article_list_region.html" if list_only else "base.html",
    }


def articles_related(article: ArticlePage, limit: int = 3) -> list[ArticlePage]:
    """Up to `limit` other live, public articles on the same specialty or sharing a tag, those
    sharing more tags first, then the newest. A fixed number of queries."""
    tag_ids = ArticleTag.objects.filter(content_object=article).values("tag_id")
    related = Q(id__in=ArticleTag.objects.filter(tag_id__in=tag_ids).values("content_object_id"))
    if article.specialty_id:
        related |= Q(specialty_id=article.specialty_id)
    return list(
        _for_cards(_articles_readable())
        .filter(related)
        .exclude(pk=article.pk)
        .annotate(
            shared_tags=Count(
                "tagged_items", filter=Q(tagged_items__tag_id__in=tag_ids), distinct=True
            )
        )
        .order_by("-shared_tags", "-first_published_at", "-pk")[:limit]
    )
