"""Store events: what customers do in the shop, and the automated flows it triggers.

Store code reports an event in one line (``onesend_plugin.track(...)``, a hook call such as
``plugins.order_placed(...)``, the signed HTTP endpoint, or Shopify's webhooks). The event is
stored once per idempotency key and processed by a worker: an order becomes an attributed
conversion, and every active flow whose trigger matches queues one message for that person —
in the same ledger, rate limiter and frequency cap as broadcasts, so a flow never breaks the cap
and never sends twice for the same event.
"""

from __future__ import annotations

import logging
import operator
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from . import analytics
from .hooks import plugins
from .models import Account, Campaign, Delivery, StoreEvent, Subscriber

logger = logging.getLogger(__name__)

ORDER_PLACED = "order_placed"
#: The events onesend knows; plugins add theirs with the ``trigger_types`` hook.
BUILTIN_TRIGGERS = [
    ("order_placed", "Order placed"),
    ("order_fulfilled", "Order fulfilled"),
    ("cart_abandoned", "Cart abandoned"),
]

CONDITIONS = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "contains": lambda a, b: b in a,
}


class StoreEventError(ValueError):
    """The event can't be accepted as given (the message says why)."""


def trigger_types() -> list[tuple[str, str]]:
    """Every event a flow can be triggered by: onesend's and the plugins'."""
    return BUILTIN_TRIGGERS + [pair for pairs in plugins.trigger_types() for pair in pairs]


def track(
    name: str,
    *,
    customer_ref: str,
    properties: dict[str, Any] | None = None,
    account: Account | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
    source: str = "api",
) -> StoreEvent:
    """Record a store event and queue its processing. Calling it again with the same
    ``idempotency_key`` returns the stored event and queues nothing (retries count once)."""
    if not name or not customer_ref:
        raise StoreEventError("An event needs a name and a customer reference.")
    account = account or _only_account()
    properties = properties or {}
    at = at or timezone.now()
    key = idempotency_key or f"{name}:{customer_ref}:{at.isoformat()}"
    try:
        with transaction.atomic():
            event = StoreEvent.objects.create(
                account=account,
                name=name,
                customer_ref=str(customer_ref)[:255],
                properties=properties,
                idempotency_key=key[:255],
                occurred_at=at,
                source=source,
            )
    except IntegrityError:
        return StoreEvent.objects.get(account=account, idempotency_key=key[:255])
    transaction.on_commit(lambda: async_task("onesend_plugin.tasks.process_store_event", event.pk))
    return event


def _only_account() -> Account:
    accounts = list(Account.objects.all()[:2])
    if len(accounts) != 1:
        raise StoreEventError("Several accounts exist: say which one the event belongs to.")
    return accounts[0]


def resolve_subscribers(account: Account, customer_ref: str) -> list[Subscriber]:
    """The account's subscribers that are this customer: a plugin's own lookup first (the
    ``resolve_subscriber`` hook, first result wins), else the identity link made at opt-in."""
    found = plugins.resolve_subscriber(account=account, customer_ref=customer_ref)
    if found is not None:
        return [found]
    return list(Subscriber.objects.filter(page__account=account, customer_ref=customer_ref))


def process(event_id: int) -> None:
    """Turn a stored event into its effects (idempotent: a processed event is left alone)."""
    event = StoreEvent.objects.select_related("account").get(pk=event_id)
    if event.state == StoreEvent.State.PROCESSED:
        return
    people = resolve_subscribers(event.account, event.customer_ref)
    if event.name == ORDER_PLACED:
        _record_order(event, people)
    for flow in Campaign.objects.filter(
        page__account=event.account, trigger_event=event.name, status=Campaign.Status.RUNNING
    ).select_related("page", "page__account"):
        for subscriber in people:
            if subscriber.page_id == flow.page_id and matches(flow.trigger_conditions, event.properties):
                queue_flow_message(flow, subscriber, event)
    StoreEvent.objects.filter(pk=event.pk).update(state=StoreEvent.State.PROCESSED)


def _record_order(event: StoreEvent, people: list[Subscriber]) -> None:
    props = event.properties
    try:
        value = Decimal(str(props.get("value", "0")))
    except InvalidOperation as exc:
        raise StoreEventError(f"Order value {props.get('value')!r} is not a number.") from exc
    analytics.record_conversion(
        order_id=str(props.get("order_id") or event.idempotency_key),
        value=value,
        currency=str(props.get("currency") or "EUR"),
        customer_ref=event.customer_ref,
        subscriber=people[0] if len(people) == 1 else None,
        at=event.occurred_at,
    )


def matches(conditions: list[dict], properties: dict) -> bool:
    """Whether an event's properties satisfy all of a flow's conditions."""
    for condition in conditions or ():
        compare = CONDITIONS.get(condition.get("op", "="))
        actual, expected = properties.get(condition.get("property")), condition.get("value")
        if compare is None or actual is None:
            return False
        try:
            if isinstance(expected, int | float) and not isinstance(expected, bool):
                actual = float(actual)
            if not compare(actual, expected):
                return False
        except (TypeError, ValueError):
            return False
    return True


def queue_flow_message(flow: Campaign, subscriber: Subscriber, event: StoreEvent) -> bool:
    """One ledger row for this person and this event (unique in the database: the same event
    arriving twice queues one message), due after the flow's delay."""
    due = send_time(flow, subscriber, event.occurred_at)
    _, created = Delivery.objects.get_or_create(
        campaign=flow,
        subscriber=subscriber,
        trigger_key=event.idempotency_key[:100],
        defaults={"page": flow.page, "psid": subscriber.psid, "not_before": due},
    )
    if created:
        from .broadcast import schedule_run

        Campaign.objects.filter(pk=flow.pk).update(audience_size=flow.deliveries.count())
        schedule_run(flow.pk, after=max(0.0, (due - timezone.now()).total_seconds()))
    return created


def send_time(flow: Campaign, subscriber: Subscriber, occurred_at: datetime) -> datetime:
    """The event time plus the delay, then the next ``local_send_time`` in the person's zone."""
    from .broadcast import _zone

    due = occurred_at + timedelta(minutes=flow.delay_minutes)
    if flow.local_send_time is None:
        return due
    local = timezone.localtime(due, _zone(subscriber.timezone, _zone(flow.page.account.timezone)))
    candidate = local.replace(
        hour=flow.local_send_time.hour, minute=flow.local_send_time.minute, second=0, microsecond=0
    )
    return candidate if candidate >= local else candidate + timedelta(days=1)


def exited(flow: Campaign, row: Delivery) -> bool:
    """Whether the person did one of the flow's exit events after the triggering one (e.g. they
    bought the cart a reminder was queued for): checked just before sending."""
    names = [name.strip() for name in flow.exit_events.split(",") if name.strip()]
    if not names or row.subscriber is None:
        return False
    trigger = StoreEvent.objects.filter(
        account_id=flow.page.account_id, idempotency_key=row.trigger_key
    ).first()
    since = trigger.occurred_at if trigger else row.not_before
    # The trigger's customer: a plugin may have resolved the person without an identity link.
    customer = trigger.customer_ref if trigger else row.subscriber.customer_ref
    return StoreEvent.objects.filter(
        account_id=flow.page.account_id,
        customer_ref=customer,
        name__in=names,
        occurred_at__gt=since,
    ).exists()
