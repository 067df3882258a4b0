"""Public URLs; include them with ``path("onesend/", include("onesend_plugin.urls"))``.

Plugins' views (``register_urls``) are under ``plugins/<plugin name>/``, namespaced
``onesend:plugins:<plugin name>``; plugins are loaded (``AppConfig.ready``) before any URLconf
is imported."""

from django.urls import include, path

from .admin import members
from .hooks import plugins
from .inbox import views
from .store import views as store_views
from .subscribe import views as link_views

app_name = "onesend"

urlpatterns = [
    path("webhook/<str:app_id>/", views.WebhookView.as_view(), name="webhook"),
    path("s/<str:token>/", link_views.subscribe, name="subscribe"),
    path("c/<str:token>/", link_views.click, name="click"),
    path("events/<slug:account_slug>/", store_views.events, name="events"),
    path("shopify/<slug:account_slug>/", store_views.shopify, name="shopify"),
    path("invitation/<str:token>/", members.accept_invitation, name="invitation"),
    path("plugins/", include((plugins.urlpatterns, "plugins"))),
]
