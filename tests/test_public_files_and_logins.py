"""What the public article URLs expose besides pages: their image files, and sign-in.

Article images are as public as the articles; everything else under MEDIA_ROOT (credential
scans, doctors' photos, record attachments) goes out only through access-checked views. A
restricted article sends readers to the site's own sign-in, never Wagtail's password form.
"""

import pytest
from wagtail.images import get_image_model
from wagtail.images.tests.utils import get_test_image_file
from wagtail.models import PageViewRestriction

from blog.models import ArticleIndexPage, ArticlePage

pytestmark = pytest.mark.django_db


def _article(**fields) -> ArticlePage:
    index = ArticleIndexPage.objects.get()
    article = ArticlePage(title="Living with asthma", slug="asthma", **fields)
    index.add_child(instance=article)
    article.save_revision().publish()
    return article


def test_article_images_and_their_renditions_are_served_to_anyone(client, settings):
    settings.DEBUG = False
    image = get_image_model().objects.create(
        title="Inhaler", file=get_test_image_file(filename="inhaler.png")
    )
    rendition = image.get_rendition("width-400")

    original = client.get(f"/media/{image.file.name}")
    resized = client.get(rendition.url)

    assert original.status_code == 200
    assert resized.status_code == 200
    assert resized["Content-Type"] == "image/png"


def test_other_uploads_are_never_served_from_media(client, settings):
    settings.DEBUG = True
    path = settings.MEDIA_ROOT / "credentials" / "someone" / "licence.pdf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"%PDF-1.4 licence scan")

    for url in (
        "/media/credentials/someone/licence.pdf",
        "/media/images/../credentials/someone/licence.pdf",
        "/media/original_images/../credentials/someone/licence.pdf",
    ):
        assert client.get(url).status_code == 404, url


def test_a_restricted_article_asks_for_the_sites_own_sign_in(client):
    article = _article(summary="For members only.")
    PageViewRestriction.objects.create(page=article, restriction_type=PageViewRestriction.LOGIN)

    response = client.get(article.url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert "For members only." not in response.content.decode()


def test_wagtails_own_front_end_login_form_is_not_there(client, amina):
    # It would take a password with no second factor, rate limit or audit line.
    form = client.get("/articles/_util/login/?next=/articles/asthma/")
    attempt = client.post(
        "/articles/_util/login/", {"username": amina.email, "password": "anything"}
    )

    assert form.status_code == 302
    assert form["Location"] == "/accounts/login/?next=/articles/asthma/"
    assert attempt.status_code in (302, 405)
    assert "_auth_user_id" not in client.session
