"""The reports' numbers, read from the maintained counters (``CampaignStat``), never by counting
ledger rows: one campaign's funnel, hourly reads and clicks and clicks per button; every
campaign annotated with its counters and rates for the comparison; and how they read
(percentages, amounts, reasons)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.db.models import BigIntegerField, Case, FloatField, OuterRef, Prefetch, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..messages import sent_message
from ..messenger import builders
from ..models import Campaign, CampaignStat
from . import reasons
from .counters import Kind, breakdown, key_of, prefix, series


def rate(numerator: int, denominator: int) -> float | None:
    """A percentage, or None when there is nothing to divide by."""
    return 100 * numerator / denominator if denominator else None


def percent(value: float | None) -> str:
    return "—" if value is None else f"{number_format(round(value, 1), 1)}%"


def money(minor: int, currency: str) -> str:
    """Revenue counters are hundredths of the currency (``analytics.record_conversion``)."""
    amount = (Decimal(minor) / 100).quantize(Decimal("0.01"))
    return f"{number_format(amount, 2, force_grouping=True)} {currency}"


#: The time series covers this many hours from the hour sending started.
SERIES_HOURS = 72

# -- One campaign: the funnel --------------------------------------------------------------------


@dataclass
class Step:
    key: str
    label: str
    value: int
    of_sent: float | None = None
    of_previous: float | None = None
    note: str = ""

    @property
    def of_sent_display(self) -> str:
        return percent(self.of_sent)

    @property
    def of_previous_display(self) -> str:
        return percent(self.of_previous)

    @property
    def bar_width(self) -> float:
        """The step's share of sent, for the funnel bar (0–100)."""
        return max(0.0, min(100.0, self.of_sent or 0.0))


@dataclass
class Revenue:
    currency: str
    minor: int

    @property
    def amount(self) -> Decimal:
        return (Decimal(self.minor) / 100).quantize(Decimal("0.01"))

    @property
    def display(self) -> str:
        return money(self.minor, self.currency)


@dataclass
class Outcome:
    """Messages that were not sent, by kind and reason, as a share of the audience."""

    kind: str  # failed | skipped | unknown
    reason: str
    value: int
    of_audience: float | None

    @property
    def label(self) -> str:
        return reasons.label(self.reason) if self.reason else ""

    @property
    def of_audience_display(self) -> str:
        return percent(self.of_audience)


@dataclass
class Funnel:
    audience: int
    steps: list[Step]
    clicks: int
    revenue: list[Revenue]
    unsubscribed: Step
    not_sent: list[Outcome] = field(default_factory=list)

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)


def funnel(campaign: Campaign, counters: dict[str, int]) -> Funnel:
    """The campaign's funnel from its counters: each step with its share of sent and of the step
    before it. A step can exceed the previous one (a click without a read receipt, a conversion
    attributed to a read), so step rates above 100% are possible and shown as they are."""
    audience = campaign.audience_size
    sent = counters.get(Kind.SENT, 0)
    values = [
        ("sent", _("Sent"), sent),
        ("delivered", _("Delivered"), counters.get(Kind.DELIVERED, 0)),
        ("read", _("Read"), counters.get(Kind.READ, 0)),
        ("clicked", _("Clicked (people)"), counters.get(Kind.UNIQUE_CLICKS, 0)),
        ("converted", _("Converted"), counters.get(Kind.CONVERSIONS, 0)),
    ]
    steps = [Step("audience", _("Audience"), audience)]
    for key, label, value in values:
        previous = steps[-1]
        steps.append(
            Step(
                key,
                label,
                value,
                of_sent=rate(value, audience) if key == "sent" else rate(value, sent),
                of_previous=rate(value, previous.value),
            )
        )
    clicks = counters.get(Kind.CLICKS, 0)
    if clicks:
        next(s for s in steps if s.key == "clicked").note = ngettext(
            "%(clicks)s click in all", "%(clicks)s clicks in all", clicks
        ) % {"clicks": f"{clicks:,}"}
    unsubscribed = counters.get(Kind.UNSUBSCRIBED, 0)
    not_sent = [
        Outcome(kind.value, reason, value, rate(value, audience))
        for kind in (Kind.FAILED, Kind.SKIPPED)
        for reason, value in breakdown(counters, kind).items()
    ]
    if unknown := counters.get(Kind.UNKNOWN):
        not_sent.append(Outcome("unknown", "", unknown, rate(unknown, audience)))
    return Funnel(
        audience=audience,
        steps=steps,
        clicks=clicks,
        revenue=[Revenue(currency, value) for currency, value in breakdown(counters, Kind.REVENUE).items()],
        unsubscribed=Step(
            "unsubscribed", _("Unsubscribed after it"), unsubscribed, of_sent=rate(unsubscribed, sent)
        ),
        not_sent=not_sent,
    )


# -- One campaign: reads and clicks per hour, clicks per button -----------------------------------


def series_start(campaign: Campaign) -> datetime | None:
    """The UTC hour sending started in: the first bucket of the time series."""
    if not campaign.started_at:
        return None
    return campaign.started_at.astimezone(dt_timezone.utc).replace(minute=0, second=0, microsecond=0)


def hourly(campaign: Campaign, counters: dict[str, int], hours: int = SERIES_HOURS) -> dict:
    """Reads and clicks per hour from ``read@<hour>`` / ``click@<hour>``, for the hours that have
    begun (a campaign sent an hour ago has one or two buckets, not 72 zeros)."""
    start = series_start(campaign)
    if start is None:
        return {"start": None, "reads": [], "clicks": []}
    elapsed = int((timezone.now() - start).total_seconds() // 3600) + 1
    buckets = [start + timedelta(hours=i) for i in range(max(0, min(hours, elapsed)))]
    return {
        "start": start,
        "reads": series(counters, Kind.READ, buckets),
        "clicks": series(counters, Kind.CLICKS, buckets),
    }


def url_buttons(message: dict) -> list[dict]:
    """A message's URL buttons in the order ``analytics.tracked_buttons`` numbers them."""
    return list(builders.url_buttons(message))


@dataclass
class ButtonClicks:
    number: int  # 1-based, as editors count them
    title: str
    urls: list[str]  # an A/B test's variants' n-th links, when they differ
    clicks: int
    share: float | None

    @property
    def share_display(self) -> str:
        return percent(self.share)


def sent_buttons(campaign: Campaign) -> list[dict]:
    """Each button number's button as sent (``campaign.message``). An A/B test counts its
    variants' n-th buttons together: their titles are joined ("Shop / See them") when they
    differ, and so are their links (``urls``)."""
    per_variant = [url_buttons(sent_message(campaign, variant) or {}) for variant in ("a", "b")]
    joined = []
    for n in range(max(map(len, per_variant))):
        found = [buttons[n] for buttons in per_variant if n < len(buttons)]
        titles = dict.fromkeys(button.get("title", "") for button in found)
        urls = dict.fromkeys(button.get("url", "") for button in found)
        joined.append({"title": " / ".join(titles), "urls": [url for url in urls if url]})
    return joined


def button_clicks(campaign: Campaign, counters: dict[str, int]) -> list[ButtonClicks]:
    """Clicks per URL button (``button:<n>``), titled as sent (``sent_buttons``)."""
    buttons = sent_buttons(campaign)
    counted = {int(n): value for n, value in breakdown(counters, Kind.BUTTON).items() if n.isdigit()}
    total = sum(counted.values())
    numbers = sorted(set(range(len(buttons))) | set(counted))
    return [
        ButtonClicks(
            number=n + 1,
            title=buttons[n].get("title", "") if n < len(buttons) else str(_("Button %(n)s") % {"n": n + 1}),
            urls=buttons[n]["urls"] if n < len(buttons) else [],
            clicks=counted.get(n, 0),
            share=rate(counted.get(n, 0), total),
        )
        for n in numbers
    ]


# -- All campaigns: their counters and rates, side by side -------------------------------------------

#: Counter → annotation (``…_count``: ``clicks`` and ``conversions`` are already relations).
COUNTERS = {
    Kind.SENT: "sent_count",
    Kind.DELIVERED: "delivered_count",
    Kind.READ: "read_count",
    Kind.UNIQUE_CLICKS: "clicked_count",
    Kind.CONVERSIONS: "conversions_count",
    Kind.UNSUBSCRIBED: "unsubscribed_count",
}


def counter(name: str):
    return Coalesce(
        Subquery(
            CampaignStat.objects.filter(campaign=OuterRef("pk"), name=name).values("value")[:1],
            output_field=BigIntegerField(),
        ),
        Value(0),
        output_field=BigIntegerField(),
    )


def share_of_sent(annotation: str):
    return Case(
        When(
            sent_count__gt=0,
            then=Cast(annotation, FloatField()) * Value(100.0) / Cast("sent_count", FloatField()),
        ),
        default=Value(None),
        output_field=FloatField(),
    )


def with_counters(queryset):
    """Campaigns annotated with their counters and rates (one subquery per counter on the
    ``(campaign, name)`` unique index), revenue counters prefetched as ``revenue_stats``."""
    return (
        queryset.annotate(**{annotation: counter(name) for name, annotation in COUNTERS.items()})
        .annotate(
            delivered_rate=share_of_sent("delivered_count"),
            read_rate=share_of_sent("read_count"),
            click_rate=share_of_sent("clicked_count"),
        )
        .prefetch_related(
            Prefetch(
                "stats",
                queryset=CampaignStat.objects.filter(name__startswith=prefix(Kind.REVENUE)).order_by("name"),
                to_attr="revenue_stats",
            )
        )
    )


def revenue_of(campaign) -> list[Revenue]:
    stats = {stat.name: stat.value for stat in getattr(campaign, "revenue_stats", [])}
    return [Revenue(currency, value) for currency, value in breakdown(stats, Kind.REVENUE).items()]


def revenue_text(campaign) -> str:
    return ", ".join(r.display for r in revenue_of(campaign)) or "—"


def revenue_currencies(campaigns) -> list[str]:
    """The currencies ``campaigns`` earned revenue in, sorted (one export column each)."""
    names = (
        CampaignStat.objects.filter(name__startswith=prefix(Kind.REVENUE), campaign__in=campaigns)
        .values_list("name", flat=True)
        .distinct()
    )
    return sorted({key_of(Kind.REVENUE, name) for name in names})
