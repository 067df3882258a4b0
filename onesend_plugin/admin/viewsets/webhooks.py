"""What Meta sent: the webhook deliveries as received and the events read from them."""

from __future__ import annotations

import json

from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from wagtail.admin.viewsets.model import ModelViewSet

from ...models import WebhookDelivery, WebhookEvent
from ..inspect import InspectView
from .scoped import ScopedViewSetMixin


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


class WebhookDeliveryInspectView(InspectView):
    def get_headers_display_value(self):
        return format_html("<pre>{}</pre>", json.dumps(self.object.headers, indent=2))

    def get_body_display_value(self):
        return format_html("<pre>{}</pre>", bytes(self.object.body).decode("utf-8", errors="replace"))


class WebhookDeliveryViewSet(ScopedViewSetMixin, ModelViewSet):
    """Meta's POSTs as received: those that could not be processed, with their error, attempts
    and next retry (agency staff only: one delivery may concern several clients' Pages)."""

    name = "onesend_deliveries"
    url_prefix = "messenger/deliveries"
    model = WebhookDelivery
    icon = "warning"
    menu_label = _("Webhook deliveries")
    inspect_view_enabled = True
    inspect_view_class = WebhookDeliveryInspectView
    inspect_view_fields = [
        "received_at",
        "app",
        "state",
        "attempts",
        "next_attempt_at",
        "error",
        "headers",
        "body",
    ]
    copy_view_enabled = False
    list_display = ["received_at", "app", "state", "attempts", "next_attempt_at", "error"]
    list_filter = ["state", "app"]
    search_fields = ["error"]
    exclude_form_fields = []


class WebhookEventViewSet(ScopedViewSetMixin, ModelViewSet):
    """The webhook inbox: every event Meta sent, its processing state and error, and what the
    plugins told about it raised (when they are called again, if they are)."""

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
        "listener_errors",
        "listeners_next_attempt_at",
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
