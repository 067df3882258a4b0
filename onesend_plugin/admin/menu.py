"""The one "Messenger" menu of onesend's admin."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from wagtail.snippets.views.snippets import SnippetViewSetGroup

from .store import StoreEventViewSet
from .viewsets.accounts import AccountViewSet, MetaAppViewSet
from .viewsets.campaigns import CampaignViewSet
from .viewsets.pages import MessengerPageViewSet
from .viewsets.subscribers import SubscriberViewSet, SubscriptionLinkViewSet
from .viewsets.webhooks import WebhookDeliveryViewSet, WebhookEventViewSet


class MessengerViewSetGroup(SnippetViewSetGroup):
    """One "Messenger" menu. A snippet group, so the campaign snippet is listed here rather than
    under "Snippets"; the other items are plain model viewsets."""

    menu_label = _("Messenger")
    menu_icon = "comment"
    menu_order = 250
    items = (
        CampaignViewSet,
        MessengerPageViewSet,
        SubscriberViewSet,
        SubscriptionLinkViewSet,
        AccountViewSet,
        MetaAppViewSet,
        WebhookEventViewSet,
        WebhookDeliveryViewSet,
        StoreEventViewSet,
    )
