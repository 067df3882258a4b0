"""How a per-person Page's audience divides between channels (``routing``), counted in the
database: the confirm step shows it before sending, and the start creates the paid API's message
campaign only when someone may need it. One grouped query: people are counted by what routing
reads of them (window, token, timezone, region refused), a few dozen groups for any audience."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.utils import timezone

from ..messenger.client import DeliveryEstimate
from ..models import STANDARD_WINDOW, Channel, MarketingToken, MessengerPage, Subscriber
from . import channels, routing


@dataclass
class Split:
    """People per channel (``Channel`` values) and people skipped per reason (``analytics.reasons`` words them)."""

    channels: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.channels.values()) + sum(self.skipped.values())


def split(page: MessengerPage, people: QuerySet[Subscriber]) -> Split:
    """How ``people`` would be reached if the campaign started now (paid: if the Page can send
    paid messages, ``channels.paid_usable``)."""
    options = routing.Options(legacy=routing.legacy_allowed(page.country), paid=channels.paid_usable(page))
    result = Split()
    for person, count in _groups(people):
        decision = routing.route(person, options)
        if decision.channel:
            result.channels[decision.channel] += count
        else:
            result.skipped[decision.reason] += count
    return result


def estimated_cost(paid: int, estimate: DeliveryEstimate | None) -> tuple[int, int] | None:
    """What ``paid`` messages would cost, low and high, in the ad account currency's smallest unit:
    Meta's estimated cost per message (its delivery estimate's cost over its reach, Send Messages
    on Marketing Message API for Messenger, "Delivery estimate") times our paid count, as Meta
    estimates for everyone it could reach, not for the people routing sends paid. (0, 0) without
    paid messages; None when Meta gave no usable estimate."""
    if not paid:
        return 0, 0
    if estimate is None or not estimate.delivery_lower or not estimate.delivery_upper:
        return None
    low = round(paid * estimate.cost_lower / estimate.delivery_lower)
    high = round(paid * estimate.cost_upper / estimate.delivery_upper)
    return min(low, high), max(low, high)


def paid_needed(page: MessengerPage, people: QuerySet[Subscriber]) -> bool:
    """Whether anyone in ``people`` may be sent a paid message during the campaign: routed to paid
    once their 24 h window has closed (windows close while a campaign runs; they open only when a
    person writes, who then gets the free message)."""
    if not channels.paid_usable(page):
        return False
    options = routing.Options(legacy=False, paid=True)
    return any(
        routing.route(
            routing.Person(False, person.has_token, person.timezone, person.region_refused), options
        ).channel
        == Channel.MARKETING_API
        for person, _ in _groups(people)
    )


def _groups(people: QuerySet[Subscriber]) -> Iterator[tuple[routing.Person, int]]:
    """``people`` counted by what routing reads of each, in one grouped query."""
    token = MarketingToken.objects.filter(subscriber=OuterRef("pk"), status=MarketingToken.Status.ACTIVE)
    since = timezone.now() - STANDARD_WINDOW
    rows = (
        people.order_by()
        .annotate(
            in_window=ExpressionWrapper(Q(last_interaction_at__gt=since), output_field=BooleanField()),
            has_token=Exists(token),
            refused=ExpressionWrapper(Q(paid_region_refused_at__isnull=False), output_field=BooleanField()),
        )
        .values("in_window", "has_token", "timezone", "refused")
        .annotate(people=Count("pk"))
    )
    for row in rows:
        person = routing.Person(
            in_window=bool(row["in_window"]),
            has_token=bool(row["has_token"]),
            timezone=row["timezone"],
            region_refused=bool(row["refused"]),
        )
        yield person, row["people"]
