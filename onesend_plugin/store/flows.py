"""Flows: campaigns a store event triggers. Which events can trigger one, whether an event meets a
flow's conditions, and when its message is due (the broadcast engine sends it, and skips it if
the person has left the flow since: ``broadcast.recipients.exited``)."""

from __future__ import annotations

import operator
from datetime import datetime, timedelta

from django.utils import timezone

from ..broadcast.runner import schedule_run
from ..broadcast.timing import zone
from ..hooks import plugins
from ..models import Campaign, Delivery, StoreEvent, Subscriber

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


def trigger_types() -> list[tuple[str, str]]:
    """Every event a flow can be triggered by: onesend's and the plugins'."""
    return BUILTIN_TRIGGERS + [pair for pairs in plugins.trigger_types() for pair in pairs]


def trigger(event: StoreEvent, people: list[Subscriber]) -> None:
    """Queue a message from every running flow of the event's account that it triggers, for each
    of these people on the flow's Page."""
    for flow in Campaign.objects.filter(
        page__account=event.account, trigger_event=event.name, status=Campaign.Status.RUNNING
    ).select_related("page", "page__account"):
        for subscriber in people:
            if subscriber.page_id == flow.page_id and matches(flow.trigger_conditions, event.properties):
                queue_flow_message(flow, subscriber, event)


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
        Campaign.objects.filter(pk=flow.pk).update(audience_size=flow.deliveries.count())
        schedule_run(flow.pk, after=max(0.0, (due - timezone.now()).total_seconds()))
    return created


def send_time(flow: Campaign, subscriber: Subscriber, occurred_at: datetime) -> datetime:
    """The event time plus the delay, then the next ``local_send_time`` in the person's zone."""
    due = occurred_at + timedelta(minutes=flow.delay_minutes)
    if flow.local_send_time is None:
        return due
    local = timezone.localtime(due, zone(subscriber.timezone, zone(flow.page.account.timezone)))
    candidate = local.replace(
        hour=flow.local_send_time.hour, minute=flow.local_send_time.minute, second=0, microsecond=0
    )
    return candidate if candidate >= local else candidate + timedelta(days=1)
