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
        """``POST /act_{id}/message_campaign`` (Send Messages on Marketing Message API for
        Messenger, step 1): a name and the Page are required; a budget is optional since Meta's
        "Default Budget Mode" (same page, Jun 30 2026; changelog 2026-06-30), and when given it is
        ``daily_budget`` or ``lifetime_budget`` in the currency's smallest unit, above 0."""
        if not params.get("name"):
            raise errors.param("The parameter name is required")
        page = self.pages.get(str(params.get("page_id")))
        if page is None:
            raise errors.param("Param page_id must be a Page of this business")
        budgets = {key: _budget(params, key) for key in ("daily_budget", "lifetime_budget") if key in params}
        campaign_id = self._new_campaign_id()
        self.campaigns[campaign_id] = Campaign(
            campaign_id, ad_account_id, page.page_id, str(params["name"]), **budgets
        )
        return {"id": campaign_id}

    def _new_campaign_id(self) -> str:
        """Meta's message campaign ids are ad ids: 18 digits starting with 120 (the Graph routes
        tell them from Page ids by that)."""
        while (campaign_id := "120" + new_digits(15, {})) in self.campaigns:
            pass
        return campaign_id

    def campaign_fields(self, page: Page, campaign_id: str) -> dict[str, Any]:
        """``GET /{message_campaign_id}`` (Send Messages on Marketing Message API for Messenger,
        "Get a message campaign"): the ad-like object, its budgets as strings."""
        campaign = self._campaign_of(page, campaign_id)
        adset = {
            key: str(value)
            for key, value in (
                ("daily_budget", campaign.daily_budget),
                ("lifetime_budget", campaign.lifetime_budget),
            )
            if value is not None
        }
        return {
            "id": campaign.campaign_id,
            "campaign": {"name": campaign.name},
            "adset": adset,
            "creative": {"actor_id": campaign.page_id},
        }

    def delete_campaign(self, page: Page, campaign_id: str) -> dict[str, Any]:
        """``DELETE /{message_campaign_id}``: gone for good (same page, "Delete a message campaign")."""
        del self.campaigns[self._campaign_of(page, campaign_id).campaign_id]
        return {"success": True}

    def _campaign_of(self, page: Page, campaign_id: str) -> Campaign:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None or campaign.page_id != page.page_id:
            raise errors.no_object(campaign_id, "get")
        return campaign

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
        if params.get("message_id"):
            campaign = self.campaigns.get(str(params["message_id"]))
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


def _budget(params: Mapping[str, Any], key: str) -> int:
    """A budget in the account currency's smallest unit: "must be greater than 0" (Send Messages
    on Marketing Message API for Messenger, parameters of ``message_campaign``)."""
    value = params[key]
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise errors.param(f"Param {key} must be a positive integer")
    return value
