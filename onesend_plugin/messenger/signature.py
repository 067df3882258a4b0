"""Meta's webhook signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``.

The HMAC is computed over the raw request bytes exactly as received: re-serialising parsed JSON
changes the bytes (Meta escapes non-ASCII as ``\\uXXXX``) and breaks verification.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"


def sign(body: bytes, secret: str) -> str:
    """The header value Meta sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid(body: bytes, header_value: str | None, secret: str) -> bool:
    """Constant-time check of a received ``X-Hub-Signature-256`` value."""
    if not header_value or not secret:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), header_value.strip().lower().encode())
