"""Campaign analytics that stay exact: delivered and read from Meta's watermarks, tracked
clicks, attributed conversions, unsubscribes after a campaign, and what a paid campaign cost.

Every number is a maintained counter (``CampaignStat``) bumped by exactly the rows an event
changed: a ledger field is only ever set while empty (``… WHERE read_at IS NULL``, on rows locked
first), so a replayed, duplicated or reordered event can never count twice.
"""

from .clicks import (
    CLICK_SALT,
    button_urls,
    public_click_url,
    record_click,
    resolve_click,
    tracked_buttons,
    with_utm,
)
from .conversions import record_conversion, record_unsubscribe
from .receipts import (
    PaidReceipt,
    record_paid_clicks,
    record_paid_failures,
    record_paid_receipts,
    record_receipts,
)
from .spend import cost_of, refresh_insights
from .storage import bump, stats

__all__ = [
    "CLICK_SALT",
    "bump",
    "cost_of",
    "button_urls",
    "public_click_url",
    "record_click",
    "record_conversion",
    "record_paid_clicks",
    "record_paid_failures",
    "PaidReceipt",
    "record_paid_receipts",
    "record_receipts",
    "record_unsubscribe",
    "refresh_insights",
    "resolve_click",
    "stats",
    "tracked_buttons",
    "with_utm",
]
