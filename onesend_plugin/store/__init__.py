"""Store events: what customers do in the shop, and the automated flows it triggers.

Store code reports an event in one line (``onesend_plugin.track(...)``, a hook call such as
``plugins.order_placed(...)``, the signed HTTP endpoint, or Shopify's webhooks). The event is
stored once per idempotency key and processed by a worker: an order becomes an attributed
conversion, and every active flow whose trigger matches queues one message for that person —
in the same ledger, rate limiter and frequency cap as broadcasts, so a flow never breaks the cap
and never sends twice for the same event.
"""

from .flows import BUILTIN_TRIGGERS, CONDITIONS, matches, queue_flow_message, send_time, trigger_types
from .listeners import retry_due as retry_listeners
from .tracking import (
    MAX_PROPERTIES_DEPTH,
    ORDER_PLACED,
    StoreEventError,
    check_event,
    check_text,
    order_fields,
    process,
    reprocess,
    resolve_subscribers,
    track,
)
from .views import sign, signed_request

__all__ = [
    "BUILTIN_TRIGGERS",
    "CONDITIONS",
    "MAX_PROPERTIES_DEPTH",
    "ORDER_PLACED",
    "StoreEventError",
    "check_event",
    "check_text",
    "matches",
    "order_fields",
    "process",
    "queue_flow_message",
    "reprocess",
    "resolve_subscribers",
    "retry_listeners",
    "send_time",
    "sign",
    "signed_request",
    "track",
    "trigger_types",
]
