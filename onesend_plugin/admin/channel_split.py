"""The confirm step's channel split for a Page that sends per person: before sending, how many go
free (standard message in their 24 h window, legacy token), how many by paid message and at what
estimated cost, and how many are skipped and why (``broadcast.split``, ``broadcast.routing``).
The estimated cost is ``split.estimated_cost``'s."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from ..analytics import reasons
from ..broadcast import recipients, split
from ..messenger import currency
from ..messenger.client import DeliveryEstimate
from ..models import Campaign, Channel

#: What each channel's line says, in the order routing tries them.
CHANNEL_LABELS = {
    Channel.STANDARD: _("Free: a standard message (they wrote to the Page in the last 24 hours)"),
    Channel.MARKETING_TOKEN: _("Free: their marketing-message token"),
    Channel.MARKETING_API: _("Paid: Meta's Marketing Messages API"),
}


def counts(campaign: Campaign) -> split.Split | None:
    """The split of the campaign's audience now; None when the audience can't be given (the
    confirm step already says why)."""
    try:
        return split.split(campaign.page, recipients.audience(campaign))
    except recipients.AUDIENCE_ERRORS:
        return None


def summary(campaign: Campaign, counted: split.Split, estimate: DeliveryEstimate | None) -> dict:
    """The split as the confirm step shows it: a line per channel (the paid one with its
    estimated cost, or None when Meta gave no estimate) and a line per skip reason."""
    channels = [
        {"channel": channel, "label": label, "count": counted.channels[channel]}
        for channel, label in CHANNEL_LABELS.items()
    ]
    paid = counted.channels[Channel.MARKETING_API]
    channels[-1]["cost"] = _estimated_cost(paid, estimate, campaign.page.ad_account_currency)
    skipped = [
        {"reason": reason, "label": reasons.label(reason), "count": count}
        for reason, count in counted.skipped.most_common()
    ]
    # Without a country no legacy token is used (``routing``): say where to set it.
    no_country = bool(counted.skipped["no_channel"]) and not campaign.page.country
    return {"channels": channels, "skipped": skipped, "paid": paid, "no_country": no_country}


def _estimated_cost(paid: int, estimate: DeliveryEstimate | None, code: str) -> str | None:
    """``split.estimated_cost`` in the ad account's currency: one amount, or a range; None when
    Meta gave no usable estimate."""
    cost = split.estimated_cost(paid, estimate)
    if cost is None:
        return None
    low, high = cost
    if low == high:
        return currency.label(low, code)
    return f"{currency.label(low, code)}–{currency.label(high, code)}"
