from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    # Every sign-in goes through allauth (with MFA); the admins' own login pages only redirect.
    path("cms/login/", core_views.admin_login_redirect, name="cms_login"),
    path("django-admin/login/", core_views.admin_login_redirect, name="django_admin_login"),
    path("django-admin/", admin.site.urls),
    path("cms/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("accounts/", include("allauth.urls")),
    path("", include("core.urls")),
    path("", include("clinic.urls")),
    # Wagtail serves the article pages under their own prefix, never shadowing app URLs.
    path("articles/", include(wagtail_urls)),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
