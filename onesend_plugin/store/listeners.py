"""Telling plugins about a processed store event: ``store_event_recorded(event)``, then the typed
hook of its kind (``order_placed``, ``order_fulfilled``, ``cart_abandoned``, else
``customer_event``) for every plugin but onesend's own recorder. Events from every source come
through here once, after commit, so a listener can neither undo nor block onesend's work. A
listener that raises is called again later (``retry_due``, from the tick), alone
(``hooks.listeners``)."""

from __future__ import annotations

from typing import Any

from ..hooks.listeners import MAX_ATTEMPTS, Only, call_listeners, retry_listeners
from ..models import StoreEvent
from . import tracking

__all__ = ["MAX_ATTEMPTS", "notify", "retry_due", "typed_call"]


def notify(event: StoreEvent, only: Only = None) -> None:
    """Call every listener (or ``only`` these ``(plugin, hook)`` pairs) once; one that raises
    is logged, named in the event's ``listener_errors`` and retried later, and does not keep
    the others from being called."""
    hook, arguments = typed_call(event)
    calls = [("store_event_recorded", {"event": event}), (hook, arguments)]
    call_listeners(StoreEvent, event.pk, event.listener_attempts, calls, only)


def retry_due() -> int:
    """Call the failed listeners of every event whose pause is over. Returns how many events
    were retried."""
    return retry_listeners(StoreEvent.objects.select_related("account"), notify)


def typed_call(event: StoreEvent) -> tuple[str, dict[str, Any]]:
    """The typed hook for ``event`` and its arguments, as store code would have called it."""
    props = event.properties
    common = {
        "customer_ref": event.customer_ref,
        "account": event.account,
        "at": event.occurred_at,
        "properties": props,
    }
    if event.name == tracking.ORDER_PLACED:
        order_id, value, currency = tracking.order_fields(props, event.idempotency_key)
        return "order_placed", {**common, "order_id": order_id, "value": value, "currency": currency}
    if event.name == "order_fulfilled":
        return "order_fulfilled", {**common, "order_id": str(props.get("order_id", ""))}
    if event.name == "cart_abandoned":
        details = {"cart_id": str(props.get("cart_id", "")), "value": props.get("value", "0")}
        return "cart_abandoned", {**common, **details, "currency": props.get("currency", "")}
    return "customer_event", {**common, "name": event.name, "idempotency_key": event.idempotency_key}
