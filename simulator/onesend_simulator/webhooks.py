"""The webhook emitter: POSTs the world's events to the app like Meta does
(https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks).

Events wait in a queue served by one dispatcher task, so emitting never blocks a Graph API handler.
Each POST is signed (``X-Hub-Signature-256`` and the legacy ``X-Hub-Signature``), may carry several
events (up to ``batch_max``, grouped into one entry per Page run) when a backlog builds up, and is
retried every ``retry_interval`` seconds until answered 200. Duplicates, reordering and delays are
switched on through the config to exercise the app's idempotency.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
from collections import Counter, deque
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from .config import Config
from .model import now_ms


@dataclass(frozen=True)
class Delivery:
    """One POST body and the reset generation it belongs to (older ones are dropped)."""

    body: bytes
    events: int
    generation: int
    duplicate: bool = False


class WebhookEmitter:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.counters: Counter[str] = Counter()
        self.verification: dict[str, Any] | None = None
        self._ready: deque[tuple[str, str, dict[str, Any]]] = deque()  # (page id, envelope key, event)
        self._retries: deque[Delivery] = deque()
        self._wakeup = asyncio.Event()
        self._generation = 0
        self._delayed = 0
        self._scheduled = 0  # failed POSTs waiting for their retry
        self._in_flight: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None
        self._dispatcher: asyncio.Task | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession()
        self._dispatcher = asyncio.create_task(self._dispatch())

    async def stop(self) -> None:
        tasks = [self._dispatcher, *self._in_flight] if self._dispatcher else []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def emit(
        self, page_id: str, event: dict[str, Any], delay: float = 0.0, envelope: str = "messaging"
    ) -> None:
        """Queue an event of the Page's entry (the world's sink): a ``messaging`` event, or a
        ``changes`` one; it becomes ready after ``delay`` + ``delay_ms``."""
        if not self.config.webhook_url:
            self.counters["dropped"] += 1
            return
        self.counters["emitted"] += 1
        delay += self.config.delay_ms / 1000
        if delay > 0:
            self._delayed += 1
            self._loop.call_later(delay, self._make_ready, self._generation, (page_id, envelope, event))
        else:
            self._ready.append((page_id, envelope, event))
            self._wakeup.set()

    def _make_ready(self, generation: int, queued: tuple[str, str, dict[str, Any]]) -> None:
        if generation == self._generation:
            self._delayed -= 1
            self._ready.append(queued)
            self._wakeup.set()

    def wake(self) -> None:
        """Re-check the config (called after it changed: URL, pause, concurrency)."""
        self._wakeup.set()

    async def clear(self) -> None:
        """Forget everything queued, scheduled or in flight (``POST /_sim/reset``)."""
        self._generation += 1
        self._ready.clear()
        self._retries.clear()
        self._delayed = self._scheduled = 0
        self.counters.clear()
        self.verification = None
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def pending(self) -> dict[str, int]:
        queued = len(self._ready) + len(self._retries)
        in_flight = len(self._in_flight)
        return {
            "pending": queued + self._delayed + in_flight + self._scheduled,
            "queued": queued,
            "delayed": self._delayed,
            "in_flight": in_flight,
            "retrying": self._scheduled,
        }

    def stats(self) -> dict[str, Any]:
        counters = {
            key: self.counters[key]
            for key in (
                "emitted",
                "dropped",
                "delivered",
                "delivered_events",
                "failed_attempts",
                "duplicates",
            )
        }
        return {**counters, **self.pending(), "verification": self.verification}

    # -------------------------------------------------------------------------------- dispatching

    def _can_send(self) -> bool:
        config = self.config
        return (
            bool(config.webhook_url)
            and not config.webhooks_paused
            and len(self._in_flight) < config.webhook_concurrency
            and bool(self._ready or self._retries)
        )

    async def _dispatch(self) -> None:
        while True:
            if self._can_send():
                task = asyncio.create_task(self._post(self._take(), self.config.webhook_url))
                self._in_flight.add(task)
                task.add_done_callback(self._done)
            else:
                self._wakeup.clear()
                await self._wakeup.wait()

    def _done(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        self._wakeup.set()

    def _take(self) -> Delivery:
        """The next POST: a retry first, else up to ``batch_max`` ready events (random ones if reordering)."""
        if self._retries:
            return self._retries.popleft()
        ready, events = self._ready, []
        while ready and len(events) < self.config.batch_max:
            if self.config.reorder:
                index = random.randrange(len(ready))
                events.append(ready[index])
                del ready[index]
            else:
                events.append(ready.popleft())
        entries: list[dict[str, Any]] = []
        for page_id, envelope, event in events:
            if entries and entries[-1]["id"] == page_id and envelope in entries[-1]:
                entries[-1][envelope].append(event)
            else:
                entries.append({"id": page_id, "time": now_ms(), envelope: [event]})
        body = json.dumps({"object": "page", "entry": entries}, separators=(",", ":")).encode()
        return Delivery(body, len(events), self._generation)

    async def _post(self, delivery: Delivery, url: str) -> None:
        config = self.config
        secret = config.app_secret.encode()
        headers = {  # signed here, independently of the app's own check, as Meta does
            "Content-Type": "application/json",
            "X-Hub-Signature-256": "sha256=" + hmac.new(secret, delivery.body, hashlib.sha256).hexdigest(),
            "X-Hub-Signature": "sha1=" + hmac.new(secret, delivery.body, hashlib.sha1).hexdigest(),
            "User-Agent": "facebookexternalua",
        }
        timeout = aiohttp.ClientTimeout(total=config.webhook_timeout)
        try:
            async with self._session.post(url, data=delivery.body, headers=headers, timeout=timeout) as r:
                await r.read()
                ok = r.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            ok = False
        if delivery.generation != self._generation:
            return
        if ok:
            self.counters["delivered"] += 1
            self.counters["delivered_events"] += delivery.events
            if not delivery.duplicate and config.duplicate_rate and random.random() < config.duplicate_rate:
                self.counters["duplicates"] += 1
                self._retries.append(replace(delivery, duplicate=True))
        else:
            self.counters["failed_attempts"] += 1
            self._scheduled += 1
            self._loop.call_later(config.retry_interval, self._retry, delivery)

    def _retry(self, delivery: Delivery) -> None:
        if delivery.generation == self._generation:
            self._scheduled -= 1
            self._retries.append(delivery)
            self._wakeup.set()

    # ------------------------------------------------------------------------------ verification

    async def verify(self) -> dict[str, Any]:
        """Meta's subscription check: GET the webhook URL with ``hub.*`` and expect the challenge back."""
        config = self.config
        challenge = str(random.randrange(10**9, 10**10))
        result: dict[str, Any] = {
            "url": config.webhook_url,
            "challenge": challenge,
            "ok": False,
            "status": None,
        }
        if not config.webhook_url:
            result["error"] = "no webhook_url configured"
        else:
            params = {
                "hub.mode": "subscribe",
                "hub.verify_token": config.verify_token,
                "hub.challenge": challenge,
            }
            timeout = aiohttp.ClientTimeout(total=config.webhook_timeout)
            try:
                async with self._session.get(config.webhook_url, params=params, timeout=timeout) as response:
                    body = await response.text()
                result.update(
                    status=response.status, body=body[:200], ok=response.status == 200 and body == challenge
                )
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
                result["error"] = repr(error)
        self.verification = result
        return result
