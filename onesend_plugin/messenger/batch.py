"""Graph batch requests: up to 50 calls in one HTTP request, each answered on its own.

Encoding is the hot path of a broadcast (one item per recipient, the same message in each), so
items are encoded from cached quoted pieces; answers are read back into a :class:`SendResult` or
the item's :class:`~.errors.GraphError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

from . import builders
from .errors import GraphError, TransientError, Usage, error_from_response
from .responses import SendResult

#: Graph batch requests are limited to 50 calls.
MAX_BATCH = 50


@dataclass(frozen=True)
class BatchRequest:
    """One call inside a Graph batch; ``body`` values that are not strings are sent as JSON."""

    relative_url: str
    body: Mapping[str, Any]
    method: str = "POST"

    @classmethod
    def send(
        cls,
        *,
        recipient: Mapping[str, Any],
        message: Mapping[str, Any] | None = None,
        messaging_type: str | None = None,
        tag: str | None = None,
        sender_action: str | None = None,
    ) -> BatchRequest:
        """A Send API call; same arguments as :meth:`GraphClient.send_message`."""
        body = builders.send_body(
            recipient=recipient,
            message=message,
            messaging_type=messaging_type,
            tag=tag,
            sender_action=sender_action,
        )
        return cls("me/messages", body)

    @classmethod
    def paid(
        cls,
        *,
        ad_account_id: str,
        message_id: str,
        subscription_token: str,
        message: Mapping[str, Any],
        min_conversation_gap_seconds: int | None = None,
    ) -> BatchRequest:
        """A paid Marketing Messages API send; same arguments as
        :meth:`GraphClient.send_marketing_message`."""
        body = builders.paid_message(
            message_id=message_id,
            subscription_token=subscription_token,
            message=message,
            min_conversation_gap_seconds=min_conversation_gap_seconds,
        )
        return cls(f"{builders.ad_account_path(ad_account_id)}/messages", body)

    def as_batch_item(self) -> dict[str, str]:
        body = "&".join(f"{_quote(name)}={_quote(_as_text(v))}" for name, v in self.body.items())
        return {"method": self.method, "relative_url": self.relative_url, "body": body}

    def as_form_item(self) -> str:
        """``quote_plus(json.dumps(self.as_batch_item()))``, from cached pieces: quoting works
        character by character, and a quoted body holds no character JSON would escape."""
        head = json.dumps({"method": self.method, "relative_url": self.relative_url})[:-1] + ', "body": "'
        body = "%26".join(
            f"{_quote(_quote(name))}%3D{_quote(_quote(_as_text(v)))}" for name, v in self.body.items()
        )
        return f"{_quote(head)}{body}%22%7D"


def form(calls: list[BatchRequest]) -> str:
    """The batch call's form body (without the token): ``batch=`` and the calls as a JSON array."""
    if len(calls) > MAX_BATCH:
        raise ValueError(f"a Graph batch holds at most {MAX_BATCH} calls, got {len(calls)}")
    return f"batch=%5B{'%2C'.join(call.as_form_item() for call in calls)}%5D"


def results(
    items: Any, calls: list[BatchRequest], usage: Usage | None, redact: Callable[[str], str]
) -> list[SendResult | GraphError]:
    """Per-call outcomes of a batch answer, in request order (see ``GraphClient.batch``)."""
    if not isinstance(items, list) or len(items) != len(calls):
        raise TransientError(message="Graph batch response does not match the request", usage=usage)
    usages: dict[tuple, Usage | None] = {}  # the items' usage headers mostly repeat: parse each once
    return [_item_result(item, usage, usages, redact) for item in items]


def _item_result(
    item: Any, call_usage: Usage | None, usages: dict[tuple, Usage | None], redact: Callable[[str], str]
) -> SendResult | GraphError:
    if not isinstance(item, dict):  # Meta answers ``null`` for a call that timed out
        return TransientError(message="batch call timed out", usage=call_usage)
    pairs = tuple(
        (h.get("name", ""), h.get("value", "")) for h in item.get("headers") or () if isinstance(h, dict)
    )
    headers = dict(pairs)
    if pairs not in usages:
        usages[pairs] = Usage.from_headers(headers)
    usage = usages[pairs] or call_usage
    status = item.get("code")
    body = redact(str(item.get("body") or ""))
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    parsed = parsed if isinstance(parsed, dict) else {}
    if status == 200 and "error" not in parsed:
        # Meta accepted the call even if its answer is garbled (cf. 1/1357046): don't invite a resend.
        return SendResult.from_graph(parsed, usage)
    error = error_from_response(status if isinstance(status, int) else 500, body, headers)
    error.usage = usage
    return error


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@lru_cache(maxsize=256)
def _quote(text: str) -> str:
    """``quote_plus``, remembered. It runs byte by byte in Python, and a broadcast's message is
    the same string in each of its batch items (quoted twice: in the item's body, then in the
    form): quoting it afresh for every recipient was most of a sending worker's client CPU."""
    return quote_plus(text)
