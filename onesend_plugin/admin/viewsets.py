"""Admin viewsets, grouped under one "Messenger" menu."""

from __future__ import annotations

import json

from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel, FieldRowPanel, MultiFieldPanel, ObjectList
from wagtail.admin.views.generic.models import InspectView
from wagtail.admin.viewsets.model import ModelViewSet, ModelViewSetGroup

from ..models import Account, MessengerPage, MetaApp, WebhookEvent
from .forms import MessengerPageForm, MetaAppForm


class AccountViewSet(ModelViewSet):
    name = "onesend_accounts"
    url_prefix = "messenger/accounts"
    model = Account
    icon = "group"
    form_fields = ["name", "slug", "timezone"]
    list_display = ["name", "slug", "timezone", "created_at"]
    search_fields = ["name", "slug"]


class MetaAppViewSet(ModelViewSet):
    name = "onesend_apps"
    url_prefix = "messenger/apps"
    model = MetaApp
    icon = "key"
    menu_label = _("Meta apps")
    list_display = ["name", "app_id", "created_at"]  # never the secret
    search_fields = ["name", "app_id"]
    edit_handler = ObjectList(
        [FieldPanel("name"), FieldPanel("app_id"), FieldPanel("app_secret"), FieldPanel("verify_token")],
        base_form_class=MetaAppForm,
    )


class MessengerPageViewSet(ModelViewSet):
    name = "onesend_pages"
    url_prefix = "messenger/pages"
    model = MessengerPage
    icon = "comment"
    menu_label = _("Pages")
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
                [FieldPanel("channel"), FieldPanel("ad_account_id"), FieldPanel("frequency_cap_hours")],
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
            ),
        ],
        base_form_class=MessengerPageForm,
    )


class WebhookEventInspectView(InspectView):
    def get_payload_display_value(self):
        return format_html("<pre>{}</pre>", json.dumps(self.object.payload, indent=2, ensure_ascii=False))

    def get_delivery_display_value(self):
        delivery = self.object.delivery
        return format_html(
            "<p>{} · {}</p><pre>{}</pre><pre>{}</pre>",
            delivery.received_at,
            delivery.get_state_display(),
            json.dumps(delivery.headers, indent=2),
            bytes(delivery.body).decode("utf-8", errors="replace"),
        )


class WebhookEventViewSet(ModelViewSet):
    """The webhook inbox: every event Meta sent, its processing state and error."""

    name = "onesend_inbox"
    url_prefix = "messenger/inbox"
    model = WebhookEvent
    icon = "tasks"
    menu_label = _("Webhook inbox")
    inspect_view_enabled = True
    inspect_view_class = WebhookEventInspectView
    inspect_view_fields = [
        "kind",
        "state",
        "error",
        "page",
        "page_external_id",
        "psid",
        "timestamp",
        "received_at",
        "processed_at",
        "payload",
        "delivery",
    ]
    copy_view_enabled = False
    list_display = ["kind", "psid", "page_external_id", "state", "timestamp", "received_at"]
    list_filter = ["kind", "state", "page"]
    search_fields = ["psid", "page_external_id", "kind"]
    exclude_form_fields = []


class MessengerViewSetGroup(ModelViewSetGroup):
    menu_label = _("Messenger")
    menu_icon = "comment"
    menu_order = 250
    items = (MessengerPageViewSet, AccountViewSet, MetaAppViewSet, WebhookEventViewSet)
