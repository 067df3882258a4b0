"""Telling plugins about a processed store event: ``store_event_recorded(event)``, then the typed
hook of its kind (``order_placed``, ``order_fulfilled``, ``cart_abandoned``, else
``customer_event``) for every plugin but onesend's own recorder. Events from every source come
through here once, after commit, so a listener can neither undo nor block onesend's work."""

from __future__ import annotations

import logging
from typing import Any

from ..hooks import plugins
from ..models import StoreEvent
from . import tracking

logger = logging.getLogger(__name__)


def notify(event: StoreEvent) -> None:
    """Call every listener once; one that raises is logged, named in the event's
    ``listener_errors``, and does not keep the others from being called."""
    hook, arguments = typed_call(event)
    failures = _call_each("store_event_recorded", {"event": event}) + _call_each(hook, arguments)
    if failures:
        StoreEvent.objects.filter(pk=event.pk).update(listener_errors="\n".join(failures)[:2000])


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


def _call_each(hook: str, arguments: dict[str, Any]) -> list[str]:
    """Call each listener of ``hook`` with the arguments it accepts; the failures, one line each."""
    failures = []
    for impl in plugins.listeners(hook):
        accepted = {name: arguments[name] for name in (*impl.argnames, *impl.kwargnames) if name in arguments}
        try:
            impl.function(**accepted)
        except Exception as exc:
            logger.exception("The plugin %r failed in %s", impl.plugin_name, hook)
            failures.append(f"{impl.plugin_name} in {hook}: {exc!r}")
    return failures
