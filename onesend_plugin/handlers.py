"""What onesend does with each kind of webhook event (called inside a transaction, once per
distinct event). The subscribe, broadcast and analytics features add their handlers here."""

from __future__ import annotations

from collections.abc import Callable

from .messenger import events as meta_events
from .models import MessengerPage, Subscriber

# Events the person caused: they open (or keep open) Meta's 24 h standard messaging window.
INTERACTION_KINDS = {"message", "postback", "referral"}


def handle(event: meta_events.MessagingEvent, page: MessengerPage) -> None:
    if event.kind in INTERACTION_KINDS and event.psid and event.timestamp:
        Subscriber.objects.filter(page=page, psid=event.psid).update(last_interaction_at=event.timestamp)
    handler = HANDLERS.get(event.kind)
    if handler:
        handler(event, page)


HANDLERS: dict[str, Callable[[meta_events.MessagingEvent, MessengerPage], None]] = {}
