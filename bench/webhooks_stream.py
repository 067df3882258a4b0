"""The webhook benchmark's event stream and its two subprocesses (``bench/webhooks.py``):

    python bench/webhooks_stream.py seed <recipients>     # the template database's ledger
    python bench/webhooks_stream.py load '<options>'      # the load generator

The stream is deterministic, so the seeder, the load generator and the checks share it:
deliveries in sending order, reads trailing ``READ_LAG`` recipients behind. The seeder prints
``SEED <json>``; the load generator builds its signed requests, prints ``READY``, sends them (raw
HTTP/1.1 over asyncio) and prints ``RESULT <json>``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime

APP_ID, APP_SECRET, PAGE_ID = "910000000000001", "bench-app-secret-0123456789abcdef", "104000000000001"
PSID_BASE = 7_100_000_000_000_000
ENTRY_ITEMS = 4  # messaging[] items per entry[]: a batched body has several entries
READ_LAG = 1000

# -- The event stream (deterministic: the seeder, the load generator and the checks share it) ----


def stream_order(recipients: int) -> list[tuple[str, int]]:
    """(kind, recipient) of every event in sending order: deliveries, reads trailing behind."""
    lag, order = min(READ_LAG, recipients), []
    for j in range(recipients + lag):
        if j < recipients:
            order.append(("delivery", j))
        if j >= lag:
            order.append(("read", j - lag))
    return order


def sent_ms(base_ms: int, recipients: int, i: int) -> int:
    return base_ms + (i * 60_000) // recipients  # the ledger's sent_at, spread over a minute


def event_item(kind: str, i: int, base_ms: int, recipients: int) -> dict:
    psid, at = str(PSID_BASE + i), sent_ms(base_ms, recipients, i)
    if kind == "delivery":  # Meta's message_deliveries: no timestamp, mids + watermark
        return {"sender": {"id": psid}, "recipient": {"id": PAGE_ID},
                "delivery": {"mids": [f"m_bench_{i}"], "watermark": at + 1000}}  # fmt: skip
    return {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": at + 3100,
            "read": {"watermark": at + 3000}}  # fmt: skip


def build_bodies(order, first: int, last: int, per_post: int, base_ms: int, recipients: int) -> list[bytes]:
    """Bodies of requests ``first``..``last - 1`` (request k carries events k*E .. k*E+E-1)."""
    bodies = []
    for k in range(first, last):
        items = [
            event_item(kind, i, base_ms, recipients) for kind, i in order[k * per_post : (k + 1) * per_post]
        ]
        entries = [
            {"id": PAGE_ID, "time": base_ms + 120_000 + k, "messaging": items[s : s + ENTRY_ITEMS]}
            for s in range(0, len(items), ENTRY_ITEMS)
        ]
        bodies.append(json.dumps({"object": "page", "entry": entries}, separators=(",", ":")).encode())
    return bodies


def expected(order, per_post: int, requests: int) -> dict:
    """What requests 0..requests-1 imply: a read implies delivery; one ledger row per recipient."""
    events = order[: requests * per_post]
    return {"events": len(events), "delivered": len({i for _, i in events}),
            "read": len({i for kind, i in events if kind == "read"})}  # fmt: skip


# -- The seeder and the load generator ------------------------------------------------------------


def seed_main(recipients: int) -> None:
    import django

    django.setup()
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from onesend_plugin import models as m

    base = (timezone.now() - timedelta(minutes=10)).replace(microsecond=0)
    account = m.Account.objects.create(name="Bench", slug="bench-webhooks", timezone="UTC")
    app = m.MetaApp.objects.create(name="Bench", app_id=APP_ID, app_secret=APP_SECRET, verify_token="v")
    page = m.MessengerPage.objects.create(
        account=account, app=app, page_id=PAGE_ID, name="Bench", access_token="t"
    )
    campaign = m.Campaign.objects.create(
        name="Bench webhooks", page=page, text="Summer sale", live=True, status=m.Campaign.Status.FINISHED,
        audience_size=recipients, started_at=base, finished_at=base + timedelta(minutes=1),
    )  # fmt: skip
    base_ms = int(base.timestamp() * 1000)
    subscribers = m.Subscriber.objects.bulk_create(
        [m.Subscriber(page=page, psid=str(PSID_BASE + i), status=m.Subscriber.Status.SUBSCRIBED, timezone="UTC",
                    opted_in_at=base - timedelta(days=1)) for i in range(recipients)],
        batch_size=5000,
    )  # fmt: skip
    m.Delivery.objects.bulk_create(
        [m.Delivery(campaign=campaign, subscriber_id=s.pk, page=page, psid=s.psid, state=m.Delivery.State.SENT,
                  attempts=1, message_id=f"m_bench_{i}",
                  sent_at=datetime.fromtimestamp(sent_ms(base_ms, recipients, i) / 1000, tz=UTC))
         for i, s in enumerate(subscribers)],
        batch_size=5000,
    )  # fmt: skip
    m.CampaignStat.objects.create(campaign=campaign, name="sent", value=recipients)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print("SEED " + json.dumps({"base_ms": base_ms}), flush=True)


def load_main(options: dict) -> None:
    """Build the signed requests, print READY, send them, print the result as JSON."""
    path, host = options.get("path") or f"/onesend/webhook/{APP_ID}/", f"127.0.0.1:{options['port']}"
    order = stream_order(options["recipients"])
    requests = []
    for body in build_bodies(order, options["first"], options["last"], options["per_post"],
                             options["base_ms"], options["recipients"]):  # fmt: skip
        digest = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        requests.append(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature-256: {digest}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    print("READY", flush=True)
    print("RESULT " + json.dumps(asyncio.run(send_all(requests, options))), flush=True)


async def exchange(port: int, request: bytes) -> int:
    """One request on a connection of its own (gunicorn's sync workers close it after answering)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = [
            int(v)
            for n, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
            if n.lower() == b"content-length"
        ]
        await reader.readexactly(length[0] if length else 0)
        return int(head.split(b" ", 2)[1])
    finally:
        writer.close()


async def send_all(requests: list[bytes], options: dict) -> dict:
    port, n = options["port"], len(requests)
    latency, status, done_at = [0.0] * n, [0] * n, [0.0] * n

    async def one(k: int, due: float) -> None:
        try:
            status[k] = await exchange(port, requests[k])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return
        done_at[k], latency[k] = time.time(), time.monotonic() - due

    started_wall, started = time.time(), time.monotonic()
    deadline, attempted = started + options["duration"], 0
    if options["rate"]:  # open loop: request k is due at t0 + k / rate, sent then whatever happens
        inflight: set[asyncio.Task] = set()
        t0 = started + 0.05
        for k in range(n):
            due = t0 + k / options["rate"]
            if due > deadline or len(inflight) > 1000:  # the server fell behind: stop, don't queue
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            task = asyncio.create_task(one(k, due))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
            attempted = k + 1
        if inflight:
            await asyncio.wait(inflight, timeout=60)
    else:  # closed loop: ``concurrency`` clients, each sends as soon as it has its answer

        async def client() -> None:
            nonlocal attempted
            while attempted < n and time.monotonic() < deadline:
                attempted += 1
                await one(attempted - 1, time.monotonic())

        await asyncio.gather(*(client() for _ in range(options["concurrency"])))
    elapsed = time.monotonic() - started
    ok = sorted(latency[k] for k in range(attempted) if status[k] == 200)
    first_failed = attempted - len(ok)
    for _ in range(3):  # Meta redelivers what was not answered 200: so do we (dedupe keeps it exact)
        failed = [k for k in range(attempted) if status[k] != 200]
        if not failed:
            break
        await asyncio.sleep(1.0)
        for k in failed:
            await one(k, time.monotonic())
    answered = [done_at[k] for k in range(attempted) if status[k] == 200]
    pct = {f"p{q}": 1000 * ok[min(len(ok) - 1, int(q / 100 * len(ok)))] for q in (50, 99)} if ok else {}
    return {
        "attempted": attempted, "ok": len(answered), "first_failed": first_failed, "elapsed_s": elapsed,
        "statuses": dict(Counter(status[:attempted])), "started_wall": started_wall,
        "last_ok_wall": max(answered, default=started_wall), "lat_ms": pct,
    }  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed_main(int(sys.argv[2]))
    else:
        load_main(json.loads(sys.argv[2]))
