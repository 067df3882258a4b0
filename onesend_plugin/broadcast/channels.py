"""Delivery channels: how a marketing message reaches a subscriber, chosen per Page.

Meta keeps changing the ground (the legacy token API survives only in some regions; elsewhere a
paid API replaces it), so the engine only asks a channel for one Graph call per recipient, or
for the reason it cannot reach them. Everything else (ledger, rate limit, frequency cap) is the
same for every channel.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import conf
from ..messenger import builders
from ..messenger.client import BatchRequest, GraphClient
from ..messenger.errors import GraphError
from ..models import Campaign, Channel, MessengerPage, Subscriber


class TokenChannel:
    """Meta's marketing-message tokens through the Send API (the opt-in flow's tokens)."""

    def prepare(self, campaign: Campaign, client: GraphClient) -> dict[str, Any]:
        return {}

    def request(self, subscriber: Subscriber, message: dict, context: dict) -> BatchRequest | str:
        token = _token(subscriber)
        if token is None:
            return "no_token"
        return BatchRequest.send(recipient=builders.to_token(token), message=message)


class MarketingApiChannel:
    """Meta's paid Marketing Messages API: the Page's ad account pays per message."""

    def prepare(self, campaign: Campaign, client: GraphClient) -> dict[str, Any]:
        """Create the campaign's ``message_campaign`` (Meta's "Send Messages on Marketing Message
        API for Messenger", step 1), with the campaign's budget if it has one (none: Meta's
        default budget mode)."""
        page, lifetime = campaign.page, campaign.budget_period == Campaign.BudgetPeriod.LIFETIME
        message_id = client.create_marketing_campaign(
            ad_account_id=page.ad_account_id,
            name=campaign.name,
            page_id=page.page_id,
            daily_budget=None if lifetime else campaign.budget,
            lifetime_budget=campaign.budget if lifetime else None,
        )
        return {"marketing_message_id": message_id}

    def eligible_at(self, subscriber: Subscriber, client: GraphClient) -> datetime | None:
        """When Meta takes the next paid message to ``subscriber`` (one per token every 12 h:
        Send Messages on Marketing Message API for Messenger), from their token's settings (Get
        subscription tokens); None when Meta does not say."""
        token = _token(subscriber)
        try:
            return client.get_token(token=token).eligible_at if token else None
        except GraphError:
            return None

    def request(self, subscriber: Subscriber, message: dict, context: dict) -> BatchRequest | str:
        token = _token(subscriber)
        if token is None:
            return "no_token"
        return BatchRequest.paid(
            ad_account_id=subscriber.page.ad_account_id,
            message_id=context["marketing_message_id"],
            subscription_token=token,
            message=message,
            min_conversation_gap_seconds=conf.get("PAID_MIN_CONVERSATION_GAP_SECONDS"),
        )


class StandardChannel:
    """Plain Send API messages, only to people who wrote to the Page in the last 24 hours."""

    def prepare(self, campaign: Campaign, client: GraphClient) -> dict[str, Any]:
        return {}

    def request(self, subscriber: Subscriber, message: dict, context: dict) -> BatchRequest | str:
        if not subscriber.in_standard_window():
            return "outside_window"
        return BatchRequest.send(
            recipient=builders.to_psid(subscriber.psid), message=message, messaging_type="UPDATE"
        )


CHANNELS = {
    Channel.MARKETING_TOKEN: TokenChannel(),
    Channel.MARKETING_API: MarketingApiChannel(),
    Channel.STANDARD: StandardChannel(),
}


def for_page(page: MessengerPage):
    return CHANNELS[page.channel]


def _token(subscriber: Subscriber) -> str | None:
    """The subscriber's active token, preferring the Page's current topic. Uses the
    ``active_tokens`` prefetched by the engine."""
    tokens = sorted(subscriber.active_tokens, key=lambda t: t.topic != subscriber.page.optin_title)
    return tokens[0].token if tokens else None
