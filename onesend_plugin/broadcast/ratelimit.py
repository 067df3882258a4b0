"""Per-Page send-rate limiting shared by every worker, process and campaign.

The algorithm is GCRA (a leaky bucket without burst): each Page's bucket keeps the time at which
its next send may happen. Reserving ``n`` sends returns how long to wait and pushes that time
``n / rate`` seconds further. Sends are therefore spaced evenly and no one-second window gets more
than the rate, whichever worker sends them. State lives in Redis when configured (one atomic Lua
call), otherwise in a locked database row.
"""

from __future__ import annotations

import math
import time
from functools import cache
from typing import Protocol

from django.db import transaction

from .. import conf
from ..models import MessengerPage, RateLimitState


class Limiter(Protocol):
    def reserve(self, key: str, count: int, rate: float) -> float:
        """Reserve ``count`` sends at ``rate`` per second; return the seconds to wait first."""

    def hold(self, key: str, seconds: float) -> None:
        """Allow no send on ``key`` for ``seconds`` (Meta said slow down)."""

    def available_at(self, key: str) -> float:
        """When (epoch seconds) the next send on ``key`` may happen; 0 for a bucket never used.
        An instant, not a delay, so reading it takes no time off the answer."""


class DatabaseLimiter:
    """Bucket state in ``RateLimitState`` rows, locked for the few microseconds of an update.
    Workers on several hosts must have synchronised clocks (use Redis otherwise)."""

    def reserve(self, key: str, count: int, rate: float) -> float:
        with transaction.atomic():
            state = self._locked(key)
            now = time.time()
            start = max(state.available_at, now)
            state.available_at = start + count / rate
            state.save(update_fields=["available_at"])
        return start - now

    def hold(self, key: str, seconds: float) -> None:
        with transaction.atomic():
            state = self._locked(key)
            state.available_at = max(state.available_at, time.time() + seconds)
            state.save(update_fields=["available_at"])

    def available_at(self, key: str) -> float:
        state = RateLimitState.objects.filter(key=key).first()
        return state.available_at if state else 0.0

    @staticmethod
    def _locked(key: str) -> RateLimitState:
        RateLimitState.objects.get_or_create(key=key)
        return RateLimitState.objects.select_for_update().get(key=key)


# KEYS[1]: bucket; ARGV: count, seconds per send, hold seconds (0 to reserve).
# Redis's own clock is the time source, so hosts with skewed clocks still agree.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local hold = tonumber(ARGV[3])
if hold > 0 then
  tat = math.max(tat, now + hold)
  redis.call('SET', KEYS[1], tostring(tat), 'EX', math.ceil(tat - now) + 60)
  return '0'
end
local start = math.max(tat, now)
local next_tat = start + tonumber(ARGV[1]) * tonumber(ARGV[2])
redis.call('SET', KEYS[1], tostring(next_tat), 'EX', math.ceil(next_tat - now) + 60)
return tostring(start - now)
"""


class RedisLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        self.script = self.redis.register_script(_GCRA)

    def reserve(self, key: str, count: int, rate: float) -> float:
        return float(self.script(keys=[f"onesend:rate:{key}"], args=[count, 1.0 / rate, 0]))

    def hold(self, key: str, seconds: float) -> None:
        self.script(keys=[f"onesend:rate:{key}"], args=[0, 0, seconds])

    def available_at(self, key: str) -> float:
        raw = self.redis.get(f"onesend:rate:{key}")
        return float(raw) if raw else 0.0


@cache
def _limiter(redis_url: str | None) -> Limiter:
    return RedisLimiter(redis_url) if redis_url else DatabaseLimiter()


def limiter() -> Limiter:
    return _limiter(conf.get("RATE_LIMIT_REDIS_URL"))


def available_in(key: str) -> float:
    """Seconds until the next send on ``key`` may happen (0 when it may now)."""
    return max(0.0, limiter().available_at(key) - time.time())


def bucket(page: MessengerPage, media: bool) -> tuple[str, float]:
    """The bucket key and the rate (sends per second) for a Page's text or media sends."""
    limit = conf.get("MEDIA_RATE_LIMIT" if media else "TEXT_RATE_LIMIT")
    return f"{page.page_id}:{'media' if media else 'text'}", limit * conf.get("RATE_LIMIT_HEADROOM")


def batch_size(media: bool, rate: float, largest: int) -> int:
    """The largest batch that keeps every one-second window within Meta's limit. A batch goes
    out at once, so batches of n spaced n/rate apart put up to (floor(rate/n) + 1) * n sends in
    one second: 50 fits the text limit at 291/s, while media (10/s) must go 10 at a time."""
    limit = conf.get("MEDIA_RATE_LIMIT" if media else "TEXT_RATE_LIMIT")
    for n in range(min(largest, limit), 1, -1):
        if (math.floor(rate / n) + 1) * n <= limit:
            return n
    return 1


def hold_page(page: MessengerPage, seconds: float) -> None:
    """Meta throttled the Page: every bucket of it waits."""
    for media in (False, True):
        limiter().hold(bucket(page, media)[0], seconds)
