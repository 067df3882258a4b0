"""An A/B test's variants side by side: what each sent, and how many of those were delivered,
read, clicked and converted. Counted from the test's ledger rows (the campaign's counters are its
totals, not per variant); the rates are of sent, as in every other report."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from ..messages import sent_message
from ..messenger import builders
from ..models import Campaign, Conversion, Delivery
from .reports import percent, rate

State = Delivery.State
#: The test's variants, in the order reports show them.
VARIANTS = ("a", "b")


@dataclass
class VariantResult:
    variant: str  # "a" or "b"
    words: str  # what its message said (its text, or its card's title)
    buttons: list[str]  # its buttons' titles
    drawn: int  # the rows drawn for it
    sent: int
    delivered: int
    read: int
    clicked: int  # unique: people who clicked
    conversions: int

    @property
    def label(self) -> str:
        return self.variant.upper()

    @property
    def click_rate(self) -> float | None:
        return rate(self.clicked, self.sent)

    @property
    def conversion_rate(self) -> float | None:
        return rate(self.conversions, self.sent)

    @property
    def click_rate_display(self) -> str:
        return percent(self.click_rate)

    @property
    def conversion_rate_display(self) -> str:
        return percent(self.conversion_rate)


def variant_results(campaign: Campaign) -> list[VariantResult]:
    """Variant A's and B's figures (the rest, who got the winner, are in neither)."""
    rows = (
        Delivery.objects.filter(campaign=campaign, variant__in=VARIANTS)
        .values("variant")
        .annotate(
            drawn=Count("id"),
            sent=Count("id", filter=Q(state=State.SENT)),
            delivered=Count("id", filter=Q(delivered_at__isnull=False)),
            read=Count("id", filter=Q(read_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        )
    )
    counted = {row.pop("variant"): row for row in rows}
    empty = dict.fromkeys(("drawn", "sent", "delivered", "read", "clicked"), 0)
    results = []
    for variant in VARIANTS:
        message = sent_message(campaign, variant) or {}
        results.append(
            VariantResult(
                variant,
                words=builders.words(message),
                buttons=[button["title"] for button in builders.url_buttons(message)],
                **counted.get(variant, empty),
                conversions=_conversions(campaign, variant),
            )
        )
    return results


def _conversions(campaign: Campaign, variant: str) -> int:
    """Orders attributed to the campaign through rows drawn for ``variant`` (still counted once
    the buyer is erased, as the campaign's own count is)."""
    return Conversion.objects.filter(campaign=campaign, delivery__variant=variant).count()
