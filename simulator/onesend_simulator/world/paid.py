"""The paid Marketing Messages API (https://developers.facebook.com/documentation/business-messaging/messenger-platform/marketing-messages-on-messenger/send-messages):
campaigns of an ad account and their sends to marketing-messages tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import errors
from ..model import (
    Campaign,
    Page,
    new_digits,
)
from .base import WorldState


class PaidMixin(WorldState):
    """The paid Marketing Messages API (a part of ``World``)."""

    def create_campaign(self, ad_account_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /act_{id}/message_campaign``: needs a name, a Page and one budget, as in
        https://developers.facebook.com/documentation/business-messaging/messenger-platform/marketing-messages-on-messenger/send-messages"""
        if not params.get("name"):
            raise errors.param("The parameter name is required")
        page = self.pages.get(str(params.get("page_id")))
        if page is None:
            raise errors.param("Param page_id must be a Page of this business")
        budgets = [key for key in ("daily_budget", "lifetime_budget") if params.get(key)]
        if len(budgets) != 1:
            raise errors.param("Exactly one of daily_budget or lifetime_budget is required")
        campaign_id = new_digits(17, self.campaigns)
        self.campaigns[campaign_id] = Campaign(campaign_id, ad_account_id, page.page_id, str(params["name"]))
        return {"id": campaign_id}

    def send_marketing(self, page: Page, ad_account_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /act_{id}/messages``: the paid API; same token store, cooldown and content rules."""
        delivery = params.get("messenger_delivery_data")
        if not isinstance(delivery, dict) or not delivery.get("subscription_token"):
            raise errors.param("The parameter messenger_delivery_data.subscription_token is required")
        token = self.tokens.get(str(delivery["subscription_token"]))
        if token is None:
            raise errors.invalid_subscription_token()
        if token.page_id != page.page_id:
            raise errors.page_mismatch()
        if params.get("campaign_id"):
            campaign = self.campaigns.get(str(params["campaign_id"]))
            if campaign is None or campaign.ad_account_id != ad_account_id:
                raise errors.inactive_campaign()
            if campaign.page_id != page.page_id:
                raise errors.page_mismatch()
        content = self._content(page, params.get("message"))
        if content.optin is not None:
            raise errors.param("Opt-in requests cannot be sent as marketing messages")
        window, now = self._window(page, content.media)
        person = self._token_person(token)
        item = self._deliver(page, person, content, token, "marketing")
        window.record(now)
        return {"message_id": item["mid"]}
