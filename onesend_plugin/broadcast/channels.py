"""Delivery channels: how a marketing message reaches a subscriber, chosen per Page or, for a
Page that sends per person, per recipient and send (``PerPersonChannel``, ``routing``).

Meta keeps changing the ground (the legacy token API survives only in some regions; elsewhere a
paid API replaces it), so the engine only asks a channel which channel takes a recipient
(``pick``), then for one Graph call, or for the reason it cannot reach them. Everything else
(ledger, rate limit, our frequency cap) is the same for every channel.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from .. import conf
from ..messenger import builders
from ..messenger.client import BatchRequest, DeliveryEstimate, GraphClient
from ..messenger.errors import PAID_TOKEN_ADVICE, GraphError
from ..meta import client_for, paid_client_for
from ..models import Campaign, Channel, MarketingToken, MessengerPage, Subscriber
from . import routing

logger = logging.getLogger(__name__)


class PageTokenChannel:
    """A channel whose calls are made with the Page token."""

    #: Its calls are paid (the business's token, Meta's paid API).
    paid = False

    def pick(self, subscriber: Subscriber, context: dict) -> PageTokenChannel | MarketingApiChannel | str:
        """The channel that takes ``subscriber`` for this send: this one (a Page's fixed channel)."""
        return self

    def send_client(self, page: MessengerPage) -> GraphClient:
        """The client ``prepare`` and the sends use."""
        return client_for(page)

    def setup_problem(self, page: MessengerPage) -> str:
        """Why the Page cannot send through this channel at all (empty: it can)."""
        return ""


class TokenChannel(PageTokenChannel):
    """Meta's marketing-message tokens through the Send API (the opt-in flow's tokens)."""

    #: One message per subscriber per rolling 48 h since 2025-09-01; Meta answers 4/2018354
    #: inside it (Marketing Messages FAQ; Recurring Notifications, "Recent changes").
    meta_cooldown = timedelta(hours=48)
    key = Channel.MARKETING_TOKEN

    def prepare(self, campaign: Campaign, client: GraphClient) -> dict[str, Any]:
        return {}

    def request(self, subscriber: Subscriber, message: dict, context: dict) -> BatchRequest | str:
        token = _token(subscriber)
        if token is None:
            return "no_token"
        return BatchRequest.send(recipient=builders.to_token(token), message=message)


class MarketingApiChannel:
    """Meta's paid Marketing Messages API: the Page's ad account pays per message."""

    #: One message per subscription token every 12 hours (Send Messages on Marketing Message API
    #: for Messenger; changelog 2025-08-11); a person Meta refuses waits until the time it gives.
    meta_cooldown = timedelta(hours=12)
    key = Channel.MARKETING_API
    paid = True

    def pick(self, subscriber: Subscriber, context: dict) -> MarketingApiChannel:
        return self

    def send_client(self, page: MessengerPage) -> GraphClient:
        """The business's system-user token (``meta.paid_client_for``): none stored raises
        ``PaidTokenMissing``, a paid-account error, so nothing is sent and the Page says why."""
        return paid_client_for(page)

    def setup_problem(self, page: MessengerPage) -> str:
        if not page.ad_account_id:
            return "Set the Page's ad account: the paid Marketing Messages API sends through it."
        if not page.paid_access_token:
            return PAID_TOKEN_ADVICE
        left = page.paid_token_left()  # a Flow 2 token ends after about 60 days; Meta then refuses it (190)
        if left is not None and left <= timedelta(0):
            return "The ad account's token has expired: reconnect the ad account (the Page's connection panel, \"Connect the ad account\")."
        return ""

    def prepare(self, campaign: Campaign, client: GraphClient) -> dict[str, Any]:
        """Create the campaign's ``message_campaign`` (Meta's "Send Messages on Marketing Message
        API for Messenger", step 1), with the campaign's budget if it has one (none: Meta's
        default budget mode). Meta's refusal is kept for the Page's connection panel; a success
        clears the last one."""
        page = campaign.page
        try:
            message_id = client.create_marketing_campaign(
                ad_account_id=page.ad_account_id,
                name=campaign.name,
                page_id=page.page_id,
                **_budgets(campaign),
            )
        except GraphError as exc:
            page.note_paid_error(exc.subcode or exc.code, str(exc))
            raise
        if page.paid_error:
            MessengerPage.objects.filter(pk=page.pk).update(paid_error={})
        return {"marketing_message_id": message_id}

    def estimate(self, campaign: Campaign, client: GraphClient) -> DeliveryEstimate:
        """How many Meta would reach with the campaign's budget and at what cost (Send Messages on
        Marketing Message API for Messenger, "Delivery estimate": no budget, the full audience)."""
        page = campaign.page
        return client.delivery_estimate(
            ad_account_id=page.ad_account_id, page_id=page.page_id, **_budgets(campaign)
        )

    @staticmethod
    def discard(context: dict[str, Any], client: GraphClient) -> None:
        """Delete what ``prepare`` created at Meta, if anything (``DELETE /{message_campaign_id}``:
        Send Messages on Marketing Message API for Messenger, "Delete a message campaign"; it
        cannot be undone). Meta documents no pause or resume for this object: pausing is ours."""
        if context.get("marketing_message_id"):
            client.delete_marketing_campaign(campaign_id=context["marketing_message_id"])

    def eligible_at(self, subscriber: Subscriber, client: GraphClient) -> datetime | None:
        """When Meta takes the next paid message to ``subscriber`` (one per token every 12 h:
        Send Messages on Marketing Message API for Messenger), from their token's settings (Get
        subscription tokens, read with the Page token's ``client``); None when Meta does not say."""
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


class StandardChannel(PageTokenChannel):
    """Plain Send API messages, only to people who wrote to the Page in the last 24 hours."""

    #: Meta sets no cooldown inside the standard window.
    meta_cooldown = timedelta(0)
    key = Channel.STANDARD

    def prepare(self, campaign: Campaign, client: GraphClient) -> dict[str, Any]:
        return {}

    def request(self, subscriber: Subscriber, message: dict, context: dict) -> BatchRequest | str:
        if not subscriber.in_standard_window():
            return "outside_window"
        return BatchRequest.send(
            recipient=builders.to_psid(subscriber.psid), message=message, messaging_type="UPDATE"
        )


class PerPersonChannel(PageTokenChannel):
    """Each recipient through the channel ``routing`` picks for them at the time of sending: a
    free standard message, the legacy token, or the paid token (``Channel.PER_PERSON``)."""

    key = Channel.PER_PERSON

    def pick(self, subscriber: Subscriber, context: dict) -> PageTokenChannel | MarketingApiChannel | str:
        """The channel for ``subscriber`` now, or the reason none takes them. Paid only when the
        campaign's message campaign exists at Meta (``context``: made at the start only if
        someone could need it, ``paid_needed``)."""
        return routed(subscriber.page, subscriber, paid="marketing_message_id" in context)

    def prepare(self, campaign: Campaign, client: GraphClient) -> dict[str, Any]:
        """The paid API's message campaign when the Page can send paid at all; the engine asks
        only when some recipient may need it (``recipients.freeze``)."""
        if not paid_usable(campaign.page):
            return {}
        paid = CHANNELS[Channel.MARKETING_API]
        return paid.prepare(campaign, paid.send_client(campaign.page))

    def request(self, subscriber: Subscriber, message: dict, context: dict) -> BatchRequest | str:
        picked = self.pick(subscriber, context)
        return picked if isinstance(picked, str) else picked.request(subscriber, message, context)


CHANNELS = {
    Channel.PER_PERSON: PerPersonChannel(),
    Channel.MARKETING_TOKEN: TokenChannel(),
    Channel.MARKETING_API: MarketingApiChannel(),
    Channel.STANDARD: StandardChannel(),
}


def for_page(page: MessengerPage):
    return CHANNELS[page.channel]


def person(subscriber: Subscriber) -> routing.Person:
    """What routing needs of a subscriber loaded by the engine (``active_tokens`` prefetched)."""
    return routing.Person(
        in_window=subscriber.in_standard_window(),
        has_token=bool(subscriber.active_tokens),
        timezone=subscriber.timezone,
        region_refused=subscriber.paid_region_refused_at is not None,
    )


def routed(
    page: MessengerPage, subscriber: Subscriber, *, paid: bool
) -> PageTokenChannel | MarketingApiChannel | str:
    """The channel ``routing`` picks for ``subscriber`` of a per-person ``page``, or the reason
    none takes them; ``paid``: whether the paid API may be used for this send."""
    options = routing.Options(legacy=routing.legacy_allowed(page.country), paid=paid)
    decision = routing.route(person(subscriber), options)
    return CHANNELS[decision.channel] if decision.channel else decision.reason


def paid_usable(page: MessengerPage) -> bool:
    """Whether a per-person Page may send paid messages: its ad account and token are set up and
    its business's region allows no legacy token (which is free, and comes first)."""
    legacy = routing.legacy_allowed(page.country)
    return not legacy and bool(page.ad_account_id) and not MarketingApiChannel().setup_problem(page)


def for_test(page: MessengerPage, subscriber: Subscriber) -> PageTokenChannel | MarketingApiChannel | str:
    """The channel a test send to ``subscriber`` goes through: standard in their 24 h window,
    else the Page's channel or, per person, the one routing picks; a string says why none."""
    if subscriber.in_standard_window():
        return CHANNELS[Channel.STANDARD]
    if page.channel != Channel.PER_PERSON:
        return for_page(page)
    return routed(page, subscriber, paid=paid_usable(page))


def meta_rule(page: MessengerPage) -> timedelta:
    """Meta's cooldown for the Page's channel; per person, the longest of those it can use."""
    if page.channel != Channel.PER_PERSON:
        return for_page(page).meta_cooldown
    used = [StandardChannel.meta_cooldown]
    if routing.legacy_allowed(page.country):
        used.append(TokenChannel.meta_cooldown)
    elif page.ad_account_id:
        used.append(MarketingApiChannel.meta_cooldown)
    return max(used)


def below_meta_rule(page: MessengerPage) -> bool:
    """Whether the Page's frequency cap lets through what its channel's Meta rule refuses."""
    return page.cooldown < meta_rule(page)


def with_uploaded_media(message: dict, page: MessengerPage, client: GraphClient) -> dict:
    """The message with its media template's image or video uploaded once (Attachment Upload
    API) and given by ``attachment_id``, so every recipient gets the same attachment: Meta takes a
    media template's media only by ``attachment_id`` or by a Facebook URL (Media Template of the
    Marketing Message API for Messenger). An attachment is the Page's own: another Page can't use
    it (2300027, API References). Any other message is returned as it is."""
    media = builders.media_to_upload(message)
    if media is None:
        return message
    kind, url = media
    attachment_id = client.upload_attachment(page_id=page.page_id, attachment_type=kind, url=url)
    return dict(builders.with_attachment_id(message, attachment_id))


def delivery_estimate(campaign: Campaign) -> DeliveryEstimate | None:
    """Meta's delivery estimate for a campaign of a paid-channel Page; None when Meta gives none
    (the endpoint is an open beta, changelog 2026-05-01). An estimate is information: its
    failure is logged and never stops a campaign."""
    try:
        return MarketingApiChannel().estimate(campaign, paid_client_for(campaign.page))
    except GraphError as exc:
        logger.warning("No delivery estimate for campaign %s: %s", campaign.pk, exc)
        return None


def _budgets(campaign: Campaign) -> dict[str, int | None]:
    """The campaign's budget as Meta's ``daily_budget`` or ``lifetime_budget`` (none: both None)."""
    lifetime = campaign.budget_period == Campaign.BudgetPeriod.LIFETIME
    return {
        "daily_budget": None if lifetime else campaign.budget,
        "lifetime_budget": campaign.budget if lifetime else None,
    }


def token_used(subscriber: Subscriber) -> MarketingToken | None:
    """The subscriber's active token a message goes to, preferring the Page's current topic. Uses
    the ``active_tokens`` prefetched by the engine."""
    tokens = sorted(subscriber.active_tokens, key=lambda t: t.topic != subscriber.page.optin_title)
    return tokens[0] if tokens else None


def _token(subscriber: Subscriber) -> str | None:
    token = token_used(subscriber)
    return token.token if token else None
