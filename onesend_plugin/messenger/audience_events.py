"""The ``marketing_messages_subscriber_upload_status`` webhook: Meta has matched a batch of a
Custom Audience upload (Send Messages on Marketing Message API for Messenger, "Webhooks"; Grow
your Audience, step 4; reference ``meta-paid-marketing-api.md`` §5.2, §7.1).

Meta shows the event as a flat object and documents no envelope, so, as for the paid receipts
(:func:`.events._paid_body`), both a ``changes`` item ``{"field", "value"}`` and the flat object
with its ``field`` are read. Registered with :data:`.events.ITEM_PARSERS` on import (the package
imports this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .events import ITEM_PARSERS, MessagingEvent, parse_timestamp

FIELD = "marketing_messages_subscriber_upload_status"


@dataclass(frozen=True, kw_only=True)
class UploadStatusEvent(MessagingEvent):
    """How a batch of an upload went: ``status`` is Meta's ``batch_uploading_status`` (its
    sample shows ``SUCCESS``; no other value is documented), ``rows`` its ``num_rows``,
    ``matched_low``/``matched_high`` the approximate count of people matched."""

    kind: str = "audience_upload"
    audience_id: str
    ad_account_id: str
    status: str
    rows: int
    matched_low: int
    matched_high: int

    def _identity(self) -> tuple[Any, ...]:
        return (self.kind, self.page_id, self.audience_id, self.rows, self.timestamp)


def parse_upload_status(item: dict[str, Any], entry_page_id: str) -> UploadStatusEvent | None:
    """The event, None for any other item; a malformed body raises (``parse_item`` then keeps it
    as an unknown event)."""
    if item.get("field") != FIELD:
        return None
    value = item.get("value")
    body = value if isinstance(value, dict) else item
    return UploadStatusEvent(
        page_id=entry_page_id or str(body["page_id"]),
        psid="",
        timestamp=parse_timestamp(body.get("timestamp")),
        raw=item,
        audience_id=str(body["custom_audience_id"]),
        ad_account_id=str(body.get("ad_account_id") or ""),
        status=str(body.get("batch_uploading_status") or ""),
        rows=int(body.get("num_rows") or 0),
        matched_low=int(body.get("approximate_count_lower_bound") or 0),
        matched_high=int(body.get("approximate_count_upper_bound") or 0),
    )


ITEM_PARSERS.append(parse_upload_status)
