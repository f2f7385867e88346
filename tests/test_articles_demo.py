"""The demo articles: published, reviewed, readable, and seeded once however often it runs."""

import pytest
from django.core.management import call_command
from wagtail.models import WorkflowState

from blog.demo import DEMO_ARTICLES, DEMO_DRAFT_SLUG, demo_articles_seed
from blog.models import ArticlePage
from clinic.models import Doctor
from core.models import User


def _seed():
    demo_articles_seed(
        clara=Doctor.objects.get(licence_number="LIC-CARD-1001"),
        omar=Doctor.objects.get(licence_number="LIC-PED-2002"),
        editor=User.objects.get(email="editor@demo.hospital"),
    )


@pytest.mark.django_db
def test_demo_articles_are_published_reviewed_and_readable(client):
    call_command("seed_demo")

    published = ArticlePage.objects.live().public().select_related("author__user")
    assert sorted(published.values_list("slug", flat=True)) == sorted(DEMO_ARTICLES)
    editor = User.objects.get(email="editor@demo.hospital")
    for article in published:
        assert article.author.user == article.owner
        assert article.author.is_verified
        assert article.medical_reviewer == editor
        assert article.medically_reviewed_on is not None
        assert article.specialty is not None
        assert article.tags.exists()
        kinds = {block.block_type for block in article.body}
        assert {"rich_text", "heading", "callout", "references"} <= kinds
        response = client.get(article.url)
        assert response.status_code == 200
        assert "Medically reviewed on" in response.content.decode()

    index = client.get("/articles/").content.decode()
    for spec in DEMO_ARTICLES.values():
        assert spec["title"] in index


@pytest.mark.django_db
def test_demo_draft_waits_in_the_medical_review_workflow(client):
    call_command("seed_demo")

    draft = ArticlePage.objects.get(slug=DEMO_DRAFT_SLUG)
    assert not draft.live
    assert draft.owner.email == "omar.doctor@demo.hospital"
    state = WorkflowState.objects.get(base_content_type__model="page", object_id=str(draft.pk))
    assert state.status == WorkflowState.STATUS_IN_PROGRESS
    assert state.workflow.name == "Medical review"
    assert client.get(draft.url).status_code == 404


@pytest.mark.django_db
def test_demo_articles_seed_is_idempotent():
    call_command("seed_demo")
    articles = ArticlePage.objects.count()
    revisions = {a.pk: a.latest_revision_id for a in ArticlePage.objects.all()}
    states = WorkflowState.objects.count()

    _seed()
    call_command("seed_demo")

    assert ArticlePage.objects.count() == articles == len(DEMO_ARTICLES) + 1
    assert {a.pk: a.latest_revision_id for a in ArticlePage.objects.all()} == revisions
    assert WorkflowState.objects.count() == states
