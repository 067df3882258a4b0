"""Signed subscription refs: what an m.me link's ``ref`` carries.

A ref names the entry point (``source``), the tags a subscriber gets and, optionally, an opaque
customer reference (identity linking with a shop). It is signed with the site's SECRET_KEY so
nobody can hand-craft a link that tags people arbitrarily. Meta allows only ``[A-Za-z0-9_=-]``
in a ref, so the format is ``<base64url(json)>=<base64url(hmac)>`` without padding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

from django.conf import settings

SEPARATOR = "="  # never produced by unpadded base64url
SIGNATURE_LENGTH = 16  # characters of base64url: 96 bits
SAFE_SOURCE = re.compile(r"[^A-Za-z0-9_-]")
SOURCE_MAX_LENGTH = 50  # a SubscriptionLink ref


@dataclass(frozen=True)
class SubscriptionRef:
    source: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    customer_ref: str = ""
    verified: bool = True

    @property
    def entry_point(self) -> str:
        return self.source or "direct"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signature(token: str) -> str:
    key = hashlib.sha256(b"onesend.refs:" + settings.SECRET_KEY.encode()).digest()
    return _b64(hmac.new(key, token.encode(), hashlib.sha256).digest())[:SIGNATURE_LENGTH]


def encode(source: str, tags=(), customer_ref: str = "") -> str:
    """The ref to put in an m.me link (and in the opt-in template's payload)."""
    data = {"s": source}
    if tags:
        data["t"] = list(tags)
    if customer_ref:
        data["c"] = customer_ref
    token = _b64(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{token}{SEPARATOR}{_signature(token)}"


def decode(ref: str | None) -> SubscriptionRef:
    """What a ref received from Meta says. A forged or foreign ref keeps only a sanitised source
    name (for reporting) and is marked unverified: it never carries tags or a customer."""
    ref = ref or ""
    token, sep, sig = ref.partition(SEPARATOR)
    if sep and hmac.compare_digest(sig.encode(), _signature(token).encode()):
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            return SubscriptionRef(
                source=str(data.get("s", ""))[:SOURCE_MAX_LENGTH],
                tags=tuple(str(tag)[:100] for tag in data.get("t", ()))[:20],
                customer_ref=str(data.get("c", ""))[:255],
            )
        except (ValueError, AttributeError, TypeError):
            pass
    return SubscriptionRef(source=SAFE_SOURCE.sub("", ref)[:SOURCE_MAX_LENGTH], verified=not ref)


def without_customer(ref: str) -> str:
    """``ref`` minus its customer reference (signed anew), as the opt-in request's payload: the
    customer is linked to the subscriber when the link is opened, so it needs no trip through
    Meta and back, nor a place in queued task arguments where erasure could not reach it."""
    decoded = decode(ref)
    return encode(decoded.source, decoded.tags) if decoded.customer_ref else ref
