"""Medical articles as Wagtail pages. Editorial content only: clinical data never lives here.

Doctors write articles (as page owners, without the right to publish); editors review them in
the "Medical review" workflow. Approval stamps `medically_reviewed_on` and `medical_reviewer`.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from modelcluster.contrib.taggit import ClusterTaggableManager
from modelcluster.fields import ParentalKey
from taggit.models import TaggedItemBase
from wagtail.admin.panels import FieldPanel, MultiFieldPanel
from wagtail.fields import RichTextField, StreamField
from wagtail.models import Page
from wagtail.search import index

from blog.blocks import ArticleBodyBlock
from blog.forms import ArticlePageForm

WORDS_PER_MINUTE = 200


class ArticleIndexPage(Page):
    """The root of the articles section, served at /articles/."""

    intro = RichTextField(blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]
    parent_page_types = ["wagtailcore.Page"]
    subpage_types = ["blog.ArticlePage"]
    max_count = 1

    def get_context(self, request, *args, **kwargs):
        from blog.selectors import article_index_context

        context = super().get_context(request, *args, **kwargs)
        context.update(article_index_context(request))
        return context


class ArticleTag(TaggedItemBase):
    content_object = ParentalKey(
        "blog.ArticlePage", on_delete=models.CASCADE, related_name="tagged_items"
    )


class ArticlePage(Page):
    summary = models.CharField(
        _("summary"),
        max_length=300,
        blank=True,
        help_text=_("One or two sentences shown in lists and under the title."),
    )
    hero_image = models.ForeignKey(
        "wagtailimages.Image",
        verbose_name=_("hero image"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    hero_alt = models.CharField(
        _("hero image alt text"),
        max_length=250,
        blank=True,
        help_text=_("What the image shows, for readers who cannot see it."),
    )
    body = StreamField(ArticleBodyBlock(), verbose_name=_("body"), blank=True)
    specialty = models.ForeignKey(
        "clinic.Specialty",
        verbose_name=_("specialty"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="articles",
    )
    tags = ClusterTaggableManager(through=ArticleTag, blank=True, verbose_name=_("tags"))
    # The verified doctor who wrote it; set from the creating doctor, never chosen by them.
    author = models.ForeignKey(
        "clinic.Doctor",
        verbose_name=_("author"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="articles",
    )
    medically_reviewed_on = models.DateField(_("medically reviewed on"), null=True, blank=True)
    medical_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("medical reviewer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    content_panels = [
        *Page.content_panels,
        FieldPanel("summary"),
        MultiFieldPanel([FieldPanel("hero_image"), FieldPanel("hero_alt")], heading=_("Hero")),
        FieldPanel("body"),
        MultiFieldPanel([FieldPanel("specialty"), FieldPanel("tags")], heading=_("Topic")),
        # Shown, never edited: the author comes from the writing doctor, the review stamp from
        # the approving editor (blog.forms, blog.receivers).
        MultiFieldPanel(
            [
                FieldPanel("author", read_only=True),
                FieldPanel("medically_reviewed_on", read_only=True),
                FieldPanel("medical_reviewer", read_only=True),
            ],
            heading=_("Authorship and medical review"),
        ),
    ]
    base_form_class = ArticlePageForm
    search_fields = [
        *Page.search_fields,
        index.SearchField("summary"),
        index.SearchField("body"),
        index.RelatedFields("tags", [index.SearchField("name")]),
        index.FilterField("specialty"),
        index.FilterField("author"),
    ]
    parent_page_types = ["blog.ArticleIndexPage"]
    subpage_types: list[str] = []

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")

    def clean(self):
        super().clean()
        if self.hero_image_id and not self.hero_alt.strip():
            raise ValidationError(
                {"hero_alt": _("Describe the hero image for readers who cannot see it.")}
            )

    @property
    def reading_minutes(self) -> int:
        """Minutes to read the summary and the body at an unhurried pace, at least one."""
        from django.utils.html import strip_tags

        words = len(self.summary.split())
        for block in self.body:
            words += len(strip_tags(str(block.render_as_block())).split())
        return max(1, round(words / WORDS_PER_MINUTE))

    def get_context(self, request, *args, **kwargs):
        from blog.selectors import articles_related

        context = super().get_context(request, *args, **kwargs)
        context["related_articles"] = articles_related(self)
        return context
