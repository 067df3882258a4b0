"""The "Store events" listing: every event the shop reported, its processing state and error,
read-only (like the webhook inbox, it is the record of what the shop sent)."""

from __future__ import annotations

import json

from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from wagtail.admin.ui.tables import Column
from wagtail.admin.viewsets.model import ModelViewSet

from ..models import StoreEvent
from .inspect import InspectView
from .viewsets.scoped import ScopedViewSetMixin


class StoreEventInspectView(InspectView):
    def get_properties_display_value(self):
        return format_html("<pre>{}</pre>", json.dumps(self.object.properties, indent=2, ensure_ascii=False))


class StoreEventViewSet(ScopedViewSetMixin, ModelViewSet):
    """Store events of the user's accounts; a failed one shows why (``onesend_reprocess`` runs
    it again once the cause is fixed)."""

    name = "onesend_store_events"
    url_prefix = "messenger/store-events"
    model = StoreEvent
    icon = "list-ul"
    menu_label = _("Store events")
    inspect_view_enabled = True
    inspect_view_class = StoreEventInspectView
    inspect_view_fields = [
        "account",
        "name",
        "customer_ref",
        "state",
        "error",
        "listener_errors",
        "listeners_next_attempt_at",
        "source",
        "idempotency_key",
        "occurred_at",
        "received_at",
        "properties",
    ]
    copy_view_enabled = False
    list_display = [
        "name",
        "customer_ref",
        "account",
        "state",
        # A processed event whose listener failed has no processing error: show the listener's.
        Column("error", label=_("Error"), accessor=lambda event: event.error or event.listener_errors),
        "occurred_at",
    ]
    list_filter = ["state", "name", "source"]
    search_fields = ["name", "customer_ref", "idempotency_key"]
    exclude_form_fields = []
