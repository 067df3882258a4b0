"""The webhook inbox: store every delivery raw, split it into deduplicated events, process them.

Inside Meta's request only the raw body is stored (one INSERT, the signature having been checked):
nothing else can make Meta time out and redeliver. Workers then take stored deliveries in
batches, oldest first: they split them into events (a replayed event's dedupe key exists
already, so it is dropped), and process the batch's events in one transaction, so a burst of
small POSTs costs a few transactions rather than several per event.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from . import bulk, handlers
from .hooks import plugins
from .messenger import events as meta_events
from .messenger import signature
from .models import MessengerPage, MetaApp, WebhookDelivery, WebhookEvent

logger = logging.getLogger(__name__)

# A batch: enough to make per-transaction costs (a commit waits for the disk) negligible, small
# enough to keep a worker's transaction short.
BATCH_DELIVERIES = 200
BATCH_EVENTS = 2000
# ``MessengerPage.last_webhook_at`` is a health signal ("webhooks arrive"): this precise is enough.
PAGE_SEEN_EVERY = timedelta(seconds=10)

# Request headers worth keeping with the raw body (signature headers prove what we verified).
KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Hub-Signature", "X-Hub-Signature-256")


# Apps' secrets as each web process last read them, for at most APP_CACHE_SECONDS: reading the app
# was a third of a webhook POST's CPU. A signature the cached secret refuses is checked again with
# the secret read anew, so a changed secret works at once; the old one stays accepted for at most
# that long after the change.
APP_CACHE_SECONDS = 10.0
_apps: dict[str, tuple[float, int, str]] = {}


def signed_app(app_id: str, body: bytes, header: str | None) -> int | None:
    """The pk of the Meta app ``app_id`` if ``header`` signs ``body`` with its secret, else None.
    Raises ``MetaApp.DoesNotExist`` for an unknown app."""
    cached = _apps.get(app_id)
    if cached and time.monotonic() - cached[0] < APP_CACHE_SECONDS:
        if signature.is_valid(body, header, cached[2]):
            return cached[1]
    pk, secret = MetaApp.objects.values_list("pk", "app_secret").get(app_id=app_id)
    _apps[app_id] = (time.monotonic(), pk, secret)
    return pk if signature.is_valid(body, header, secret) else None


def store_delivery(app_pk: int, body: bytes, headers) -> None:
    """Persist one verified POST, byte for byte: one INSERT, inside Meta's request. The statement
    is built once per process (the ORM's ``create()`` compiled it anew each time); ``received_at``
    is the database's clock (its column default), the same for every web host."""
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    values = (uuid.uuid4(), app_pk, body, kept, WebhookDelivery.State.RECEIVED, "")
    fields, sql = _delivery_insert(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)])


@functools.cache
def _delivery_insert(vendor: str) -> tuple[list, str]:
    fields = [WebhookDelivery._meta.get_field(name) for name in ("id", "app", "body", "headers", "state", "error")]  # fmt: skip
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return fields, f"INSERT INTO {WebhookDelivery._meta.db_table} ({columns}) VALUES ({placeholders})"


@dataclass
class Item:
    """An event to process: ``pk`` of its row, and whether that row still says pending (an event
    stored earlier, e.g. given back by ``onesend_reprocess``) or was just inserted as processed."""

    pk: int
    event: meta_events.MessagingEvent
    page: MessengerPage
    pending: bool = False


def process_pending() -> int:
    """Split up to ``BATCH_DELIVERIES`` stored deliveries (oldest first) into events and process the
    new ones, with up to ``BATCH_EVENTS`` events left pending earlier, all in one transaction: a
    crash undoes the whole batch, and the deliveries are taken again. Rows another worker holds
    are skipped. Returns how many deliveries and events were taken: 0 means nothing was left."""
    with transaction.atomic():
        deliveries = list(
            WebhookDelivery.objects.filter(state=WebhookDelivery.State.RECEIVED)
            .select_for_update(skip_locked=True)
            .order_by("received_at")[:BATCH_DELIVERIES]
        )
        items = _split(deliveries)
        waiting = (
            WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("page")
            .order_by("received_at", "id")[:BATCH_EVENTS]
        )
        items += [
            Item(
                row.pk,
                meta_events.parse_item(row.payload, row.page_external_id, standby=row.standby),
                row.page,
                True,
            )
            for row in waiting
        ]
        done = _process(items)
        WebhookDelivery.objects.filter(
            pk__in=[d.pk for d in deliveries if d.state == WebhookDelivery.State.RECEIVED]
        ).update(state=WebhookDelivery.State.PROCESSED)
    for item in done:  # after commit: a broken plugin must not undo (or block) processing
        _notify_plugins(item.event, item.page)
    return len(deliveries) + len(items)


def _split(deliveries: list[WebhookDelivery]) -> list[Item]:
    """Store the deliveries' events, as processed (the batch's transaction makes that true or
    undoes it), and return the new ones: a replayed event's dedupe key exists already, so it is
    neither stored nor returned. A body that is not Meta's JSON is kept and flagged malformed."""
    parsed: list[tuple[WebhookDelivery, meta_events.MessagingEvent]] = []
    for delivery in deliveries:
        try:
            events = meta_events.parse_payload(json.loads(bytes(delivery.body)))
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and MalformedPayload
            delivery.state = WebhookDelivery.State.MALFORMED
            delivery.error = f"{type(exc).__name__}: {exc}"
            delivery.save(update_fields=["state", "error"])
            logger.warning("Malformed webhook %s kept unprocessed: %s", delivery.pk, delivery.error)
            continue
        parsed += [(delivery, event) for event in events]
    if not parsed:
        return []
    page_ids = {event.page_id for _, event in parsed}
    pages = {page.page_id: page for page in MessengerPage.objects.filter(page_id__in=page_ids)}
    unknown = page_ids - set(pages)
    if unknown:
        logger.warning("Webhook events for unknown Page(s) %s kept", sorted(unknown))
    latest = max(d.received_at for d in deliveries)
    stale = [
        p.pk for p in pages.values() if not p.last_webhook_at or p.last_webhook_at < latest - PAGE_SEEN_EVERY
    ]
    if stale:  # rarely: concurrent drains would otherwise queue on the Page row's lock
        MessengerPage.objects.filter(pk__in=stale).update(last_webhook_at=latest)
    new = _insert_events(parsed, pages)
    return [  # pop: an event repeated within the batch is processed once
        Item(new.pop(e.dedupe_key), e, pages[e.page_id])
        for _, e in parsed
        if e.dedupe_key in new and e.page_id in pages
    ]


EVENT_COLUMNS = ("delivery_id", "page_id", "page_external_id", "kind", "standby", "psid", "timestamp",
                 "dedupe_key", "payload", "state", "error", "processed_at")  # fmt: skip


def _insert_events(parsed, pages: dict[str, MessengerPage]) -> dict[str, int]:
    """``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING``: {dedupe key: id} of the events
    that are new (PostgreSQL and SQLite ≥ 3.35 both speak it)."""
    table, now, new = WebhookEvent._meta.db_table, timezone.now(), {}
    fields = {field.column: field for field in WebhookEvent._meta.concrete_fields}
    columns = [(name, fields[name]) for name in EVENT_COLUMNS]
    State = WebhookEvent.State
    for start in range(0, len(parsed), 1000):
        rows = []
        for delivery, event in parsed[start : start + 1000]:
            page = pages.get(event.page_id)
            rows.append((
                delivery.pk, page.pk if page else None, event.page_id, event.kind, event.standby,
                event.psid or "", event.timestamp, event.dedupe_key, event.raw,
                State.PROCESSED if page else State.UNKNOWN_PAGE, "", now if page else None,
            ))  # fmt: skip
        source, params = bulk.rows_source(columns, rows)
        with connection.cursor() as cursor:
            cursor.execute(  # "WHERE true": SQLite's parser needs it before an upsert clause
                f"INSERT INTO {table} ({', '.join(EVENT_COLUMNS)}) SELECT {', '.join(EVENT_COLUMNS)} "
                f"FROM {source} WHERE true ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
                params,
            )
            new.update((key, pk) for pk, key in cursor.fetchall())
    return new


def _process(items: list[Item]) -> list[Item]:
    """Receipts of a Page together, other events one by one in time order; each in a savepoint,
    so a failing event is flagged and the others go on. Returns what was processed."""
    items.sort(
        key=lambda item: (item.event.timestamp is None, item.event.timestamp or timezone.now(), item.pk)
    )
    done: list[Item] = []
    receipts: dict[int, list[Item]] = {}
    for item in items:
        if handlers.is_receipt(item.event) and item.page is not None:
            receipts.setdefault(item.page.pk, []).append(item)
        elif _attempt(item, handlers.handle, item.event, item.page):
            done.append(item)
    for batch in receipts.values():
        if _attempt(None, handlers.handle_receipts, [i.event for i in batch], batch[0].page):
            done += batch
        else:  # find the culprit: one by one
            done += [i for i in batch if _attempt(i, handlers.handle_receipts, [i.event], i.page)]
    WebhookEvent.objects.filter(pk__in=[i.pk for i in done if i.pending]).update(
        state=WebhookEvent.State.PROCESSED, processed_at=timezone.now(), error=""
    )
    return done


def _attempt(item: Item | None, handler: Callable, *args) -> bool:
    """Run a handler in a savepoint; on failure flag ``item``'s row (if given) and return False."""
    try:
        with transaction.atomic():
            handler(*args)
    except Exception as exc:
        if item is not None:
            logger.exception("Processing webhook event %s failed", item.pk)
            WebhookEvent.objects.filter(pk=item.pk).update(
                state=WebhookEvent.State.FAILED, error=f"{type(exc).__name__}: {exc}", processed_at=None
            )
        return False
    return True


def _notify_plugins(event: meta_events.MessagingEvent, page: MessengerPage) -> None:
    """After commit: a broken plugin must not undo (or block) onesend's own processing."""
    try:
        plugins.webhook_event_processed(event=event, page=page)
    except Exception:
        logger.exception("A plugin failed on webhook event %s", event.dedupe_key)
