"""Workers' side of the webhook inbox: stored deliveries split into deduplicated events, processed
in batches, failures retried with back-off."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from .. import bulk, conf, safejson
from ..hooks.listeners import Call
from ..messenger import events as meta_events
from ..models import MessengerPage, WebhookDelivery, WebhookEvent
from . import handlers, listeners

logger = logging.getLogger(__name__)

# A batch: enough to make per-transaction costs (a commit waits for the disk) negligible, small
# enough to keep a worker's transaction short.
BATCH_DELIVERIES = 200
BATCH_EVENTS = 2000
# ``MessengerPage.last_webhook_at`` is a health signal ("webhooks arrive"): this precise is enough.
PAGE_SEEN_EVERY = timedelta(seconds=10)
# A delivery or event whose processing failed is tried again after this pause, doubled at each
# attempt.
RETRY_FIRST_PAUSE_SECONDS = 30
ERROR_MAX_CHARS = 2000


@dataclass
class Item:
    """An event to process: ``pk`` of its row, whether that row still says pending (an event
    stored earlier: given back by ``onesend_reprocess``, or a retry) or was just inserted as
    processed, how many attempts failed before, and the subscriber hooks its handling calls for
    (``told``), called with the event's other listeners once the batch is committed."""

    pk: int
    event: meta_events.MessagingEvent
    page: MessengerPage
    pending: bool = False
    attempts: int = 0
    told: list[Call] = field(default_factory=list)


def process_pending() -> int:
    """Split up to ``BATCH_DELIVERIES`` stored deliveries (oldest first) into events and process the
    new ones, with up to ``BATCH_EVENTS`` events left pending earlier, all in one transaction: a
    crash undoes the whole batch, and the deliveries are taken again. Rows another worker holds
    are skipped. A batch that fails is taken again one delivery at a time, so that only the
    deliveries that fail alone are put aside for a later retry (``_put_aside``), and events whose
    handler failed too (``_attempt``). Retries come due are taken (one at a time, after the new
    deliveries) only while the batch has room: never ahead of newer work. Returns how many
    deliveries and events were taken: 0 means nothing was left."""
    State = WebhookDelivery.State
    with transaction.atomic():
        fresh = list(
            WebhookDelivery.objects.filter(state=State.RECEIVED)
            .select_for_update(skip_locked=True)
            .order_by("received_at")[:BATCH_DELIVERIES]
        )
        pending = WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING).order_by("received_at", "id")
        waiting = _event_items(pending, BATCH_EVENTS)
        retries = list(_locked(due(WebhookDelivery), BATCH_DELIVERIES - len(fresh)))
        event_retries = _event_items(due(WebhookEvent), BATCH_DELIVERIES - len(fresh) - len(retries))
        try:
            with transaction.atomic():
                items, done = _run(fresh, waiting)
        except Exception:
            logger.exception("A batch of %d webhook deliveries failed: taking them one by one", len(fresh))
            items, done = _one_by_one([[d] for d in fresh] + [waiting])
        retried = _one_by_one([[d] for d in retries] + [[item] for item in event_retries])
    for item in done + retried[1]:  # after commit: a broken plugin must not undo (or block) processing
        _notify_plugins(item)
    return len(fresh) + len(retries) + len(items) + len(retried[0])


def due(model: type[WebhookDelivery] | type[WebhookEvent]):
    """Deliveries or events whose retry has come due, first due first."""
    return model.objects.filter(state="retry", next_attempt_at__lte=timezone.now()).order_by(
        "next_attempt_at"
    )


def _locked(rows, limit: int):
    """Up to ``limit`` of ``rows`` (in their order), locked; those another worker holds skipped."""
    return rows.select_for_update(skip_locked=True, of=("self",))[: max(limit, 0)]


def _event_items(rows, limit: int) -> list[Item]:
    """Up to ``limit`` of ``rows``, events stored earlier and not processed yet, to process."""
    return [
        Item(
            row.pk,
            meta_events.parse_item(row.payload, row.page_external_id, standby=row.standby),
            row.page,
            True,
            row.attempts,
        )
        for row in _locked(rows.select_related("page"), limit)
    ]


def _run(deliveries: list[WebhookDelivery], waiting: list[Item]) -> tuple[list[Item], list[Item]]:
    """Split and process: (the events taken, those processed)."""
    items = _split(deliveries) + waiting
    done = _process(items)
    WebhookDelivery.objects.filter(
        pk__in=[d.pk for d in deliveries if d.state != WebhookDelivery.State.MALFORMED]
    ).update(state=WebhookDelivery.State.PROCESSED, error="", next_attempt_at=None)
    return items, done


def _one_by_one(units: list[list]) -> tuple[list[Item], list[Item]]:
    """Run each unit (one delivery, or events stored earlier) in a savepoint of its own: a unit that
    fails is put aside and the others go on. Returns what ``_run`` returns, for all of them."""
    items: list[Item] = []
    done: list[Item] = []
    for unit in filter(None, units):
        deliveries = [x for x in unit if isinstance(x, WebhookDelivery)]
        try:
            with transaction.atomic():
                taken, processed = _run(deliveries, [x for x in unit if isinstance(x, Item)])
        except Exception as exc:
            logger.exception("Webhook processing failed for %s", deliveries or "pending events")
            _put_aside(deliveries, [x for x in unit if isinstance(x, Item)], exc)
            continue
        items += taken
        done += processed
    return items, done


def _put_aside(deliveries: list[WebhookDelivery], waiting: list[Item], exc: Exception) -> None:
    """Deliveries, and events stored earlier, that failed together are each retried later."""
    for delivery in deliveries:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**_failed(delivery.attempts, exc))
    for item in waiting:
        WebhookEvent.objects.filter(pk=item.pk).update(processed_at=None, **_failed(item.attempts, exc))


def _failed(attempts: int, exc: Exception) -> dict:
    """A failed delivery's or event's new columns: retried after a pause that doubles each time,
    until ``WEBHOOK_MAX_ATTEMPTS`` attempts in all; then kept as failed, with its error (both
    models' states; ``onesend_reprocess`` gives failed ones back)."""
    attempts += 1
    final = attempts >= conf.get("WEBHOOK_MAX_ATTEMPTS")
    pause = timedelta(seconds=RETRY_FIRST_PAUSE_SECONDS * 2 ** (attempts - 1))
    return {
        "state": "failed" if final else "retry",
        "attempts": attempts,
        "error": _describe(exc),
        "next_attempt_at": None if final else timezone.now() + pause,
    }


def _describe(exc: Exception) -> str:
    """An exception as an error column holds it (a database error may quote a NUL it refused)."""
    return safejson.storable(f"{type(exc).__name__}: {exc}")[:ERROR_MAX_CHARS]


def _split(deliveries: list[WebhookDelivery]) -> list[Item]:
    """Store the deliveries' events, as processed (the batch's transaction makes that true or
    undoes it), and return the new ones: a replayed event's dedupe key exists already, so it is
    neither stored nor returned. A body that is not Meta's JSON is kept and flagged malformed.
    Events are matched only with Pages of the app whose secret signed their delivery."""
    parsed: list[tuple[WebhookDelivery, meta_events.MessagingEvent]] = []
    for delivery in deliveries:
        try:
            events = meta_events.parse_payload(safejson.loads(bytes(delivery.body)))
        except ValueError as exc:  # InvalidJSON and MalformedPayload
            delivery.state = WebhookDelivery.State.MALFORMED
            delivery.error = _describe(exc)
            delivery.save(update_fields=["state", "error"])
            logger.warning("Malformed webhook %s kept unprocessed: %s", delivery.pk, delivery.error)
            continue
        parsed += [(delivery, event) for event in events]
    if not parsed:
        return []
    pages = {
        (page.app_id, page.page_id): page
        for page in MessengerPage.objects.filter(page_id__in={event.page_id for _, event in parsed})
    }
    signed = {(delivery.app_id, event.page_id) for delivery, event in parsed}
    latest = max(d.received_at for d in deliveries)
    stale = [
        p.pk
        for key, p in pages.items()
        if key in signed and (not p.last_webhook_at or p.last_webhook_at < latest - PAGE_SEEN_EVERY)
    ]
    if stale:  # rarely: concurrent drains would otherwise queue on the Page row's lock
        MessengerPage.objects.filter(pk__in=stale).update(last_webhook_at=latest)
    rows = [Row(delivery, event, pages) for delivery, event in parsed]
    new = _insert_events(rows)
    return [  # pop: an event repeated within the batch is processed once
        Item(new.pop(row.event.dedupe_key), row.event, row.page)
        for row in rows
        if row.state == WebhookEvent.State.PROCESSED and row.event.dedupe_key in new
    ]


_MAX_LENGTHS = {
    name: WebhookEvent._meta.get_field(name).max_length
    for name in ("page_external_id", "kind", "psid", "dedupe_key")
}


class Row:
    """An event as its row will be stored: its Page (only one of the signing app), and a state
    other than processed when it cannot be processed — with the error that says why."""

    def __init__(self, delivery: WebhookDelivery, event: meta_events.MessagingEvent, pages: dict) -> None:
        self.delivery, self.event = delivery, event
        self.page = pages.get((delivery.app_id, event.page_id))
        self.values = {
            "page_external_id": event.page_id, "kind": event.kind, "psid": event.psid or "",
            "dedupe_key": event.dedupe_key,
        }  # fmt: skip
        too_long = [
            f"{name} has {len(value)} characters, at most {_MAX_LENGTHS[name]} fit"
            for name, value in self.values.items()
            if len(value) > _MAX_LENGTHS[name]
        ]
        State, self.error = WebhookEvent.State, "; ".join(too_long)
        if too_long:  # stored cut to fit; the payload keeps them whole
            self.state = State.INVALID
            self.values = {name: value[: _MAX_LENGTHS[name]] for name, value in self.values.items()}
        elif self.page is None:
            self.state = State.UNKNOWN_PAGE
            if any(key[1] == event.page_id for key in pages):
                self.error = f"Page {event.page_id} belongs to another Meta app than the one that signed"
        else:
            self.state = State.PROCESSED

    def as_tuple(self, now) -> tuple:
        processed = self.state == WebhookEvent.State.PROCESSED
        return (
            self.delivery.pk, self.page.pk if self.page else None, self.values["page_external_id"],
            self.values["kind"], self.event.standby, self.values["psid"], self.event.timestamp,
            self.values["dedupe_key"], self.event.raw, self.state, self.error, now if processed else None,
        )  # fmt: skip


EVENT_COLUMNS = ("delivery_id", "page_id", "page_external_id", "kind", "standby", "psid", "timestamp",
                 "dedupe_key", "payload", "state", "error", "processed_at")  # fmt: skip


def _insert_events(rows: list[Row]) -> dict[str, int]:
    """``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING``: {dedupe key: id} of the events
    that are new (PostgreSQL and SQLite ≥ 3.35 both speak it)."""
    table, now, new = WebhookEvent._meta.db_table, timezone.now(), {}
    fields = {field.column: field for field in WebhookEvent._meta.concrete_fields}
    columns = [(name, fields[name]) for name in EVENT_COLUMNS]
    for start in range(0, len(rows), 1000):
        source, params = bulk.rows_source(columns, [row.as_tuple(now) for row in rows[start : start + 1000]])
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
        else:
            item.told = []  # a batch taken again one by one handles its events again
            if _attempt(item, handlers.handle, item.event, item.page, item.told):
                done.append(item)
    for batch in receipts.values():
        if _attempt(None, handlers.handle_receipts, [i.event for i in batch], batch[0].page):
            done += batch
        else:  # find the culprit: one by one
            done += [i for i in batch if _attempt(i, handlers.handle_receipts, [i.event], i.page)]
    WebhookEvent.objects.filter(pk__in=[i.pk for i in done if i.pending]).update(
        state=WebhookEvent.State.PROCESSED, processed_at=timezone.now(), error="", next_attempt_at=None
    )
    return done


def _attempt(item: Item | None, handler: Callable, *args) -> bool:
    """Run a handler in a savepoint; on failure put ``item``'s row (if given) aside for a retry
    and return False."""
    try:
        with transaction.atomic():
            handler(*args)
    except Exception as exc:
        if item is not None:
            logger.exception("Processing webhook event %s failed", item.pk)
            WebhookEvent.objects.filter(pk=item.pk).update(processed_at=None, **_failed(item.attempts, exc))
        return False
    return True


def _notify_plugins(item: Item) -> None:
    """After commit, so a broken plugin can't undo (or block) onesend's own processing: its
    failure is recorded on the event and retried (``listeners``). Anything else going wrong
    there is logged, and the other events' listeners are still called."""
    try:
        listeners.notify(item.pk, item.event, item.page, item.told)
    except Exception:
        logger.exception("Telling plugins about webhook event %s failed", item.event.dedupe_key)
