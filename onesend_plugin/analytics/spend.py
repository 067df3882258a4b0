"""What a campaign on Meta's paid Marketing Messages API cost, and what that bought.

Meta alone knows the spend: its campaign insights (Measure Campaign Performance on Marketing
Message API for Messenger: ``marketing_messages_spend``, ``_delivered``, ``_link_btn_click``,
every value a string, spend in the ad account's currency) are fetched by the minute tick every
``PAID_INSIGHTS_MINUTES`` from the start, until ``PAID_INSIGHTS_DAYS`` after the campaign ended.
A failed fetch keeps the figures already stored, is logged and noted, and is tried again at the
next interval; it never stops the tick. The report divides the spend by our own counts (Meta's
leave out Europe and Japan and may be estimated) and by attributed revenue in the same currency.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from .. import conf
from ..messenger.errors import GraphError
from ..meta import paid_client_for
from ..models import Campaign, Channel, PaidInsights
from .counters import Kind, breakdown
from .per_channel import per_channel

logger = logging.getLogger(__name__)

Status = Campaign.Status
#: Where the paid channel keeps the id of the campaign's ``message_campaign`` at Meta.
META_CAMPAIGN_KEY = "message__channel__marketing_message_id"
ENDED = (Status.FINISHED, Status.CANCELLED)


def meta_campaign_id(campaign: Campaign) -> str | None:
    """The ``message_campaign`` id Meta gave the campaign when it started; None if it has none."""
    channel = (campaign.message or {}).get("channel") or {}
    meta_id = channel.get("marketing_message_id")
    return None if meta_id is None else str(meta_id)


def due(now: datetime) -> list[Campaign]:
    """Started campaigns with a message campaign at Meta whose insights are due: not asked for
    ``PAID_INSIGHTS_MINUTES``, and still running or ended less than ``PAID_INSIGHTS_DAYS`` ago."""
    asked_since = now - timedelta(minutes=conf.get("PAID_INSIGHTS_MINUTES"))
    ended_before = now - timedelta(days=conf.get("PAID_INSIGHTS_DAYS"))
    return list(
        Campaign.objects.filter(**{f"{META_CAMPAIGN_KEY}__isnull": False})
        .exclude(status__in=(Status.DRAFT, Status.SCHEDULED))
        .exclude(Q(paid_insights__checked_at__gt=asked_since) | Q(paid_insights__ended_at__lt=ended_before))
        .select_related("page")
        .order_by("pk")
    )


def refresh_insights(now: datetime | None = None) -> int:
    """Fetch the insights of every campaign due (see :func:`due`); returns how many were fetched."""
    now = now or timezone.now()
    return sum(fetch_insights(campaign, now) for campaign in due(now))


def fetch_insights(campaign: Campaign, now: datetime) -> bool:
    """Ask Meta for one campaign's insights and store them; on failure keep the last figures,
    note and log the error (asked again after ``PAID_INSIGHTS_MINUTES``)."""
    insights, _ = PaidInsights.objects.get_or_create(campaign=campaign)
    insights.checked_at = now
    insights.ended_at = (insights.ended_at or now) if campaign.status in ENDED else None
    try:
        figures = paid_client_for(campaign.page).campaign_insights(campaign_id=meta_campaign_id(campaign))
    except GraphError as exc:
        logger.warning(
            "Meta's insights of campaign %s (%s) could not be fetched; the last ones are kept: %s",
            campaign.pk,
            campaign,
            exc,
        )
        insights.error = str(exc)[:500]
        insights.save(update_fields=["checked_at", "ended_at", "error"])
        return False
    insights.spend = figures.spend.quantize(Decimal("0.0001"))
    insights.delivered, insights.clicks = figures.delivered, figures.clicks
    insights.fetched_at, insights.error = now, ""
    insights.save()
    return True


# -- In the report ---------------------------------------------------------------------------


@dataclass
class CostLine:
    """One of our counts and what each cost (None: nothing to divide by), with Meta's count."""

    key: str
    ours: int
    meta: int | None

    def each(self, spend: Decimal) -> Decimal | None:
        return spend / self.ours if self.ours else None


@dataclass
class Cost:
    """A paid campaign's spend beside our counts, and the return on it. ``insights`` is None
    until one was stored (then the report says Meta has told nothing yet)."""

    currency: str  # the ad account's; "" when onesend does not know it
    insights: PaidInsights | None
    lines: list[CostLine]
    revenue: Decimal | None  # attributed revenue in the ad account's currency
    other_currencies: list[str]  # revenue that can't be set against the spend

    @property
    def spend(self) -> Decimal | None:
        return self.insights.spend if self.insights and self.insights.fetched_at else None

    @property
    def return_on_spend(self) -> Decimal | None:
        """Attributed revenue ÷ spend (revenue in the spend's currency only)."""
        if self.spend is None or not self.spend or self.revenue is None:
            return None
        return self.revenue / self.spend


def cost_of(campaign: Campaign, counters: dict[str, int]) -> Cost | None:
    """The campaign's cost figures; None when it was not sent through the paid API."""
    if meta_campaign_id(campaign) is None:
        return None
    insights = PaidInsights.objects.filter(campaign=campaign).first()
    meta = insights if insights and insights.fetched_at else None
    currency = campaign.page.ad_account_currency.upper()
    revenue = breakdown(counters, Kind.REVENUE)
    delivered, clicked = counters.get(Kind.DELIVERED, 0), counters.get(Kind.UNIQUE_CLICKS, 0)
    if campaign.page.channel == Channel.PER_PERSON:  # only the paid channel's messages were paid for
        paid = next((line for line in per_channel(campaign) if line.paid), None)
        delivered, clicked = (paid.delivered, paid.clicked) if paid else (0, 0)
    return Cost(
        currency=currency,
        insights=insights,
        lines=[
            CostLine("delivered", delivered, meta.delivered if meta else None),
            CostLine("clicked", clicked, meta.clicks if meta else None),
            CostLine("converted", counters.get(Kind.CONVERSIONS, 0), None),
        ],
        revenue=Decimal(revenue.get(currency, 0)) / 100 if currency else None,
        other_currencies=[c for c in revenue if c != currency],
    )
