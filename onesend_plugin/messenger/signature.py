"""Meta's webhook checks: the signature of each POST, ``X-Hub-Signature-256: sha256=<hex
HMAC-SHA256(app secret, raw body)>``, and the GET that verifies a callback URL.

The HMAC is computed over the raw request bytes exactly as received: re-serialising parsed JSON
changes the bytes (Meta escapes non-ASCII as ``\\uXXXX``) and breaks verification.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

HEADER = "X-Hub-Signature-256"


def sign(body: bytes, secret: str) -> str:
    """The header value Meta sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid(body: bytes, header_value: str | None, secret: str) -> bool:
    """Constant-time check of a received ``X-Hub-Signature-256`` value."""
    if not header_value or not secret:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), header_value.strip().lower().encode())


def challenge(params: Mapping[str, str], verify_token: str) -> str | None:
    """The ``hub.challenge`` to echo to Meta's subscription check (the GET's query ``params``),
    or None when its mode or verify token is wrong (constant-time comparison)."""
    token = params.get("hub.verify_token", "")
    if params.get("hub.mode") == "subscribe" and hmac.compare_digest(token.encode(), verify_token.encode()):
        return params.get("hub.challenge", "")
    return None
