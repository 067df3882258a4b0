"""The webhook inbox: store every delivery raw, split it into deduplicated events, process them.

Inside Meta's request only the raw body is stored (one INSERT, the signature having been checked):
nothing else can make Meta time out and redeliver. Workers then take stored deliveries in
batches, oldest first: they split them into events (a replayed event's dedupe key exists
already, so it is dropped), and process the batch's events in one transaction, so a burst of
small POSTs costs a few transactions rather than several per event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from . import handlers
from .hooks import plugins
from .messenger import events as meta_events
from .models import MessengerPage, MetaApp, WebhookDelivery, WebhookEvent

logger = logging.getLogger(__name__)

# A batch: enough to make per-transaction costs (a commit waits for the disk) negligible, small
# enough to keep a worker's transaction short.
BATCH_DELIVERIES = 200
BATCH_EVENTS = 2000

# Request headers worth keeping with the raw body (signature headers prove what we verified).
KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Hub-Signature", "X-Hub-Signature-256")


def store_delivery(app: MetaApp, body: bytes, headers) -> WebhookDelivery:
    """Persist one verified POST, byte for byte (a single INSERT: it runs inside Meta's request)."""
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    return WebhookDelivery.objects.create(app=app, body=body, headers=kept)


def process_pending() -> int:
    """Split up to ``BATCH_DELIVERIES`` stored deliveries into events, oldest first, and process up
    to ``BATCH_EVENTS`` pending events, all in one transaction (rows another worker holds are skipped), each event at most
    once. Returns how many deliveries and events were taken: 0 means nothing was left."""
    with transaction.atomic():
        deliveries = list(
            WebhookDelivery.objects.filter(state=WebhookDelivery.State.RECEIVED)
            .select_for_update(skip_locked=True)
            .order_by("received_at")[:BATCH_DELIVERIES]
        )
        _split(deliveries)
        rows = list(
            WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("page")
            .order_by("received_at", "id")[:BATCH_EVENTS]
        )
        done = _process(rows)
        WebhookDelivery.objects.filter(
            pk__in=[d.pk for d in deliveries if d.state == WebhookDelivery.State.RECEIVED]
        ).update(state=WebhookDelivery.State.PROCESSED)
    for event, page in done:  # after commit: a broken plugin must not undo (or block) processing
        _notify_plugins(event, page)
    return len(deliveries) + len(rows)


def _split(deliveries: list[WebhookDelivery]) -> None:
    """Store the deliveries' events (new ones only: the dedupe key is unique); a body that is not
    Meta's JSON is kept and flagged malformed."""
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
    page_ids = {event.page_id for _, event in parsed}
    pages = {page.page_id: page for page in MessengerPage.objects.filter(page_id__in=page_ids)}
    WebhookEvent.objects.bulk_create(
        [
            WebhookEvent(
                delivery=delivery,
                page=pages.get(event.page_id),
                page_external_id=event.page_id,
                kind=event.kind,
                standby=event.standby,
                psid=event.psid or "",
                timestamp=event.timestamp,
                dedupe_key=event.dedupe_key,
                payload=event.raw,
                state=WebhookEvent.State.PENDING
                if event.page_id in pages
                else WebhookEvent.State.UNKNOWN_PAGE,
            )
            for delivery, event in parsed
        ],
        ignore_conflicts=True,
    )
    unknown = page_ids - set(pages)
    if unknown:
        logger.warning("Webhook events for unknown Page(s) %s kept", sorted(unknown))
    if pages:
        MessengerPage.objects.filter(pk__in=[p.pk for p in pages.values()]).update(
            last_webhook_at=max(d.received_at for d in deliveries)
        )


def _process(rows: list[WebhookEvent]) -> list[tuple[meta_events.MessagingEvent, MessengerPage]]:
    """Receipts of a Page together, other events one by one in time order; each in a savepoint,
    so a failing event is flagged and the others go on. Returns what was processed."""
    rows.sort(key=lambda row: (row.timestamp is None, row.timestamp or row.received_at, row.pk))
    done: list[tuple[WebhookEvent, meta_events.MessagingEvent]] = []
    receipts: dict[int, list[tuple[WebhookEvent, meta_events.MessagingEvent]]] = {}
    for row in rows:
        event = meta_events.parse_item(row.payload, row.page_external_id, standby=row.standby)
        if handlers.is_receipt(event):
            receipts.setdefault(row.page_id, []).append((row, event))
        elif _attempt(row, handlers.handle, event, row.page):
            done.append((row, event))
    for items in receipts.values():
        page = items[0][0].page
        if _attempt(None, handlers.handle_receipts, [e for _, e in items], page):
            done += items
        else:  # find the culprit: one by one
            done += [(row, e) for row, e in items if _attempt(row, handlers.handle_receipts, [e], page)]
    WebhookEvent.objects.filter(pk__in=[row.pk for row, _ in done]).update(
        state=WebhookEvent.State.PROCESSED, processed_at=timezone.now(), error=""
    )
    return [(event, row.page) for row, event in done]


def _attempt(row: WebhookEvent | None, handler: Callable, *args) -> bool:
    """Run a handler in a savepoint; on failure flag ``row`` (if given) and return False."""
    try:
        with transaction.atomic():
            handler(*args)
    except Exception as exc:
        if row is not None:
            logger.exception("Processing webhook event %s failed", row.pk)
            WebhookEvent.objects.filter(pk=row.pk).update(
                state=WebhookEvent.State.FAILED, error=f"{type(exc).__name__}: {exc}"
            )
        return False
    return True


def _notify_plugins(event: meta_events.MessagingEvent, page: MessengerPage) -> None:
    """After commit: a broken plugin must not undo (or block) onesend's own processing."""
    try:
        plugins.webhook_event_processed(event=event, page=page)
    except Exception:
        logger.exception("A plugin failed on webhook event %s", event.dedupe_key)
