"""The one "Messenger" menu of onesend's admin."""

from __future__ import annotations

from django.urls import reverse
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

    def get_submenu_items(self):
        """Each viewset's item, and "Flows" right after the campaigns' (the broadcasts): flows
        have their own list, and people look for them in the menu, not on the broadcasts' list.
        It is shown to whoever sees the campaigns."""
        items = super().get_submenu_items()
        campaigns = next(viewset for viewset in self.registerables if isinstance(viewset, CampaignViewSet))
        at = next(i for i, item in enumerate(items) if item.url == campaigns.menu_url)
        flows = campaigns.menu_item_class(
            label=_("Flows"),
            url=reverse(campaigns.get_url_name("flows")),
            name="flows",
            icon_name="rotate",
            order=items[at].order,
        )
        return [*items[: at + 1], flows, *items[at + 1 :]]
