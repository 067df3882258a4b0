"""Signed HTTP endpoints for stores outside Django: onesend's own event endpoint and an adapter
for Shopify's webhooks. Both verify an HMAC over the raw body before reading it; the event
endpoint's check is ``signed_request``, which plugins' views use too."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from datetime import datetime

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import safejson
from ..models import Account
from .tracking import StoreEventError, track

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Onesend-Signature"
#: A signed request older (or newer) than this is refused: a captured request can't be replayed
#: later. Within this window a copy would pass the signature check; what makes it count once is
#: the event's identity (its idempotency key, else the hash of the body: see ``events``).
MAX_CLOCK_DIFFERENCE = 300


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``X-Onesend-Signature`` value for ``body``: ``t=<unix time>,v1=<hex HMAC-SHA256>`` of
    ``"<t>.<body>"`` with the account's events secret (the timestamp is signed too)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _verified(body: bytes, header: str, secret: str) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(time.time() - timestamp) > MAX_CLOCK_DIFFERENCE:
        return False
    return hmac.compare_digest(
        sign(body, secret, timestamp).encode(), f"t={timestamp},v1={parts.get('v1', '')}".encode()
    )


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _accepted(event) -> JsonResponse:
    return JsonResponse({"id": event.pk, "event": event.name, "state": event.state})


def signed_request(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Make ``view(request, account, ...)`` an endpoint a shop calls, signed as onesend's own
    event endpoint is: its URL has an ``<slug:account_slug>``, and the request is a POST whose
    ``X-Onesend-Signature`` (``sign``) is valid for that account's events secret and recent.
    The view is then called with the ``Account`` in place of the slug. Otherwise it is not
    called: 404 for an unknown account, 405 for another method, 403 ``{"error": "Invalid or
    expired signature."}`` for a bad or stale signature. No login, no CSRF token (the
    signature is the proof)."""

    @csrf_exempt
    @login_not_required
    @require_POST
    @functools.wraps(view)
    def verified(request: HttpRequest, *args, account_slug: str, **kwargs) -> HttpResponse:
        account = get_object_or_404(Account, slug=account_slug)
        if not _verified(request.body, request.headers.get(SIGNATURE_HEADER, ""), account.events_secret):
            logger.warning(
                "Signed request to %s for %s refused: bad or stale signature", request.path, account_slug
            )
            return _error(403, "Invalid or expired signature.")
        return view(request, account, *args, **kwargs)

    return verified


@signed_request
def events(request: HttpRequest, account: Account) -> JsonResponse:
    """``POST /onesend/events/<account>/`` with a JSON body ``{"event", "customer_ref",
    "properties", "idempotency_key", "occurred_at"}``, signed in ``X-Onesend-Signature``.

    Without an idempotency key (in the body or an ``Idempotency-Key`` header) the event is
    identified by the SHA-256 of its body: a replayed or retried request is the same event and
    counts once, whatever its signature's timestamp."""
    body = request.body
    try:
        data = safejson.loads(body)
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        occurred_at = parse_datetime(data["occurred_at"]) if data.get("occurred_at") else None
        # replaced like the body's: over HTTP a NUL (PostgreSQL stores none) is not an error
        key = data.get("idempotency_key") or safejson.storable(request.headers.get("Idempotency-Key", ""))
        event = track(
            str(data.get("event", "")),
            customer_ref=str(data.get("customer_ref", "")),
            properties=data.get("properties", {}),
            account=account,
            idempotency_key=key or f"body:{hashlib.sha256(body).hexdigest()}",
            at=occurred_at,
            source="http",
        )
    except (ValueError, TypeError, StoreEventError) as exc:
        return _error(400, f"Bad event: {exc}")
    return _accepted(event)


@csrf_exempt
@login_not_required
@require_POST
def shopify(request: HttpRequest, account_slug: str) -> JsonResponse:
    """Shopify's ``orders/create`` and ``checkouts/update`` webhooks, mapped to ``order_placed``
    and ``cart_abandoned``. Other topics are acknowledged and ignored."""
    account = get_object_or_404(Account, slug=account_slug)
    body = request.body
    expected = base64.b64encode(hmac.new(account.shopify_secret.encode(), body, hashlib.sha256).digest())
    given = request.headers.get("X-Shopify-Hmac-Sha256", "").encode()
    if not account.shopify_secret or not hmac.compare_digest(expected, given):
        logger.warning("Shopify webhook for %s refused: bad signature", account_slug)
        return _error(401, "Invalid Shopify signature.")
    topic = request.headers.get("X-Shopify-Topic", "")
    try:
        event = _from_shopify(account, topic, safejson.loads(body))
    except (ValueError, TypeError, KeyError, AttributeError, StoreEventError) as exc:
        return _error(400, f"Bad Shopify payload: {exc!r}")
    if event is None:
        return JsonResponse({"ignored": topic})
    return _accepted(event)


def _from_shopify(account: Account, topic: str, data: dict):
    customer = data.get("customer") or {}
    customer_ref = str(customer.get("id") or data.get("email") or "")
    occurred_at = _shopify_time(data.get("created_at") or data.get("updated_at"))
    if topic == "orders/create":
        return track(
            "order_placed",
            customer_ref=customer_ref,
            properties={
                "order_id": str(data["id"]),
                "value": str(data["total_price"]),
                "currency": data.get("currency") or "USD",
                "items": [item.get("title") for item in data.get("line_items") or []],
            },
            account=account,
            idempotency_key=f"order:{data['id']}",
            at=occurred_at,
            source="shopify",
        )
    if topic == "checkouts/update" and not data.get("completed_at"):
        return track(
            "cart_abandoned",
            customer_ref=customer_ref,
            properties={
                "cart_id": str(data["token"]),
                "value": str(data.get("total_price", "0")),
                "currency": data.get("currency") or "USD",
                "url": data.get("abandoned_checkout_url", ""),
            },
            account=account,
            idempotency_key=f"cart:{data['token']}",
            at=occurred_at,
            source="shopify",
        )
    return None


def _shopify_time(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None
