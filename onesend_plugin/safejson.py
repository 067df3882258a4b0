"""JSON from the outside world, parsed so that whatever it holds can be stored and processed.

``json.loads`` alone lets through what breaks later, far from the request that brought it: a
body nested 100 000 levels deep raises ``RecursionError`` (not a ``ValueError``), ``NaN`` and
``1e999`` become floats that PostgreSQL's ``jsonb`` refuses, and so do ``\\u0000`` and lone
surrogates (``\\ud800``) in strings, which PostgreSQL's text columns refuse too. :func:`loads`
refuses the first ones with :class:`InvalidJSON` and replaces the characters with U+FFFD
(:func:`storable` does the same for any other text).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: Deeper than any real payload (Meta's webhooks and store events are under 10 levels).
MAX_DEPTH = 64
#: Larger than any body an endpoint accepts (the webhook's default limit is 2 MB).
MAX_BYTES = 8 * 1024 * 1024

# What PostgreSQL cannot store in text or jsonb: NUL, and UTF-16 halves without their pair.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The only way JSON text brings those in: escapes (raw ones are invalid UTF-8 or JSON).
_ESCAPED_UNSTORABLE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class InvalidJSON(ValueError):
    """The text is not JSON onesend can use; the message says why."""


def loads(raw: bytes | str) -> Any:
    """Parse ``raw`` (UTF-8 bytes or text). Raises :class:`InvalidJSON` for invalid JSON, invalid
    UTF-8, more than ``MAX_BYTES``, nesting deeper than ``MAX_DEPTH``, ``NaN``, ``Infinity`` or
    numbers too large for a float; never anything else."""
    if len(raw) > MAX_BYTES:
        raise InvalidJSON(f"larger than {MAX_BYTES} bytes")
    try:
        text = raw if isinstance(raw, str) else bytes(raw).decode()
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"not UTF-8: {exc}") from None
    except RecursionError:
        raise InvalidJSON(f"nested deeper than {MAX_DEPTH} levels") from None
    except InvalidJSON:
        raise
    except ValueError as exc:  # JSONDecodeError, and int() of a number over Python's digit limit
        raise InvalidJSON(str(exc)) from None
    return _checked(data, 0, bool(_ESCAPED_UNSTORABLE.search(text)))


def storable(text: str) -> str:
    """``text`` with what PostgreSQL cannot store (NUL, lone surrogates) replaced by U+FFFD: for
    text that did not come through :func:`loads`, such as an exception's message."""
    return _UNSTORABLE.sub("\ufffd", text)


def _refuse_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise InvalidJSON(f"number out of range: {literal[:40]}")
    return value


def _checked(value: Any, depth: int, clean: bool) -> Any:
    """``value`` with its depth checked and, if ``clean``, its strings (keys too) made storable."""
    if isinstance(value, str):
        return storable(value) if clean else value
    if not isinstance(value, list | dict):
        return value
    if depth >= MAX_DEPTH:
        raise InvalidJSON(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        return [_checked(item, depth + 1, clean) for item in value]
    return {_checked(key, depth, clean): _checked(item, depth + 1, clean) for key, item in value.items()}
