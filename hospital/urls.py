from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    # Every sign-in goes through allauth (with MFA); the admins' own login pages only redirect.
    path("cms/login/", core_views.admin_login_redirect, name="cms_login"),
    path("django-admin/login/", core_views.admin_login_redirect, name="django_admin_login"),
    # Wagtail's front-end login form would take a password without MFA or rate limits.
    path(
        "articles/_util/login/",
        RedirectView.as_view(pattern_name="account_login", query_string=True),
        name="wagtail_front_login",
    ),
    path("django-admin/", admin.site.urls),
    path("cms/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("accounts/", include("allauth.urls")),
    path("", include("core.urls")),
    path("", include("clinic.urls")),
    # Wagtail serves the article pages under their own prefix, never shadowing app URLs.
    path("articles/", include(wagtail_urls)),
]

# Article images (Wagtail's originals and renditions) are public, like the articles. Only their
# two folders are served, in every environment: credential scans, doctors' photos and record
# attachments share MEDIA_ROOT and go out only through their own access-checked views.
urlpatterns.insert(
    0,
    re_path(
        r"^media/(?P<path>(?:original_images|images)/[^/]+)$",
        core_views.article_image_file,
        name="article_image_file",
    ),
)
