"""Subscribers and the subscription links they come through."""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy as _
from wagtail.admin.ui.tables import Column, DateColumn, StatusTagColumn
from wagtail.admin.viewsets.model import ModelViewSet

from ...models import Subscriber, SubscriptionLink
from .. import subscribers, views
from ..filters import SubscriberFilterSet
from .scoped import ScopedViewSetMixin

# What the admin shows and exports about a subscriber: never their marketing-message tokens.
SUBSCRIBER_FIELDS = [
    "first_name",
    "last_name",
    "psid",
    "page",
    "status",
    "tags",
    "source_ref",
    "customer_ref",
    "timezone",
    "locale",
    "created_at",
    "opted_in_at",
    "unsubscribed_at",
    "last_interaction_at",
    "last_marketing_at",
]


class SubscriberViewSet(ScopedViewSetMixin, ModelViewSet):
    """Browse, segment and export subscribers; inspect one person's consent history; edit their
    tags; unsubscribe, export or erase them. Nobody adds a subscriber by hand: they come only
    from opt-ins (see ``SubscriberPermissionPolicy``)."""

    name = "onesend_subscribers"
    url_prefix = "messenger/subscribers"
    model = Subscriber
    icon = "user"
    index_view_class = subscribers.SubscriberIndexView
    edit_view_class = subscribers.SubscriberEditView
    inspect_view_enabled = True
    inspect_view_class = subscribers.SubscriberInspectView
    inspect_view_fields = SUBSCRIBER_FIELDS
    copy_view_enabled = False
    form_fields = ["tags"]
    list_display = [
        subscribers.PersonColumn(),
        "page",
        StatusTagColumn(
            "status",
            accessor="get_status_display",
            primary=lambda subscriber: subscriber.status == Subscriber.Status.SUBSCRIBED,
            sort_key="status",
        ),
        Column("tags", accessor=lambda subscriber: subscribers.tag_names(subscriber.tags)),
        "source_ref",
        DateColumn("opted_in_at", label=_("Opted in"), sort_key="opted_in_at"),
        DateColumn("last_marketing_at", label=_("Last marketing message"), sort_key="last_marketing_at"),
    ]
    filterset_class = SubscriberFilterSet
    search_fields = ["first_name", "last_name", "psid", "customer_ref", "source_ref"]
    list_export = SUBSCRIBER_FIELDS
    export_filename = "subscribers"

    def get_urlpatterns(self):
        return super().get_urlpatterns() + [
            path("unsubscribe/<int:pk>/", self.unsubscribe_view, name="unsubscribe"),
            path("export/<int:pk>/", self.export_view, name="export"),
            path("erase/<int:pk>/", self.erase_view, name="erase"),
        ]

    def get_inspect_view_kwargs(self, **kwargs):
        return super().get_inspect_view_kwargs(
            unsubscribe_url_name=self.get_url_name("unsubscribe"),
            export_url_name=self.get_url_name("export"),
            erase_url_name=self.get_url_name("erase"),
            **kwargs,
        )

    @property
    def unsubscribe_view(self):
        return self.construct_view(
            subscribers.SubscriberUnsubscribeView, success_url_name=self.get_url_name("inspect")
        )

    @property
    def export_view(self):
        return self.construct_view(subscribers.SubscriberExportView)

    @property
    def erase_view(self):
        return self.construct_view(
            subscribers.SubscriberEraseView, delete_url_name=self.get_url_name("erase"), usage_url_name=None
        )


class SubscriptionLinkViewSet(ScopedViewSetMixin, ModelViewSet):
    """Named ways in (a website button, a poster, an e-mail footer) with their clicks and
    subscribers, and each one's copyable link and QR code (on the inspect view)."""

    name = "onesend_links"
    url_prefix = "messenger/links"
    model = SubscriptionLink
    icon = "link"
    menu_label = _("Subscription links")
    index_view_class = views.SubscriptionLinkIndexView
    inspect_view_enabled = True
    inspect_view_class = views.SubscriptionLinkInspectView
    inspect_view_fields = ["name", "page", "ref", "tags", "clicks", "created_at"]
    form_fields = ["page", "name", "ref", "tags"]
    list_display = [
        "name",
        "page",
        "ref",
        "tags",
        "clicks",
        Column("subscriber_count", label=_("Subscribers"), sort_key="subscriber_count"),
    ]
    list_filter = ["page"]
    search_fields = ["name", "ref", "tags"]

    def get_urlpatterns(self):
        return super().get_urlpatterns() + [path("qr/<int:pk>/<str:kind>/", self.qr_view, name="qr")]

    def get_inspect_view_kwargs(self, **kwargs):
        return super().get_inspect_view_kwargs(qr_url_name=self.get_url_name("qr"), **kwargs)

    @property
    def qr_view(self):
        return self.construct_view(views.SubscriptionLinkQRCodeView)
