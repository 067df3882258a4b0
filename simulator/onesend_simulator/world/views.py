"""What the control API and the web UI show: Pages, people with their threads, users, the send
log and the counters, as JSON-ready dicts.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..model import (
    Page,
    Person,
    User,
)
from .base import WorldState


class ViewsMixin(WorldState):
    """JSON views for the control API and the web UI (a part of ``World``)."""

    def page_view(self, page: Page) -> dict[str, Any]:
        return asdict(page)

    def person_view(self, person: Person, full: bool = False) -> dict[str, Any]:
        window_end = person.last_interaction_ms + int(self.config.window_seconds * 1000)
        cooldown_end = person.last_marketing_ms + int(self.config.cooldown_seconds * 1000)
        view: dict[str, Any] = {
            "psid": person.psid,
            "page_id": person.page_id,
            "page_name": self.pages[person.page_id].name,
            "name": person.name,
            "country": person.country,
            "contacted": person.contacted,
            # A new thread's welcome screen shows the Page's Get Started button, if it has one.
            "get_started_button": not person.contacted and bool(self.pages[person.page_id].get_started),
            "blocked": person.blocked,
            "window_open": self.window_open(person),
            "window_expires_at": window_end if person.last_interaction_ms else None,
            "last_marketing_at": person.last_marketing_ms or None,
            "next_eligible_at": cooldown_end if person.last_marketing_ms else None,
            "delivered_watermark": person.delivered_watermark,
            "read_watermark": person.read_watermark,
        }
        if full:
            view["thread"] = [self._item_view(person, item) for item in person.thread]
            view["tokens"] = [
                {
                    **self.token_fields(self.tokens[t]),
                    "payload": self.tokens[t].payload,
                    "stopped": self.tokens[t].stopped,
                }
                for t in person.tokens
            ]
        return view

    @staticmethod
    def _item_view(person: Person, item: dict[str, Any]) -> dict[str, Any]:
        if item["direction"] != "page":
            return item
        stamp = item["timestamp"]
        if "tracking_id" in item:  # paid: its own marketing_message_* receipts, and labelled
            return {**item, "status": _paid_status(item), "sponsored": True}
        status = (
            "read"
            if stamp < person.read_watermark
            else "delivered"
            if stamp < person.delivered_watermark
            else "sent"
        )
        return {**item, "status": status}

    def user_view(self, user: User) -> dict[str, Any]:
        return asdict(user)

    def messages(self, page_id: str | None = None, psid: str | None = None) -> list[dict[str, Any]]:
        """Every accepted send, oldest first (for no-double-send assertions)."""
        return [
            {
                "page_id": self.people[owner].page_id,
                "psid": owner,
                **self._item_view(self.people[owner], item),
            }
            for owner, item in self.sent
            if (psid is None or owner == psid) and (page_id is None or self.people[owner].page_id == page_id)
        ]

    def stats(self) -> dict[str, Any]:
        return {
            "send": {"accepted": self.accepted, "rejected": dict(self.rejected)},
            "ad_accounts": self.ad_account_spend(),
            "cooldown_skips": self.rejected.get("4/2018354", 0),
            "attachments": len(self.attachments),
            "pages": {
                page_id: {"max_calls_per_second": {"text": rates.text.peak, "media": rates.media.peak}}
                for page_id, rates in self._rates.items()
            },
        }


def _paid_status(item: dict[str, Any]) -> str:
    if item.get("delivery_failed"):
        return "failed"
    return "read" if item.get("paid_read") else "delivered" if item.get("paid_delivered") else "sent"
