"""The webhook inbox: store every delivery raw, split it into deduplicated events, process them.

Storing comes first and is cheap (it runs inside Meta's request); processing runs in a django-q2
worker, so a slow handler never makes Meta time out and redeliver.
"""

from __future__ import annotations

import json
import logging
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from . import handlers
from .hooks import plugins
from .messenger import events as meta_events
from .models import MessengerPage, MetaApp, WebhookDelivery, WebhookEvent

logger = logging.getLogger(__name__)

# Request headers worth keeping with the raw body (signature headers prove what we verified).
KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Hub-Signature", "X-Hub-Signature-256")


def store_delivery(app: MetaApp, body: bytes, headers) -> WebhookDelivery:
    """Persist one verified POST and its events. Returns the delivery (``state`` tells whether
    it was malformed). Events already seen (same dedupe key) are not stored again."""
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(app=app, body=body, headers=kept)
        try:
            parsed = meta_events.parse_payload(json.loads(body))
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and MalformedPayload
            delivery.state = WebhookDelivery.State.MALFORMED
            delivery.error = f"{type(exc).__name__}: {exc}"
            delivery.save(update_fields=["state", "error"])
            logger.warning("Malformed webhook %s kept unprocessed: %s", delivery.pk, delivery.error)
            return delivery
        _store_events(delivery, parsed)
    return delivery


def _store_events(delivery: WebhookDelivery, parsed: list[meta_events.MessagingEvent]) -> None:
    page_ids = {event.page_id for event in parsed}
    pages = {page.page_id: page for page in MessengerPage.objects.filter(page_id__in=page_ids)}
    rows = [
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
            state=WebhookEvent.State.PENDING if event.page_id in pages else WebhookEvent.State.UNKNOWN_PAGE,
        )
        for event in parsed
    ]
    WebhookEvent.objects.bulk_create(rows, ignore_conflicts=True)
    unknown = page_ids - set(pages)
    if unknown:
        logger.warning("Webhook %s has events for unknown Page(s) %s (kept)", delivery.pk, sorted(unknown))
    if pages:
        MessengerPage.objects.filter(pk__in=[p.pk for p in pages.values()]).update(
            last_webhook_at=timezone.now()
        )


def process_delivery(delivery_id: UUID | str) -> int:
    """Process the pending events of one delivery, each at most once. Returns how many were
    processed here (another worker may have taken some)."""
    done = 0
    pending = (
        WebhookEvent.objects.filter(delivery_id=delivery_id, state=WebhookEvent.State.PENDING)
        .select_related("page")
        .order_by("timestamp", "id")
    )
    for row in pending:
        event = meta_events.parse_item(row.payload, row.page_external_id, standby=row.standby)
        try:
            with transaction.atomic():
                claimed = WebhookEvent.objects.filter(pk=row.pk, state=WebhookEvent.State.PENDING).update(
                    state=WebhookEvent.State.PROCESSED, processed_at=timezone.now(), error=""
                )
                if not claimed:
                    continue
                handlers.handle(event, row.page)
        except Exception as exc:  # keep the event, flag it, go on with the rest
            logger.exception("Processing webhook event %s failed", row.pk)
            WebhookEvent.objects.filter(pk=row.pk).update(
                state=WebhookEvent.State.FAILED, error=f"{type(exc).__name__}: {exc}"
            )
            continue
        done += 1
        _notify_plugins(event, row.page)
    WebhookDelivery.objects.filter(pk=delivery_id, state=WebhookDelivery.State.RECEIVED).update(
        state=WebhookDelivery.State.PROCESSED
    )
    return done


def _notify_plugins(event: meta_events.MessagingEvent, page: MessengerPage) -> None:
    """After commit: a broken plugin must not undo (or block) onesend's own processing."""
    try:
        plugins.webhook_event_processed(event=event, page=page)
    except Exception:
        logger.exception("A plugin failed on webhook event %s", event.dedupe_key)
