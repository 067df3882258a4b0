"""Subscribing and unsubscribing: the consent-first rules, in one place.

Called by the webhook handlers (inside the event's transaction), by the broadcast engine when
Meta says a person is gone, and by admin actions. Messages to the person (the opt-in request, the
welcome, the unsubscribe confirmation) are sent by tasks after commit, so a slow Graph API never
holds a database transaction open, and a rolled-back event sends nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from .. import analytics
from ..hooks import PluginError, plugins
from ..hooks.listeners import Call
from ..messages import UNSUBSCRIBE_PAYLOAD
from ..models import ConsentRecord, MarketingToken, MessengerPage, Subscriber, WebhookEvent
from . import refs

logger = logging.getLogger(__name__)

#: Meta allows one opt-in request per topic per person per week (613/1893016 otherwise).
OPTIN_REPEAT_AFTER = timedelta(days=7)
#: After an opt-in, up to 3 follow-up messages may go to the new token within 2 minutes; accepting
#: does not open the 24 h window (Meta's Marketing Messages page, "Limitations"; reference
#: meta-messenger.md, corrections 2026-12-05). onesend sends one: the Page's welcome message.
FOLLOWUP_WINDOW = timedelta(minutes=2)

#: Unsubscribes the person (or the business for them) asked for: a STOP-like word (``keyword``),
#: the Unsubscribe quick reply (``quick_reply``), the Unsubscribe button, Meta's own stop
#: control, the admin. Not ``send_error``: Meta itself found them gone.
ASKED_SOURCES = frozenset({"keyword", "quick_reply", "unsubscribe_button", "meta_control", "admin"})

# Why a person can no longer be messaged → the status that records it.
GONE_STATUS = {
    "stopped": Subscriber.Status.UNSUBSCRIBED,
    "blocked": Subscriber.Status.BLOCKED,
    "unreachable": Subscriber.Status.UNREACHABLE,
    "no_user": Subscriber.Status.UNREACHABLE,
    "invalid_token": Subscriber.Status.UNREACHABLE,
}


def _person(page: MessengerPage, psid: str) -> Subscriber:
    subscriber, _ = Subscriber.objects.get_or_create(page=page, psid=psid)
    return subscriber


def unsubscribe_source(page: MessengerPage, text: str | None, payload: str | None) -> str | None:
    """How a message asks to unsubscribe, as its consent record names it: our Unsubscribe quick
    reply (``quick_reply``), or a STOP-like keyword sent alone (``keyword``; any case, trailing
    punctuation ignored). None: it does not ask."""
    if payload == UNSUBSCRIBE_PAYLOAD:
        return "quick_reply"
    words = {word.strip().upper() for word in page.unsubscribe_keywords.split(",") if word.strip()}
    if text and text.strip().rstrip(".!¡?¿ ").upper() in words:
        return "keyword"
    return None


def offer_optin(page: MessengerPage, psid: str, *, raw_ref: str, entry_point: str) -> bool:
    """Send Meta's opt-in request to a person who just reached the Page, unless they are already
    subscribed to its topic or were asked about it within the last week. Returns whether a
    request was queued."""
    subscriber = _person(page, psid)
    # A link signed for a shop customer links the person to it, asked again or not; the customer
    # stays here (see ``refs.without_customer``).
    customer_ref = refs.decode(raw_ref).customer_ref
    if customer_ref and customer_ref != subscriber.customer_ref:
        Subscriber.objects.filter(pk=subscriber.pk).update(customer_ref=customer_ref)
    if subscriber.status == Subscriber.Status.SUBSCRIBED and subscriber.tokens.filter(
        topic=page.optin_title, status=MarketingToken.Status.ACTIVE
    ):
        return False
    recently_asked = ConsentRecord.objects.filter(
        subscriber=subscriber,
        action=ConsentRecord.Action.OPTIN_REQUESTED,
        shown__title=page.optin_title,
        at__gte=timezone.now() - OPTIN_REPEAT_AFTER,
    )
    if recently_asked.exists():
        return False
    payload = refs.without_customer(raw_ref)
    transaction.on_commit(
        lambda: async_task("onesend_plugin.tasks.send_optin_request", subscriber.pk, payload, entry_point)
    )
    return True


def optin_shown(page: MessengerPage) -> dict:
    """What the opt-in request shows the person (kept as consent evidence)."""
    return {"title": page.optin_title, "cta": page.optin_cta, "image_url": page.optin_image_url}


def followup_allowed(opted_in_at: float, now: datetime | None = None) -> bool:
    """Whether a follow-up to an opt-in made at ``opted_in_at`` (epoch seconds) is still inside
    Meta's 2 minutes: later, a token send is a marketing message and takes the person's cooldown."""
    now = now or timezone.now()
    return now.timestamp() - opted_in_at < FOLLOWUP_WINDOW.total_seconds()


def record_optin_requested(subscriber: Subscriber, *, raw_ref: str, entry_point: str, message_id: str | None):
    ConsentRecord.objects.create(
        page=subscriber.page,
        subscriber=subscriber,
        action=ConsentRecord.Action.OPTIN_REQUESTED,
        entry_point=entry_point,
        ref=refs.decode(raw_ref).source,
        shown={**optin_shown(subscriber.page), "message_id": message_id},
    )


def confirm_optin(
    page: MessengerPage,
    psid: str,
    *,
    token: str,
    title: str,
    payload: str,
    tz: str = "",
    token_expires_at: datetime | None = None,
    at: datetime | None = None,
    told: list[Call] | None = None,
) -> Subscriber:
    """The person accepted the opt-in request: store the token and the consent. The welcome goes
    as a follow-up through the new token (``tasks.send_followup``): accepting opens no 24 h
    window, so ``last_interaction_at`` is left as it was. Plugins are told
    (``subscriber_opted_in``) after commit, once the welcome is queued (``_tell_plugins``)."""
    at = at or timezone.now()
    ref = refs.decode(payload)
    subscriber = _person(page, psid)
    topic = title or page.optin_title
    # A new token for a topic replaces the old one (re-opt-in); a token belongs to one person.
    subscriber.tokens.filter(topic=topic).exclude(token=token).delete()
    MarketingToken.objects.update_or_create(
        token=token,
        defaults={
            "subscriber": subscriber,
            "topic": topic,
            "status": MarketingToken.Status.ACTIVE,
            "timezone": tz,
            "expires_at": token_expires_at,
        },
    )
    if subscriber.status != Subscriber.Status.SUBSCRIBED:
        subscriber.status = Subscriber.Status.SUBSCRIBED
        subscriber.opted_in_at = at
        subscriber.unsubscribed_at = None
        subscriber.source_ref = ref.source
    subscriber.timezone = tz or subscriber.timezone
    subscriber.customer_ref = ref.customer_ref or subscriber.customer_ref
    subscriber.save()
    if ref.tags:
        subscriber.tags.add(*ref.tags)
    ConsentRecord.objects.create(
        page=page,
        subscriber=subscriber,
        action=ConsentRecord.Action.OPTED_IN,
        entry_point=ref.entry_point,
        ref=ref.source,
        shown={"title": topic, "ref_verified": ref.verified, "tags": list(ref.tags)},
        at=at,
    )

    if page.welcome_message:
        followup = (subscriber.pk, token, page.welcome_message, at.timestamp())
        transaction.on_commit(lambda: async_task("onesend_plugin.tasks.send_followup", *followup))
    if subscriber.profile_asked_at is None:  # a name and a picture for the admin (``profiles``)
        transaction.on_commit(lambda: async_task("onesend_plugin.tasks.ask_profile", subscriber.pk))
    arguments = {"subscriber": subscriber, "source": ref.entry_point, "customer_ref": subscriber.customer_ref}
    _tell_plugins(told, ("subscriber_opted_in", arguments))
    return subscriber


def _tell_plugins(told: list[Call] | None, call: Call) -> None:
    """Tell plugins after commit, once onesend's own work (the welcome, the confirmation) is
    queued. For a webhook event, ``told`` collects the call: the inbox makes it with the event's
    other listeners, and a plugin that raises is recorded on the event and called again
    (``inbox.listeners``). Otherwise (the admin, a send error) there is no event to record it
    on: a plugin that raises is logged, and changes nothing (the other plugins are still told)."""
    if told is not None:
        told.append(call)
        return
    hook, arguments = call

    def tell() -> None:
        try:
            plugins.call_contained(hook, **arguments)
        except PluginError as exc:
            logger.error("%s", exc, exc_info=exc)

    transaction.on_commit(tell)


def unsubscribe(
    subscriber: Subscriber,
    *,
    source: str,
    reason: str = "stopped",
    topic: str | None = None,
    confirm: bool = False,
    told: list[Call] | None = None,
) -> bool:
    """Stop marketing messages to a person (all topics, or one when Meta's control names it).

    ``reason`` is one of ``GONE_STATUS``: it decides the status recorded. Returns False when
    there was nothing to stop, so repeated STOPs add no records. Plugins are told
    (``subscriber_unsubscribed``) after commit, once the confirmation is queued
    (``_tell_plugins``)."""
    tokens = subscriber.tokens.filter(status=MarketingToken.Status.ACTIVE)
    if topic:
        tokens = tokens.filter(topic=topic)
    new_status = GONE_STATUS[reason]
    stopped = tokens.update(
        status=MarketingToken.Status.STOPPED if reason == "stopped" else MarketingToken.Status.INVALID
    )
    still_active = subscriber.tokens.filter(status=MarketingToken.Status.ACTIVE).exists()
    if not stopped and subscriber.status == new_status:
        return False
    if not still_active:
        subscriber.status = new_status
        subscriber.unsubscribed_at = timezone.now()
        subscriber.save(update_fields=["status", "unsubscribed_at"])
    analytics.record_unsubscribe(subscriber)
    ConsentRecord.objects.create(
        page=subscriber.page,
        subscriber=subscriber,
        action=ConsentRecord.Action.UNSUBSCRIBED,
        entry_point=source,
        detail=f"{reason}; topic: {topic or 'all'}",
    )

    if source in ASKED_SOURCES and not still_active and subscriber.page.sends_paid:
        # Meta's paid tokens are unsubscribed at Meta too, by a task after commit: the Graph call
        # never runs inside the webhook's transaction, and its failure never undoes ours.
        transaction.on_commit(lambda: async_task("onesend_plugin.tasks.unsubscribe_at_meta", subscriber.pk))
    if confirm:
        text = f"You're unsubscribed from {subscriber.page.name}. You won't get marketing messages any more."
        transaction.on_commit(lambda: async_task("onesend_plugin.tasks.send_text", subscriber.pk, text))
    _tell_plugins(told, ("subscriber_unsubscribed", {"subscriber": subscriber, "source": source}))
    return True


def resume(subscriber: Subscriber, *, topic: str | None) -> None:
    """Meta's "resume" control: the person turned the topic back on themselves."""
    tokens = subscriber.tokens.filter(status=MarketingToken.Status.STOPPED)
    if topic:
        tokens = tokens.filter(topic=topic)
    if not tokens.update(status=MarketingToken.Status.ACTIVE):
        return
    subscriber.status = Subscriber.Status.SUBSCRIBED
    subscriber.unsubscribed_at = None
    subscriber.save(update_fields=["status", "unsubscribed_at"])
    ConsentRecord.objects.create(
        page=subscriber.page,
        subscriber=subscriber,
        action=ConsentRecord.Action.RESUMED,
        entry_point="meta_control",
        detail=f"topic: {topic or 'all'}",
    )


def export(subscriber: Subscriber) -> dict:
    """Everything onesend holds about one person (GDPR access request)."""
    return {
        "page": {"id": subscriber.page.page_id, "name": subscriber.page.name},
        "psid": subscriber.psid,
        "profile": {
            "first_name": subscriber.first_name,
            "last_name": subscriber.last_name,
            "profile_pic": subscriber.profile_pic,
        },
        "status": subscriber.status,
        "timezone": subscriber.timezone,
        "locale": subscriber.locale,
        "source_ref": subscriber.source_ref,
        "customer_ref": subscriber.customer_ref,
        "tags": sorted(subscriber.tags.names()),
        "created_at": subscriber.created_at,
        "opted_in_at": subscriber.opted_in_at,
        "unsubscribed_at": subscriber.unsubscribed_at,
        "last_interaction_at": subscriber.last_interaction_at,
        "last_marketing_at": subscriber.last_marketing_at,
        "topics": [
            {"topic": t.topic, "status": t.status, "created_at": t.created_at}
            for t in subscriber.tokens.all()
        ],
        "consent": [
            {
                "action": r.action,
                "at": r.at,
                "entry_point": r.entry_point,
                "ref": r.ref,
                "shown": r.shown,
                "detail": r.detail,
            }
            for r in subscriber.consent_records.order_by("at", "id")
        ],
        # Kinds and times only: raw events hold marketing tokens, which are the Page's credentials.
        "webhook_events": [
            {"kind": kind, "timestamp": ts}
            for kind, ts in WebhookEvent.objects.filter(
                page=subscriber.page, psid=subscriber.psid
            ).values_list("kind", "timestamp")
        ],
    }
