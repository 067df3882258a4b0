"""Typed Messenger webhook events (in the spirit of django-anymail's normalized events).

:func:`parse_payload` turns one webhook POST body into a flat list of frozen event objects, one
per ``entry[].messaging[]`` / ``entry[].standby[]`` item. It never raises on odd items: Meta
changes shapes, batches unrelated fields and retries, and one strange item must not make us
drop (and Meta redeliver) the whole POST. Anything we cannot type becomes an :class:`UnknownEvent`
that keeps the raw item.

Meta delivers at least once and out of order, so every event has a :attr:`~MessagingEvent.dedupe_key`
built from the fields that identify it (reference §3.4).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, Literal

# Epoch values above this are milliseconds: 1e11 s is the year 5138, 1e11 ms is 1973.
_MS_THRESHOLD = 10**11


class MalformedPayload(ValueError):
    """The POST body is not a Messenger webhook at all (not ``{"object": "page", "entry": [...]}``)."""


def parse_timestamp(value: Any) -> datetime | None:
    """An epoch timestamp in seconds *or* milliseconds (Meta uses both) as an aware UTC datetime.

    Returns None for anything that is not a usable number, so callers can treat it as absent.
    """
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
        if seconds >= _MS_THRESHOLD:
            seconds /= 1000
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@dataclass(frozen=True, kw_only=True)
class MessagingEvent:
    """Fields every event has. ``psid`` is the person's Page-scoped id ("" for plugin events that only
    carry a ``user_ref``); ``standby`` is True for events from ``entry[].standby`` (another app owns
    the thread), which must not trigger replies."""

    kind: str
    page_id: str
    psid: str
    timestamp: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    standby: bool = False

    @cached_property  # a batch asks several times
    def dedupe_key(self) -> str:
        """sha256 hex of what identifies this event, stable across Meta's redeliveries."""
        identity = self._identity()
        parts = identity if identity is not None else ("raw", self.page_id, self.raw)
        canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def _identity(self) -> tuple[Any, ...] | None:
        """The identifying fields, or None to identify the event by its whole raw item."""
        return None


@dataclass(frozen=True, kw_only=True)
class Referral:
    """Where a person came from: m.me link / QR code (``SHORTLINK``), ad (``ADS``) or chat plugin."""

    ref: str | None
    source: str | None
    referral_type: str | None
    ad_id: str | None


@dataclass(frozen=True, kw_only=True)
class ReferralEvent(MessagingEvent, Referral):
    """An existing thread was opened through an m.me link, QR code or ad (``messaging_referrals``)."""

    kind: str = "referral"

    def _identity(self) -> tuple[Any, ...]:
        return (self.kind, self.page_id, self.psid, self.timestamp, self.ref)


@dataclass(frozen=True, kw_only=True)
class PostbackEvent(MessagingEvent):
    """A button tap; ``referral`` is set on Get Started from an m.me link / QR code / ad."""

    kind: str = "postback"
    mid: str | None
    title: str | None
    payload: str | None
    referral: Referral | None

    def _identity(self) -> tuple[Any, ...] | None:
        # Older postbacks have no mid; identify those by their raw item rather than collide.
        return (self.kind, self.page_id, self.mid) if self.mid else None


OptinStatus = Literal["stop", "resume"]


@dataclass(frozen=True, kw_only=True)
class OptinEvent(MessagingEvent):
    """``messaging_optins``: a marketing-messages opt-in (kind ``optin``) carrying a token, or a
    stop/resume of that topic (``status`` set). Kind ``plugin_optin`` is a Send-to-Messenger
    plugin opt-in (``ref`` set, maybe no PSID), which onesend ignores.

    ``token`` may be None on stop/resume events if Meta omits it; match by ``title`` then.
    """

    kind: str = "optin"
    optin_type: str | None
    token: str | None
    title: str | None
    payload: str | None
    timezone: str | None
    token_expires_at: datetime | None
    token_status: str | None
    status: OptinStatus | None
    ref: str | None = None

    def _identity(self) -> tuple[Any, ...]:
        return (self.kind, self.page_id, self.psid, self.token, self.status, self.timestamp)


@dataclass(frozen=True, kw_only=True)
class DeliveryEvent(MessagingEvent):
    """Everything sent to ``psid`` before ``watermark`` was delivered; ``mids`` is only sometimes given."""

    kind: str = "delivery"
    mids: tuple[str, ...]
    watermark: datetime

    def _identity(self) -> tuple[Any, ...]:
        return (self.kind, self.page_id, self.psid, self.watermark)


@dataclass(frozen=True, kw_only=True)
class ReadEvent(MessagingEvent):
    """Everything sent to ``psid`` at or before ``watermark`` was read (no message ids)."""

    kind: str = "read"
    watermark: datetime

    def _identity(self) -> tuple[Any, ...]:
        return (self.kind, self.page_id, self.psid, self.watermark)


@dataclass(frozen=True, kw_only=True)
class MessageEvent(MessagingEvent):
    """A message from the person (text, quick-reply tap and/or attachments)."""

    kind: str = "message"
    mid: str
    text: str | None
    quick_reply_payload: str | None
    attachments: tuple[dict[str, Any], ...]

    def _identity(self) -> tuple[Any, ...]:
        return (self.kind, self.page_id, self.mid)


@dataclass(frozen=True, kw_only=True)
class EchoEvent(MessagingEvent):
    """Echo of a message the Page sent (``message_echoes``); ``psid`` is the person it went to."""

    kind: str = "echo"
    mid: str
    text: str | None
    app_id: str | None
    metadata: str | None

    def _identity(self) -> tuple[Any, ...]:
        return (self.kind, self.page_id, self.mid)


@dataclass(frozen=True, kw_only=True)
class ReactionEvent(MessagingEvent):
    """The person reacted to (``action`` "react") or un-reacted from ("unreact") message ``mid``."""

    kind: str = "reaction"
    mid: str
    action: str | None
    reaction: str | None
    emoji: str | None

    def _identity(self) -> tuple[Any, ...]:
        return (self.kind, self.page_id, self.psid, self.mid, self.action, self.timestamp)


#: ``marketing_message_*`` webhook fields of the paid Marketing Messages API -> event kind.
PAID_KINDS = {
    "marketing_message_echoes": "paid_sent",
    "marketing_message_deliveries": "paid_delivery",
    "marketing_message_reads": "paid_read",
    "marketing_message_clicks": "paid_click",
    "marketing_message_delivery_failed": "paid_failed",
}


@dataclass(frozen=True, kw_only=True)
class PaidEvent(MessagingEvent):
    """A ``marketing_message_*`` webhook (Send Messages on Marketing Message API for Messenger,
    "Webhooks"): kind ``paid_sent``, ``paid_delivery``, ``paid_read``, ``paid_click`` or
    ``paid_failed``. ``tracking_id`` is the send's ``marketing_message_tracking_id``; clicks and
    delivery failures have none, Meta's page says to match them by ``token`` and ``campaign_id``
    (its ``message_id``). ``psid`` is "" when Meta hides it (Custom Audience subscribers)."""

    tracking_id: str | None
    token: str | None
    campaign_id: str | None
    mid: str | None
    error_message: str | None

    def _identity(self) -> tuple[Any, ...]:
        return (self.kind, self.page_id, self.tracking_id, self.token, self.campaign_id, self.timestamp)


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(MessagingEvent):
    """Anything else (other webhook fields, malformed items); ``raw`` holds the item as received."""

    kind: str = "unknown"


def parse_payload(data: Any) -> list[MessagingEvent]:
    """All events of a webhook POST body, over every entry (possibly several Pages) and item.

    Raises :class:`MalformedPayload` only if ``data`` is not a Page webhook at all.
    """
    if not isinstance(data, dict) or data.get("object") != "page" or not isinstance(data.get("entry"), list):
        raise MalformedPayload("not a Messenger webhook: expected {'object': 'page', 'entry': [...]}")
    events: list[MessagingEvent] = []
    for entry in data["entry"]:
        entry_page_id = _id(entry)
        fields = entry if isinstance(entry, dict) else {}
        keys = ("messaging", "standby", "changes")  # changes: Graph's envelope, for paid receipts
        lists = [(key, fields[key]) for key in keys if isinstance(fields.get(key), list)]
        if not lists:  # not a messaging entry, or garbage
            events.append(_unknown(entry, entry_page_id, standby=False))
        for key, items in lists:
            events.extend(parse_item(item, entry_page_id, standby=key == "standby") for item in items)
    return events


#: Parsers of the events other modules define (``.audience_events``): each returns its event for
#: an item of its kind, else None.
ITEM_PARSERS: list[Callable[[dict[str, Any], str], MessagingEvent | None]] = []


def parse_item(item: Any, entry_page_id: str, *, standby: bool = False) -> MessagingEvent:
    """One ``messaging[]`` (or ``standby[]``) item of an entry; never raises."""
    # Parsers index required fields with [] and let KeyError/TypeError/ValueError/AttributeError
    # escape; catching them here is what turns any malformed item into an UnknownEvent.
    try:
        extra = next((e for e in (parse(item, entry_page_id) for parse in ITEM_PARSERS) if e), None)
        if extra is not None:
            return extra
        paid = _paid_body(item)
        if paid is not None:
            return _paid(*paid, item, entry_page_id)
        echo = bool(item.get("message", {}).get("is_echo"))
        user_side, page_side = ("recipient", "sender") if echo else ("sender", "recipient")
        key = next((key for key in _PARSERS if key in item), None)
        if key is None:
            return _unknown(item, entry_page_id, standby=standby)
        common = {
            "page_id": entry_page_id or _id(item.get(page_side)),
            "psid": _id(item.get(user_side)),
            "timestamp": parse_timestamp(item.get("timestamp")),
            "raw": item,
            "standby": standby,
        }
        event = _PARSERS[key](item[key], common)
        if not event.psid and event.kind != "plugin_optin":
            raise ValueError("event without a PSID")
        return event
    except (KeyError, TypeError, ValueError, AttributeError):
        return _unknown(item, entry_page_id, standby=standby)


def _paid_body(item: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(field, event body) of a ``marketing_message_*`` item, None for any other item. Meta shows
    these events as flat objects and documents no envelope (Send Messages, "Webhooks"), so each
    form is accepted: a ``changes`` item ``{"field", "value"}``, a flat object with its ``field``,
    and the delivery failure as Meta's sample shows it, without ``field``."""
    field_name = item.get("field")
    if field_name in PAID_KINDS:
        value = item.get("value")
        return field_name, value if isinstance(value, dict) else item
    if "error_message" in item and "messenger_subscription_token" in item:
        return "marketing_message_delivery_failed", item
    return None


def _paid(field_name: str, body: dict[str, Any], item: dict[str, Any], entry_page_id: str) -> PaidEvent:
    """Ids may come as numbers (Meta's samples) or strings; a ``recipient_id`` of null or 0
    (changelog 2026-01-22) means Meta hid the person."""
    recipient = body.get("recipient_id")
    return PaidEvent(
        kind=PAID_KINDS[field_name],
        page_id=entry_page_id or _optional(body.get("page_id")) or "",
        psid="" if not recipient else str(recipient),
        timestamp=parse_timestamp(body.get("timestamp")),
        raw=item,
        tracking_id=_optional(body.get("marketing_message_tracking_id")),
        token=_optional(body.get("messenger_subscription_token")),
        campaign_id=_optional(body.get("message_id")),
        mid=_optional(body.get("mid")),
        error_message=_optional(body.get("error_message")),
    )


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)


def _unknown(item: Any, page_id: str, *, standby: bool) -> UnknownEvent:
    raw = item if isinstance(item, dict) else {"value": item}
    return UnknownEvent(
        page_id=page_id or _id(raw.get("recipient")),
        psid=_id(raw.get("sender")),
        timestamp=parse_timestamp(raw.get("timestamp")),
        raw=raw,
        standby=standby,
    )


def _message(message: dict[str, Any], common: dict[str, Any]) -> MessagingEvent:
    if message.get("is_echo"):
        app_id = message.get("app_id")
        return EchoEvent(
            **common,
            mid=_str(message["mid"]),
            text=message.get("text"),
            app_id=None if app_id is None else str(app_id),
            metadata=message.get("metadata"),
        )
    return MessageEvent(
        **common,
        mid=_str(message["mid"]),
        text=message.get("text"),
        quick_reply_payload=(message.get("quick_reply") or {}).get("payload"),
        attachments=tuple(message.get("attachments") or ()),
    )


def _referral(referral: dict[str, Any]) -> Referral:
    ad_id = referral.get("ad_id")
    return Referral(
        ref=referral.get("ref"),
        source=referral.get("source"),
        referral_type=referral.get("type"),
        ad_id=None if ad_id is None else str(ad_id),
    )


def _postback(postback: dict[str, Any], common: dict[str, Any]) -> PostbackEvent:
    referral = postback.get("referral")
    return PostbackEvent(
        **common,
        mid=postback.get("mid"),
        title=postback.get("title"),
        payload=postback.get("payload"),
        referral=_referral(referral) if referral is not None else None,
    )


def _referral_event(referral: dict[str, Any], common: dict[str, Any]) -> ReferralEvent:
    return ReferralEvent(**common, **asdict(_referral(referral)))


# Meta's docs render these as "STOP NOTIFICATIONS" / "RESUME NOTIFICATIONS"; the wire spelling is
# unconfirmed, so spaces/hyphens are normalised and the bare verbs accepted too.
_OPTIN_STATUSES: dict[str, OptinStatus] = {
    "STOP": "stop",
    "STOP_NOTIFICATIONS": "stop",
    "RESUME": "resume",
    "RESUME_NOTIFICATIONS": "resume",
}


def _optin_status(value: Any) -> OptinStatus | None:
    """The normalised stop/resume status. An unrecognised value raises ValueError (so the item
    becomes an UnknownEvent): misreading a stop as a fresh opt-in would message someone who said no."""
    if value is None:
        return None
    return _OPTIN_STATUSES[re.sub(r"[\s\-]+", "_", str(value).strip()).upper()]


def _optin(optin: dict[str, Any], common: dict[str, Any]) -> OptinEvent:
    optin_type = optin.get("type")
    if optin_type == "notification_messages":
        kind = "optin"
    elif optin_type is None and "ref" in optin:
        kind = "plugin_optin"
    else:
        raise ValueError(f"unsupported optin type {optin_type!r}")
    token = optin.get("notification_messages_token")
    return OptinEvent(
        **{**common, "kind": kind},
        optin_type=optin_type,
        token=None if token is None else str(token),
        title=optin.get("title"),
        payload=optin.get("payload"),
        timezone=optin.get("notification_messages_timezone"),
        token_expires_at=parse_timestamp(optin.get("token_expiry_timestamp")),
        token_status=optin.get("user_token_status"),
        status=_optin_status(optin.get("notification_messages_status")),
        ref=optin.get("ref"),
    )


def _delivery(delivery: dict[str, Any], common: dict[str, Any]) -> DeliveryEvent:
    return DeliveryEvent(
        **common,
        mids=tuple(_str(mid) for mid in delivery.get("mids") or ()),
        watermark=_required_timestamp(delivery["watermark"]),
    )


def _read(read: dict[str, Any], common: dict[str, Any]) -> ReadEvent:
    return ReadEvent(**common, watermark=_required_timestamp(read["watermark"]))


def _reaction(reaction: dict[str, Any], common: dict[str, Any]) -> ReactionEvent:
    return ReactionEvent(
        **common,
        mid=_str(reaction["mid"]),
        action=reaction.get("action"),
        reaction=reaction.get("reaction"),
        emoji=reaction.get("emoji"),
    )


#: The item key that names the event type -> its parser (one key per webhook field).
_PARSERS: dict[str, Callable[[Any, dict[str, Any]], MessagingEvent]] = {
    "message": _message,
    "postback": _postback,
    "optin": _optin,
    "delivery": _delivery,
    "read": _read,
    "referral": _referral_event,
    "reaction": _reaction,
}


def _id(obj: Any) -> str:
    """``obj["id"]`` as a string, "" if absent."""
    value = obj.get("id") if isinstance(obj, dict) else None
    return "" if value is None else str(value)


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _required_timestamp(value: Any) -> datetime:
    parsed = parse_timestamp(value)
    if parsed is None:
        raise ValueError(f"bad timestamp {value!r}")
    return parsed


#: What a redacted ``messaging[]`` item becomes (parsed as an :class:`UnknownEvent` without a PSID).
ERASED_ITEM: dict[str, Any] = {"erased": True}


def redact_person(data: Any, psid: str) -> bool:
    """Replace, in place, every ``messaging[]`` / ``standby[]`` item of a webhook body exchanged
    with ``psid`` (their messages, postbacks, opt-ins and receipts, and the Page's echoes to them)
    by :data:`ERASED_ITEM`; other people's items stay. Returns whether any item was replaced."""
    changed = False
    for entry in data.get("entry", []) if isinstance(data, dict) else ():
        for key in ("messaging", "standby"):
            items = entry.get(key) if isinstance(entry, dict) else None
            for index, item in enumerate(items if isinstance(items, list) else ()):
                if isinstance(item, dict) and psid in (_id(item.get("sender")), _id(item.get("recipient"))):
                    items[index] = dict(ERASED_ITEM)
                    changed = True
    return changed
