"""A per-person campaign's outcomes and cost per channel: each ledger row records the channel it
went through (``Delivery.channel``), so the report says how many went free (standard message,
legacy token) and how many paid, what happened to them, and what the paid ones cost (Meta's
spend, ``spend.cost_of``; the free channels cost nothing).

It reads the ledger (one grouped query over the campaign's rows), unlike the counter-based
reports: it is shown for campaigns of Pages sending per person only."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from ..models import Campaign, Channel, Delivery

State = Delivery.State

#: The channels in routing's order (cheapest first), as the report names them.
LABELS = {
    Channel.STANDARD: _("Standard message (free)"),
    Channel.MARKETING_TOKEN: _("Marketing-message token (free)"),
    Channel.MARKETING_API: _("Paid Marketing Messages API"),
}


@dataclass
class ChannelOutcomes:
    """One channel's rows of a campaign, by what happened to them."""

    channel: str
    sent: int
    delivered: int
    read: int
    clicked: int
    failed: int
    skipped: int  # refused on that channel (our cap, Meta's rules)

    @property
    def label(self) -> str:
        return str(LABELS.get(self.channel, self.channel))

    @property
    def paid(self) -> bool:
        return self.channel == Channel.MARKETING_API

    def cost_each(self, spend: Decimal | None) -> Decimal | None:
        """What each delivered message cost: nothing on a free channel; the spend divided by
        the delivered on the paid one (None until Meta reports it, or before any delivery)."""
        if not self.paid:
            return Decimal(0)
        return spend / self.delivered if spend is not None and self.delivered else None


def per_channel(campaign: Campaign) -> list[ChannelOutcomes]:
    """The campaign's outcomes per channel used, in routing's order; rows skipped before any
    channel took them (no token, region) are left out: the report's Not sent table has them."""
    rows = (
        campaign.deliveries.exclude(channel="")
        .order_by()
        .values("channel")
        .annotate(
            sent=Count("pk", filter=Q(state=State.SENT)),
            delivered=Count("delivered_at"),
            read=Count("read_at"),
            clicked=Count("clicked_at"),
            failed=Count("pk", filter=Q(state__in=[State.FAILED, State.UNKNOWN])),
            skipped=Count("pk", filter=Q(state=State.SKIPPED)),
        )
    )
    found = {row["channel"]: ChannelOutcomes(**row) for row in rows}
    return [found[channel] for channel in LABELS if channel in found]
