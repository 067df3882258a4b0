"""What onesend does with each kind of webhook event. Runs inside the event's transaction, once
per distinct event (duplicates never reach here). ``told`` collects the subscriber hooks the
event calls for: the dispatcher calls them once the batch is committed, with the event's other
listeners (``listeners``)."""

from __future__ import annotations

from collections.abc import Callable

from .. import analytics
from ..analytics.balance import count_organic
from ..hooks.listeners import Call
from ..messenger import events as meta_events
from ..models import MessengerPage, Subscriber
from ..subscribe import store_audience, subscriptions

# Events the person caused: they open (or keep open) Meta's 24 h standard messaging window.
INTERACTION_KINDS = {"message", "postback", "referral"}
RECEIPT_KINDS = {"delivery", "read", "paid_delivery", "paid_read", "paid_click", "paid_failed"}


def handle(event: meta_events.MessagingEvent, page: MessengerPage, told: list[Call]) -> None:
    if event.kind in INTERACTION_KINDS and event.psid and event.timestamp:
        Subscriber.objects.filter(page=page, psid=event.psid).update(last_interaction_at=event.timestamp)
    if event.kind == "message" and event.timestamp:  # organic, for the dashboard's balance
        count_organic(page.pk, event.timestamp)
    handler = HANDLERS.get(event.kind)
    if handler and not event.standby:  # in standby another app owns the thread: don't reply
        handler(event, page, told)


def _opened_window(page: MessengerPage, event: meta_events.MessagingEvent) -> None:
    """Make sure the person exists with the interaction time (a first contact has no row yet)."""
    Subscriber.objects.get_or_create(
        page=page, psid=event.psid, defaults={"last_interaction_at": event.timestamp}
    )


def on_referral(event: meta_events.ReferralEvent, page: MessengerPage, told: list[Call]) -> None:
    """An m.me link or QR code opened in an existing thread."""
    _opened_window(page, event)
    subscriptions.offer_optin(
        page, event.psid, raw_ref=event.ref or "", entry_point=event.source or "SHORTLINK"
    )


def on_postback(event: meta_events.PostbackEvent, page: MessengerPage, told: list[Call]) -> None:
    """A button tap: our Unsubscribe button, or Get Started (a new thread, maybe from a link)."""
    _opened_window(page, event)
    if event.payload == subscriptions.UNSUBSCRIBE_PAYLOAD:
        subscriber = Subscriber.objects.get(page=page, psid=event.psid)
        subscriptions.unsubscribe(subscriber, source="unsubscribe_button", confirm=True, told=told)
    elif event.referral:
        subscriptions.offer_optin(
            page, event.psid, raw_ref=event.referral.ref or "", entry_point="GET_STARTED"
        )
    elif page.offer_optin_without_ref:
        subscriptions.offer_optin(page, event.psid, raw_ref="", entry_point="GET_STARTED")


def on_message(event: meta_events.MessageEvent, page: MessengerPage, told: list[Call]) -> None:
    """A message from the person: STOP-like keywords unsubscribe; anyone else may be offered
    the opt-in (if the Page allows it; the weekly rule keeps this from nagging)."""
    _opened_window(page, event)
    subscriber = Subscriber.objects.get(page=page, psid=event.psid)
    if source := subscriptions.unsubscribe_source(page, event.text, event.quick_reply_payload):
        subscriptions.unsubscribe(subscriber, source=source, confirm=True, told=told)
    elif page.offer_optin_without_ref and subscriber.status != Subscriber.Status.SUBSCRIBED:
        subscriptions.offer_optin(page, event.psid, raw_ref="", entry_point="message")


def on_optin(event: meta_events.OptinEvent, page: MessengerPage, told: list[Call]) -> None:
    """Acceptance of the opt-in request, or Meta's stop/resume control for a topic."""
    if event.status is None:
        if event.token:
            subscriptions.confirm_optin(
                page,
                event.psid,
                token=event.token,
                title=event.title or "",
                payload=event.payload or "",
                tz=event.timezone or "",
                token_expires_at=event.token_expires_at,
                at=event.timestamp,
                told=told,
            )
        return
    subscriber = Subscriber.objects.filter(page=page, psid=event.psid).first()
    if subscriber is None:
        return
    if event.status == "stop":
        subscriptions.unsubscribe(subscriber, source="meta_control", topic=event.title, told=told)
    else:
        subscriptions.resume(subscriber, topic=event.title)


def is_receipt(event: meta_events.MessagingEvent) -> bool:
    """Delivery and read receipts are applied many at a time (``handle_receipts``)."""
    return event.kind in RECEIPT_KINDS and not event.standby


def handle_receipts(events: list[meta_events.MessagingEvent], page: MessengerPage) -> None:
    """Receipts of one Page, applied together: a few statements for the whole batch."""
    analytics.record_receipts(
        page,
        deliveries=[(e.psid, e.watermark, tuple(e.mids)) for e in events if e.kind == "delivery"],
        reads=[(e.psid, e.watermark) for e in events if e.kind == "read"],
    )
    paid = {
        kind: [
            analytics.PaidReceipt(e.tracking_id, e.token or "", e.campaign_id or "", e.timestamp)
            for e in events
            if e.kind == kind and e.tracking_id and e.timestamp
        ]
        for kind in ("paid_delivery", "paid_read")
    }
    analytics.record_paid_receipts(page, deliveries=paid["paid_delivery"], reads=paid["paid_read"])
    analytics.record_paid_failures(
        page,
        [
            (e.token, e.campaign_id, e.error_message or "")
            for e in events
            if e.kind == "paid_failed" and e.token and e.campaign_id
        ],
    )
    analytics.record_paid_clicks(
        page,
        [
            (e.token, e.campaign_id, e.timestamp)
            for e in events
            if e.kind == "paid_click" and e.token and e.campaign_id and e.timestamp
        ],
    )


def on_receipt(event: meta_events.MessagingEvent, page: MessengerPage, told: list[Call]) -> None:
    handle_receipts([event], page)


def on_upload_status(event, page: MessengerPage, told: list[Call]) -> None:
    """Meta matched a batch of the Page's customer upload (``store_audience``)."""
    store_audience.record_status(page, event)


HANDLERS: dict[str, Callable] = {
    "audience_upload": on_upload_status,
    "delivery": on_receipt,
    "read": on_receipt,
    "paid_delivery": on_receipt,
    "paid_read": on_receipt,
    "paid_click": on_receipt,
    "paid_failed": on_receipt,
    "referral": on_referral,
    "postback": on_postback,
    "message": on_message,
    "optin": on_optin,
}
