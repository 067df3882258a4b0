"""What a campaign is credited with after people received it: their orders (attributed to the
last click, else the last read, within the account's windows) and their unsubscribes."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import conf
from ..models import Account, Click, Conversion, Delivery, Subscriber
from .counters import Kind, keyed
from .storage import bump


def record_conversion(
    *,
    account: Account,
    order_id: str,
    value: Decimal | str | float,
    currency: str,
    customer_ref: str = "",
    subscriber: Subscriber | None = None,
    at: datetime | None = None,
) -> Conversion:
    """Store an order of ``account``'s shop and attribute it, only ever to that account's
    subscribers and campaigns: the last click within the account's click window
    (``ATTRIBUTION_CLICK_DAYS`` by default), else (if enabled) the last read within its read
    window (``ATTRIBUTION_READ_DAYS``). Idempotent per account and ``order_id``: a retried order
    event is counted once, and another shop's order with the same id is another order."""
    if subscriber is not None and subscriber.page.account_id != account.pk:
        raise ValueError(f"Subscriber {subscriber.pk} is not of account {account.pk}.")
    at = at or timezone.now()
    value = Decimal(str(value)).quantize(Decimal("0.01"))
    currency = currency.upper()
    with transaction.atomic():
        conversion, created = Conversion.objects.get_or_create(
            account=account,
            order_id=order_id,
            defaults={"value": value, "currency": currency, "customer_ref": customer_ref, "at": at},
        )
        if not created:
            return conversion
        people = (
            [subscriber]
            if subscriber
            else list(Subscriber.objects.filter(page__account=account, customer_ref=customer_ref))
            if customer_ref
            else []
        )
        delivery, via = _attribute([p.pk for p in people], at)
        if delivery is not None:
            conversion.campaign_id, conversion.via = delivery.campaign_id, via
            conversion.subscriber_id, conversion.delivery = delivery.subscriber_id, delivery
            conversion.save(update_fields=["campaign", "via", "subscriber", "delivery"])
            bump(delivery.campaign_id, {Kind.CONVERSIONS: 1, keyed(Kind.REVENUE, currency): int(value * 100)})
        elif people:
            conversion.subscriber = people[0]
            conversion.save(update_fields=["subscriber"])
    return conversion


def _windows(subscriber_ids: list[int]) -> dict[tuple[int, int], list[int]]:
    """Subscribers grouped by their account's (click days, read days) attribution windows."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    rows = Subscriber.objects.filter(pk__in=subscriber_ids).values_list(
        "pk", "page__account__attribution_click_days", "page__account__attribution_read_days"
    )
    for pk, click_days, read_days in rows:
        click_days = conf.get("ATTRIBUTION_CLICK_DAYS") if click_days is None else click_days
        read_days = conf.get("ATTRIBUTION_READ_DAYS") if read_days is None else read_days
        groups[(click_days, read_days)].append(pk)
    return groups


def _attribute(subscriber_ids: list[int], at: datetime) -> tuple[Delivery | None, str]:
    """The last click within each subscriber's account's click window, else the last read
    within its read window (0 days: off)."""
    if not subscriber_ids:
        return None, ""
    windows = _windows(subscriber_ids)
    clicked, read = Q(pk__in=[]), Q(pk__in=[])
    for (click_days, read_days), ids in windows.items():
        clicked |= Q(subscriber_id__in=ids, at__gte=at - timedelta(days=click_days))
        if read_days:
            read |= Q(subscriber_id__in=ids, read_at__gte=at - timedelta(days=read_days))
    click = Click.objects.filter(clicked, at__lte=at).select_related("delivery").order_by("-at").first()
    if click:
        return click.delivery, Conversion.Via.CLICK
    last_read = Delivery.objects.filter(read, read_at__lte=at).order_by("-read_at").first()
    if last_read:
        return last_read, Conversion.Via.READ
    return None, ""


def record_unsubscribe(subscriber: Subscriber, at: datetime | None = None) -> None:
    """Count an unsubscribe against the last campaign the person received shortly before."""
    at = at or timezone.now()
    window = timedelta(days=conf.get("UNSUBSCRIBE_ATTRIBUTION_DAYS"))
    last = (
        Delivery.objects.filter(subscriber=subscriber, state=Delivery.State.SENT, sent_at__gte=at - window)
        .order_by("-sent_at")
        .values_list("campaign_id", flat=True)
        .first()
    )
    if last:
        bump(last, {Kind.UNSUBSCRIBED: 1})
