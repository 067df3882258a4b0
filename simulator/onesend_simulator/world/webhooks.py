"""Webhooks out: the ``messaging`` events the world produces, handed to the sink (the server's
emitter) when the Page's app subscribed to their field
(https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks).
"""

from __future__ import annotations

from typing import Any

from ..model import (
    Person,
)
from .base import WorldState


class WebhooksMixin(WorldState):
    """The webhook events out (a part of ``World``)."""

    def _emit(self, page_id: str, field_name: str, event: dict[str, Any], delay: float = 0.0) -> None:
        """Hand an event to the sink if the Page's app subscribed to its webhook field."""
        if field_name in self.pages[page_id].subscribed_fields:
            self.sink(page_id, event, delay, "messaging")

    def _emit_paid(self, page_id: str, field_name: str, body: dict[str, Any], delay: float = 0.0) -> None:
        """A ``marketing_message_*`` event (Send Messages on Marketing Message API for Messenger,
        "Webhooks"). Meta shows each as a flat object and documents no envelope, so
        ``paid_webhook_envelope`` picks one: Graph's ``changes`` (``{"field", "value"}``, Webhooks
        from Meta) or Messenger's ``messaging`` (the flat object as Meta shows it: with its
        ``field``, except ``marketing_message_delivery_failed``, whose sample has none)."""
        if field_name not in self.pages[page_id].subscribed_fields:
            return
        if self.config.paid_webhook_envelope == "changes":
            self.sink(page_id, {"field": field_name, "value": body}, delay, "changes")
        elif field_name == "marketing_message_delivery_failed":
            self.sink(page_id, body, delay, "messaging")
        else:
            self.sink(page_id, {"field": field_name, **body}, delay, "messaging")

    @staticmethod
    def _from_person(person: Person, stamp: int | None, key: str, value: dict[str, Any]) -> dict[str, Any]:
        event: dict[str, Any] = {"sender": {"id": person.psid}, "recipient": {"id": person.page_id}}
        if stamp is not None:
            event["timestamp"] = stamp
        event[key] = value
        return event

    @staticmethod
    def _from_page(person: Person, stamp: int, key: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "sender": {"id": person.page_id},
            "recipient": {"id": person.psid},
            "timestamp": stamp,
            key: value,
        }
