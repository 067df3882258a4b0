"""Messenger Pages: their connection, sending and opt-in settings, and Facebook Login onboarding."""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel, FieldRowPanel, MultiFieldPanel, ObjectList
from wagtail.admin.viewsets.model import ModelViewSet

from ...models import MessengerPage
from .. import adaccounts, onboarding, store_audience, token_import
from ..forms import MessengerPageForm
from .scoped import ScopedViewSetMixin


class MessengerPageViewSet(ScopedViewSetMixin, ModelViewSet):
    name = "onesend_pages"
    url_prefix = "messenger/pages"
    model = MessengerPage
    icon = "comment"
    menu_label = _("Pages")
    index_view_class = onboarding.MessengerPageIndexView
    add_view_class = onboarding.MessengerPageCreateView
    edit_view_class = onboarding.MessengerPageEditView
    inspect_view_enabled = True
    inspect_view_class = onboarding.MessengerPageInspectView
    inspect_view_fields = [
        "name",
        "page_id",
        "username",
        "account",
        "app",
        "channel",
        "business_country",
        "status",
        "status_reason",
        "last_webhook_at",
    ]  # never the token
    list_display = ["name", "page_id", "account", "channel", "status", "last_webhook_at"]
    list_filter = ["account", "channel", "status"]
    search_fields = ["name", "page_id", "username"]
    edit_handler = ObjectList(
        [
            MultiFieldPanel(
                [
                    FieldRowPanel([FieldPanel("account"), FieldPanel("app")]),
                    FieldRowPanel([FieldPanel("page_id"), FieldPanel("name"), FieldPanel("username")]),
                    FieldPanel("access_token"),
                    FieldRowPanel([FieldPanel("status"), FieldPanel("status_reason")]),
                ],
                heading=_("Connection"),
            ),
            MultiFieldPanel(
                [
                    FieldRowPanel([FieldPanel("channel"), FieldPanel("business_country")]),
                    FieldRowPanel([FieldPanel("ad_account_id"), FieldPanel("paid_access_token")]),
                    FieldPanel("frequency_cap_hours"),
                ],
                heading=_("Sending"),
            ),
            MultiFieldPanel(
                [
                    FieldPanel("optin_title"),
                    FieldRowPanel([FieldPanel("optin_cta"), FieldPanel("optin_image_url")]),
                    FieldPanel("welcome_message"),
                    FieldPanel("unsubscribe_keywords"),
                    FieldPanel("offer_optin_without_ref"),
                ],
                heading=_("Opt-in and unsubscribe"),
                help_text=_(
                    "A new Page left at the default title and button, or without an image or welcome "
                    "message, takes its account's defaults."
                ),
            ),
        ],
        base_form_class=MessengerPageForm,
    )

    def get_urlpatterns(self):
        return super().get_urlpatterns() + [
            path("connect/", self.construct_view(onboarding.ConnectPageView), name="connect"),
            path(
                "connect/callback/",
                self.construct_view(onboarding.ConnectCallbackView),
                name="connect_callback",
            ),
            path(
                "ad-account/<int:pk>/",
                self.construct_view(adaccounts.ConnectAdAccountView),
                name="connect_ad_account",
            ),
            path(
                "ad-account/callback/",
                self.construct_view(adaccounts.AdAccountCallbackView),
                name="ad_account_callback",
            ),
            path(
                "recheck/<int:pk>/",
                self.construct_view(
                    onboarding.RecheckPageView, success_url_name=self.get_url_name("inspect")
                ),
                name="recheck",
            ),
            path(
                "subscribe-app/<int:pk>/",
                self.construct_view(
                    onboarding.SubscribeAppView, success_url_name=self.get_url_name("inspect")
                ),
                name="subscribe_app",
            ),
            path(
                "import-tokens/<int:pk>/",
                self.construct_view(
                    token_import.ImportTokensView, success_url_name=self.get_url_name("inspect")
                ),
                name="import_tokens",
            ),
            path(
                "upload-customers/<int:pk>/",
                self.construct_view(
                    store_audience.UploadCustomersView, success_url_name=self.get_url_name("inspect")
                ),
                name="upload_customers",
            ),
        ]

    def get_inspect_view_kwargs(self, **kwargs):
        return super().get_inspect_view_kwargs(recheck_url_name=self.get_url_name("recheck"), **kwargs)
