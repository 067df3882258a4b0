"""Telling plugins about a processed webhook event, once its batch is committed: what handling it
did to a subscriber (``subscriber_opted_in``, ``subscriber_unsubscribed``: the welcome or the
confirmation is queued by then), then ``webhook_event_processed``. A listener that raises is
named on the event (``WebhookEvent.listener_errors``) and called again alone by the tick
(``retry_due``, ``hooks.listeners``): the typed event parsed again from the stored payload, the
subscriber hook's arguments as they were (``WebhookEvent.listener_arguments``)."""

from __future__ import annotations

from typing import Any

from ..hooks.listeners import Call, Only, call_listeners, retry_listeners
from ..messenger import events as meta_events
from ..models import MessengerPage, Subscriber, WebhookEvent


def notify(
    pk: int,
    event: meta_events.MessagingEvent,
    page: MessengerPage,
    told: list[Call],
    attempts: int = 0,
    only: Only = None,
) -> None:
    """Call the listeners of the event ``pk``: ``told`` (the subscriber hooks its handling
    called for), then ``webhook_event_processed``; or, on a retry, ``only`` the failed ones."""
    calls = [*told, ("webhook_event_processed", {"event": event, "page": page})]
    call_listeners(WebhookEvent, pk, attempts, calls, only, listener_arguments=_stored(told))


def retry_due() -> int:
    """Call the failed listeners of every event whose pause is over. Returns how many events
    were retried."""
    return retry_listeners(WebhookEvent.objects.select_related("page"), _notify_again)


def _notify_again(row: WebhookEvent, only: set[tuple[str, str]]) -> None:
    event = meta_events.parse_item(row.payload, row.page_external_id, standby=row.standby)
    notify(row.pk, event, row.page, _restored(row.listener_arguments), row.listener_attempts, only)


def _stored(told: list[Call]) -> dict[str, dict[str, Any]]:
    """The subscriber hooks' arguments as a JSON column holds them: the subscriber by id."""
    return {hook: {**arguments, "subscriber": arguments["subscriber"].pk} for hook, arguments in told}


def _restored(stored: dict[str, dict[str, Any]]) -> list[Call]:
    """The calls ``_stored`` kept; one whose subscriber was erased since is not made."""
    subscribers = Subscriber.objects.in_bulk([arguments["subscriber"] for arguments in stored.values()])
    return [
        (hook, {**arguments, "subscriber": subscribers[arguments["subscriber"]]})
        for hook, arguments in stored.items()
        if arguments["subscriber"] in subscribers
    ]
