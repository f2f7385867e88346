"""Medical articles as Wagtail pages. Editorial content only: clinical data never lives here."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel
from wagtail.fields import RichTextField
from wagtail.models import Page
from wagtail.search import index


class ArticleIndexPage(Page):
    """The root of the articles section, served at /articles/."""

    intro = RichTextField(blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]
    parent_page_types = ["wagtailcore.Page"]
    subpage_types = ["blog.ArticlePage"]
    max_count = 1

    def get_context(self, request, *args, **kwargs):
        from blog.selectors import articles_latest

        context = super().get_context(request, *args, **kwargs)
        context["articles"] = articles_latest(limit=50)
        return context


class ArticlePage(Page):
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    body = RichTextField(_("body"), blank=True)

    content_panels = [*Page.content_panels, FieldPanel("summary"), FieldPanel("body")]
    search_fields = [*Page.search_fields, index.SearchField("summary"), index.SearchField("body")]
    parent_page_types = ["blog.ArticleIndexPage"]
    subpage_types: list[str] = []
