"""Webhook processing in batches: the endpoint only stores the raw body; workers drain stored
deliveries many at a time, with receipts applied in bulk, and the counts stay exact."""

import json
import random
import threading
import uuid
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from onesend_plugin import analytics, tasks
from onesend_plugin.inbox import dispatch, drain, storage
from onesend_plugin.messenger.events import parse_item
from onesend_plugin.models import CampaignStat, Delivery, Subscriber, WebhookDelivery, WebhookEvent

from . import payloads
from .factories import CampaignFactory, SubscriberFactory

REDIS_URL = "redis://127.0.0.1:6379/15"
#: The drain is enqueued by this path (queued tasks outlive releases: it must keep resolving).
TASK = "onesend_plugin.tasks.process_webhooks"


def ms(at) -> int:
    return int(at.timestamp() * 1000)


def ledger(page, people: int, campaigns: int, start):
    """``people`` persons who each received ``campaigns`` campaigns, ten minutes apart."""
    subscribers = [SubscriberFactory(page=page, psid=str(100 + i)) for i in range(people)]
    sent = [CampaignFactory(page=page) for _ in range(campaigns)]
    Delivery.objects.bulk_create(
        Delivery(campaign=c, subscriber=s, page=page, psid=s.psid, state=Delivery.State.SENT,
                 sent_at=start + timedelta(minutes=10 * n), message_id=f"m_{c.pk}_{s.psid}")
        for n, c in enumerate(sent) for s in subscribers
    )  # fmt: skip
    return subscribers, sent


def receipts(page, subscribers, sent, start, rng):
    """Deliveries (some with mids) and reads at random watermarks, each of them twice."""
    items = []
    for s in subscribers:
        for _ in range(3):
            at = start + timedelta(minutes=rng.randrange(-5, 10 * len(sent) + 5))
            mids = [f"m_{rng.choice(sent).pk}_{s.psid}"] if rng.random() < 0.3 else None
            items.append(payloads.delivery(page.page_id, s.psid, ms(at), mids=mids))
            items.append(
                payloads.read(page.page_id, s.psid, ms(at - timedelta(minutes=rng.randrange(0, 15))))
            )
    return items * 2


def snapshot():
    rows = list(Delivery.objects.order_by("id").values_list("delivered_at", "read_at"))
    people = list(Subscriber.objects.order_by("id").values_list("delivered_watermark", "read_watermark"))
    stats = set(CampaignStat.objects.values_list("campaign_id", "name", "value"))
    return rows, people, stats


def reset():
    Delivery.objects.update(delivered_at=None, read_at=None)
    Subscriber.objects.update(delivered_watermark=None, read_watermark=None)
    CampaignStat.objects.all().delete()


def apply(page, events) -> None:
    analytics.record_receipts(
        page,
        deliveries=[(e.psid, e.watermark, e.mids) for e in events if e.kind == "delivery"],
        reads=[(e.psid, e.watermark) for e in events if e.kind == "read"],
    )


@pytest.mark.django_db
def test_a_batch_of_receipts_gives_what_one_by_one_gives(page):
    """A batch equals the receipts applied one by one in time order; in any other order the
    timestamps may differ (a later watermark came first), never the counts."""
    start = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    subscribers, sent = ledger(page, people=6, campaigns=4, start=start)
    events = [
        parse_item(item, page.page_id) for item in receipts(page, subscribers, sent, start, random.Random(7))
    ]
    random.Random(3).shuffle(events)
    apply(page, events)
    batch = snapshot()
    assert any(value for value, _ in batch[0])  # the data covers something...
    assert any(value is None for value, _ in batch[0])  # ...but not everything
    reset()
    for event in sorted(events, key=lambda e: e.watermark):
        apply(page, [event])
    assert snapshot() == batch
    reset()
    for event in events:
        apply(page, [event])
    rows, _, stats = snapshot()
    totals = {s for s in stats if "@" not in s[1]}  # hourly buckets follow the watermark that won
    assert totals == {s for s in batch[2] if "@" not in s[1]}
    assert [(a is None, b is None) for a, b in rows] == [(a is None, b is None) for a, b in batch[0]]


@pytest.mark.django_db
def test_stored_deliveries_are_drained_in_batches_exactly(post_webhook, page, monkeypatch):
    monkeypatch.setattr(drain, "enqueue_webhook_processing", lambda: None)  # no worker yet
    monkeypatch.setattr(dispatch, "BATCH_DELIVERIES", 4)
    start = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    subscribers, sent = ledger(page, people=5, campaigns=3, start=start)
    items = receipts(page, subscribers, sent, start, random.Random(11))
    for i in range(0, len(items), 3):  # replays and duplicates included, three events per POST
        assert (
            post_webhook(page.app, payloads.body(payloads.entry(page.page_id, *items[i : i + 3]))).status_code
            == 200
        )
    post_webhook(page.app, b"not json")
    assert not WebhookEvent.objects.exists()  # the request stored the raw bodies, nothing else
    assert WebhookDelivery.objects.filter(state="received").count() == -(-len(items) // 3) + 1

    assert tasks.process_webhooks() > 0
    states = dict(WebhookDelivery.objects.values_list("state").annotate(n=Count("id")))
    assert states == {"processed": -(-len(items) // 3), "malformed": 1}
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}
    assert WebhookEvent.objects.count() == len({parse_item(item, page.page_id).dedupe_key for item in items})
    delivered = Delivery.objects.filter(delivered_at__isnull=False).count()
    read = Delivery.objects.filter(read_at__isnull=False).count()
    assert sum(analytics.stats(c).get("delivered", 0) for c in sent) == delivered > 0
    assert sum(analytics.stats(c).get("read", 0) for c in sent) == read > 0


@pytest.mark.django_db
def test_one_drain_at_a_time_and_nothing_is_stranded(post_webhook, page, monkeypatch):
    """With the Redis broker, a flag says a drain runs: POSTs meanwhile enqueue nothing. The drain
    clears it before its last look, so a POST after that enqueues a new one."""
    client = redis.Redis.from_url(REDIS_URL)
    key = f"onesend-test-drain-{uuid.uuid4().hex}"  # unique: suites run at once share Redis
    client.delete(key)
    enqueued = []
    monkeypatch.setattr(drain, "_drain_flag", lambda: client)
    monkeypatch.setattr(drain, "_flag_key", lambda: key)
    monkeypatch.setattr(drain, "DRAIN_LINGER_SECONDS", 0)
    monkeypatch.setattr(drain, "async_task", lambda func, *args, **kwargs: enqueued.append(func))
    try:
        for psid in ("1", "2", "3"):
            post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, psid, "hi")))
        assert enqueued == [TASK]  # one drain for the three POSTs
        assert tasks.process_webhooks() == 6  # three deliveries, three events
        assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}
        assert not client.exists(key)  # idle: the next POST starts a drain
        post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "4", "hi")))
        assert enqueued == [TASK] * 2
    finally:
        client.delete(key)


@pytest.mark.django_db
def test_posts_that_saw_the_flag_skip_redis_until_the_drains_last_look(post_webhook, page, monkeypatch):
    """The drain waits ``DRAIN_LAST_LOOK_DELAY`` between clearing its flag and its last look, so a
    process that saw the flag that recently needs not ask Redis: what it commits is looked at."""
    client = redis.Redis.from_url(REDIS_URL)
    key = f"onesend-test-drain-trust-{uuid.uuid4().hex}"
    client.delete(key)
    log = []

    class Flag:  # the broker's Redis, with a log of what is asked
        def set(self, *args, **kwargs):
            log.append("set")
            return client.set(*args, **kwargs)

        def delete(self, *args):
            log.append("delete")
            return client.delete(*args)

    process_pending = dispatch.process_pending
    monkeypatch.setattr(dispatch, "process_pending", lambda: log.append("look") or process_pending())
    monkeypatch.setattr(drain.time, "sleep", lambda seconds: log.append(f"sleep {seconds}"))
    monkeypatch.setattr(drain, "_drain_flag", Flag)
    monkeypatch.setattr(drain, "_flag_key", lambda: key)
    monkeypatch.setattr(drain, "DRAIN_LINGER_SECONDS", 0)
    monkeypatch.setattr(drain, "async_task", lambda func, *args, **kwargs: log.append("enqueue"))
    try:
        for psid in ("1", "2", "3"):
            post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, psid, "hi")))
        assert log == ["set", "enqueue"]  # the 2nd and 3rd POST trusted the flag the 1st one set
        log.clear()
        assert tasks.process_webhooks() == 6
        assert log[-4:] == ["look", "delete", f"sleep {drain.DRAIN_LAST_LOOK_DELAY}", "look"]
        drain._flag_trusted_until = 0.0  # the delay is over: the next POST asks again
        log.clear()
        post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "4", "hi")))
        assert log == ["set", "enqueue"]
    finally:
        client.delete(key)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks (SKIP LOCKED) are PostgreSQL's")
def test_concurrent_drains_process_each_event_once(page, monkeypatch):
    monkeypatch.setattr(dispatch, "BATCH_DELIVERIES", 3)
    start = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    subscribers, sent = ledger(page, people=8, campaigns=2, start=start)
    items = receipts(page, subscribers, sent, start, random.Random(5))
    for i in range(0, len(items), 2):
        body = json.dumps(payloads.body(payloads.entry(page.page_id, *items[i : i + 2]))).encode()
        storage.store_delivery(page.app_id, body, {})
    errors = []

    def work():
        try:
            while dispatch.process_pending():
                pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=work) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    assert not WebhookDelivery.objects.filter(state="received").exists()
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}
    delivered = Delivery.objects.filter(delivered_at__isnull=False).count()
    read = Delivery.objects.filter(read_at__isnull=False).count()
    assert sum(analytics.stats(c).get("delivered", 0) for c in sent) == delivered > 0
    assert sum(analytics.stats(c).get("read", 0) for c in sent) == read > 0


@pytest.mark.django_db
def test_the_minute_tick_restarts_a_drain_that_died(page, monkeypatch):
    enqueued = []
    monkeypatch.setattr(drain, "_drain_flag", lambda: None)
    monkeypatch.setattr(drain, "async_task", lambda func, *args, **kwargs: enqueued.append(func))
    tasks.tick()
    assert enqueued == []
    storage.store_delivery(
        page.app_id,
        json.dumps(payloads.one(page.page_id, payloads.message(page.page_id, "1", "hi"))).encode(),
        {},
    )
    tasks.tick()
    assert enqueued == [TASK]


@pytest.mark.django_db
def test_a_backlog_gets_a_second_drain(post_webhook, page, monkeypatch):
    client = redis.Redis.from_url(REDIS_URL)
    key = f"onesend-test-drain-backlog-{uuid.uuid4().hex}"
    client.delete(key, f"{key}:help")
    enqueued = []
    monkeypatch.setattr(drain, "_drain_flag", lambda: client)
    monkeypatch.setattr(drain, "_flag_key", lambda: key)
    monkeypatch.setattr(drain, "DRAIN_LINGER_SECONDS", 0)
    monkeypatch.setattr(drain, "async_task", lambda func, *args, **kwargs: enqueued.append(func))
    monkeypatch.setattr(dispatch, "BATCH_DELIVERIES", 2)
    try:
        for psid in ("1", "2", "3", "4", "5"):
            post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, psid, "hi")))
        assert enqueued == [TASK]
        tasks.process_webhooks()  # full batches: one helper (not one per batch)
        assert enqueued == [TASK] * 2
        assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}
    finally:
        client.delete(key, f"{key}:help")
