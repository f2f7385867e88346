from django.db import migrations


def create_article_index(apps, schema_editor):
    """Make an article index the site's root page, served at /articles/."""
    ContentType = apps.get_model("contenttypes.ContentType")
    Page = apps.get_model("wagtailcore.Page")
    Site = apps.get_model("wagtailcore.Site")
    ArticleIndexPage = apps.get_model("blog.ArticleIndexPage")
    Locale = apps.get_model("wagtailcore.Locale")
    locale = Locale.objects.order_by("pk").first() or Locale.objects.create(language_code="en")

    # Wagtail's own first migration adds a placeholder "Welcome" page; replace it.
    Page.objects.filter(depth=2, slug="home", numchild=0).delete()

    content_type, _ = ContentType.objects.get_or_create(model="articleindexpage", app_label="blog")
    index = ArticleIndexPage.objects.create(
        title="Health articles",
        draft_title="Health articles",
        slug="articles",
        content_type=content_type,
        path="00010001",
        depth=2,
        numchild=0,
        url_path="/articles/",
        locale=locale,
        intro="<p>Medical articles written by our doctors and reviewed by our editors.</p>",
    )
    Page.objects.filter(depth=1).update(numchild=1)
    Site.objects.update_or_create(
        is_default_site=True,
        defaults={"hostname": "localhost", "port": 80, "root_page_id": index.id, "site_name": ""},
    )


def remove_article_index(apps, schema_editor):
    apps.get_model("blog.ArticleIndexPage").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("blog", "0001_initial"),
        ("wagtailcore", "0098_apitoken"),
    ]

    operations = [migrations.RunPython(create_article_index, remove_article_index)]
