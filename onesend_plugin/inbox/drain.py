"""The drain: workers that empty the webhook inbox, and the POSTs and the minute tick that start
them. Enqueued by task path (``TASK``, a name of the stable ``onesend_plugin.tasks``), like every
onesend task."""

from __future__ import annotations

import functools
import time

from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.tasks import async_task

from ..models import WebhookDelivery, WebhookEvent
from . import dispatch

TASK = "onesend_plugin.tasks.process_webhooks"

# While a drain runs, a flag in the broker's Redis says so, and POSTs enqueue nothing: one task
# processes what many POSTs stored. The flag expires if its drain dies; the next POST (or the
# minute tick) then starts another. A drain that finds a backlog (a full batch) starts one more,
# at most one every DRAIN_FLAG_MS: batches are disjoint (``SKIP LOCKED``), so drains add up.
DRAIN_FLAG = "onesend:webhook-drain:{name}"
DRAIN_FLAG_MS = 5000
DRAIN_BUDGET_SECONDS = 20  # then a fresh task goes on (well within a cluster's task timeout)
DRAIN_LINGER_SECONDS = 1.0
DRAIN_POLL_SECONDS = 0.05
# A drain that clears its flag waits this long before its last look. So a web process that saw the
# flag set (or set it) at time S knows that whatever it commits before S + this is found: for
# that long its POSTs skip Redis (the call was a fifth of a POST's CPU).
DRAIN_LAST_LOOK_DELAY = 0.5
_flag_trusted_until = 0.0  # per process: time.monotonic() before which POSTs need not ask


def enqueue_webhook_processing() -> None:
    """After a POST is stored (its transaction committed): make sure a drain will see it."""
    global _flag_trusted_until
    asked = time.monotonic()
    if asked < _flag_trusted_until:
        return
    flag = _drain_flag()
    if flag is None:
        _enqueue_drain()  # another broker: every POST has a drain of its own
        return
    if flag.set(_flag_key(), b"1", nx=True, px=DRAIN_FLAG_MS):
        _enqueue_drain()
    _flag_trusted_until = asked + DRAIN_LAST_LOOK_DELAY


def process_webhooks() -> int:
    """Process stored webhook deliveries and pending events, a batch at most every
    ``DRAIN_POLL_SECONDS`` (under a trickle of POSTs a batch then gathers several), until none
    has come for ``DRAIN_LINGER_SECONDS`` (a steady trickle costs one task, not one per POST).
    Before going idle it clears the flag, waits ``DRAIN_LAST_LOOK_DELAY``, then looks once more:
    a delivery committed before that look is found by it, one committed after finds no flag and
    enqueues a new drain."""
    flag, key, done = _drain_flag(), _flag_key(), 0
    deadline, idle_since, clearing = time.monotonic() + DRAIN_BUDGET_SECONDS, time.monotonic(), False
    while time.monotonic() < deadline:
        if flag is not None and not clearing:  # still here: POSTs need not enqueue another drain
            flag.set(key, b"1", px=DRAIN_FLAG_MS)
        started = time.monotonic()
        claimed = dispatch.process_pending()
        done += claimed
        if claimed:
            idle_since, clearing = time.monotonic(), False
            if (
                claimed >= dispatch.BATCH_DELIVERIES
                and flag is not None
                and flag.set(f"{key}:help", b"1", nx=True, px=DRAIN_FLAG_MS)
            ):
                _enqueue_drain()  # a backlog: one more drain at a time works beside this one
        elif clearing or flag is None:
            return done
        elif time.monotonic() - idle_since > DRAIN_LINGER_SECONDS:
            flag.delete(key)
            clearing = True
            time.sleep(DRAIN_LAST_LOOK_DELAY)  # POSTs that trusted the flag commit before the look
            continue
        if flag is not None:  # without a flag every POST has a drain of its own: no need to wait
            time.sleep(max(0.0, started + DRAIN_POLL_SECONDS - time.monotonic()))
    _enqueue_drain()
    return done


def _enqueue_drain() -> None:
    async_task(TASK, task_name="onesend-webhooks", save=False, broker=_broker())


@functools.cache
def _broker():
    """One broker per process (``async_task`` would otherwise connect anew for every task)."""
    return get_broker()


def _drain_flag():
    """The broker's Redis client, or None with another broker (every POST then enqueues a drain:
    correct, only less economical)."""
    try:
        from django_q.brokers.redis_broker import Redis
    except ImportError:  # the redis package is not installed
        return None
    broker = _broker()
    return broker.connection if isinstance(broker, Redis) else None


def _flag_key() -> str:
    return DRAIN_FLAG.format(name=Conf.PREFIX)


def catch_up() -> None:
    """The minute tick's part: a drain for what one that died left behind, or for a failed
    delivery's or event's retry come due."""
    if (
        WebhookDelivery.objects.filter(state=WebhookDelivery.State.RECEIVED).exists()
        or WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING).exists()
        or dispatch.due(WebhookDelivery).exists()
        or dispatch.due(WebhookEvent).exists()
    ):
        enqueue_webhook_processing()
