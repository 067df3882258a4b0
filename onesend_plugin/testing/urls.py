"""URLs of ``onesend_plugin.testing.settings``: onesend's endpoints (webhooks, subscription
links, store events) and the Wagtail admin, where a plugin's editor-facing parts show."""

from django.urls import include, path
from wagtail.admin import urls as wagtailadmin_urls

urlpatterns = [
    path("admin/", include(wagtailadmin_urls)),
    path("onesend/", include("onesend_plugin.urls")),
]
