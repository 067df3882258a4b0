"""Telling plugins about a processed store event: ``store_event_recorded(event)``, then the typed
hook of its kind (``order_placed``, ``order_fulfilled``, ``cart_abandoned``, else
``customer_event``) for every plugin but onesend's own recorder. Events from every source come
through here once, after commit, so a listener can neither undo nor block onesend's work. A
listener that raises is called again later (``retry_due``, from the tick), alone."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.utils import timezone

from ..hooks import plugins
from ..hooks.manager import PluginError, call_one
from ..models import StoreEvent
from . import tracking

logger = logging.getLogger(__name__)


#: A failed listener is called again after this pause, doubled each time, until it has been
#: called this many times in all; its last error stays on the event.
FIRST_PAUSE_SECONDS = 60
MAX_ATTEMPTS = 5

Failure = tuple[str, str, str]  # plugin, hook, error


def notify(event: StoreEvent, only: set[tuple[str, str]] | None = None) -> None:
    """Call every listener (or ``only`` these ``(plugin, hook)`` pairs) once; one that raises
    is logged, named in the event's ``listener_errors`` and retried later, and does not keep
    the others from being called."""
    hook, arguments = typed_call(event)
    failed = _call_each("store_event_recorded", {"event": event}, only) + _call_each(hook, arguments, only)
    if failed or only is not None:
        attempts = event.listener_attempts + (1 if failed else 0)
        StoreEvent.objects.filter(pk=event.pk).update(**_outcome(attempts, failed))


def retry_due() -> int:
    """Call the failed listeners of every event whose pause is over, each event claimed first
    (two ticks can't call them twice). Returns how many events were retried."""
    retried = 0
    for event in StoreEvent.objects.filter(listeners_next_attempt_at__lte=timezone.now()).select_related(
        "account"
    ):
        claim = StoreEvent.objects.filter(
            pk=event.pk, listeners_next_attempt_at=event.listeners_next_attempt_at
        )
        if claim.update(listeners_next_attempt_at=None):
            notify(event, only={(plugin, hook) for plugin, hook in event.listeners_retry})
            retried += 1
    return retried


def _outcome(attempts: int, failed: list[Failure]) -> dict[str, Any]:
    """The event's listener columns after a round: what failed, and when to call it again."""
    again = bool(failed) and attempts < MAX_ATTEMPTS
    pause = timedelta(seconds=FIRST_PAUSE_SECONDS * 2 ** (attempts - 1))
    return {
        "listener_errors": "\n".join(f"{plugin} in {hook}: {error}" for plugin, hook, error in failed)[:2000],
        "listener_attempts": attempts,
        "listeners_retry": [[plugin, hook] for plugin, hook, _ in failed] if again else [],
        "listeners_next_attempt_at": timezone.now() + pause if again else None,
    }


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


def _call_each(hook: str, arguments: dict[str, Any], only: set[tuple[str, str]] | None) -> list[Failure]:
    """Call each listener of ``hook`` (of ``only``, if given) with the arguments it accepts."""
    failed = []
    for impl in plugins.listeners(hook):
        if only is not None and (impl.plugin_name, hook) not in only:
            continue
        try:
            call_one(hook, impl, arguments)
        except PluginError as exc:
            logger.exception("The plugin %r failed in %s", exc.plugin, hook)
            failed.append((exc.plugin, hook, repr(exc.error)))
    return failed
