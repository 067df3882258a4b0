"""django-q2 task entry points. Arguments are primary keys, never model instances: payloads are
pickled, and a task may run more than once, so every task is idempotent or harmless to repeat."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import OperationalError, transaction

from . import analytics, store
from .broadcast import periodic, runner
from .inbox import drain
from .inbox import listeners as webhook_listeners
from .messenger import builders
from .messenger.client import GraphClient, SendResult
from .messenger.errors import GraphError, OptinAlreadyRequested, RecipientUnavailable
from .meta import client_for
from .models import MarketingToken, Subscriber
from .subscribe import audience_members, meta_import, profiles, store_audience, subscriptions

logger = logging.getLogger(__name__)

#: Pauses (seconds) before each new try of a task that found SQLite locked: about 30 s in all.
LOCKED_RETRY_PAUSES = (0.5, 1, 2, 4, 8, 15)
Task = TypeVar("Task", bound=Callable[..., Any])


def retry_when_locked(task: Task) -> Task:
    """SQLite lets one writer in at a time. With the options ``onesend.W005`` gives, a writer waits
    its turn; without them (or after a long wait), the task fails with "database is locked". Run it
    again after a growing pause, saying so in one WARNING line rather than a failed task's ERROR
    and traceback: every task is safe to repeat. Inside a transaction (tasks run inline, ``sync``)
    the caller's work would be lost, so the error goes up."""

    @functools.wraps(task)
    def run(*args: Any, **kwargs: Any) -> Any:
        for pause in LOCKED_RETRY_PAUSES:
            try:
                return task(*args, **kwargs)
            except OperationalError as exc:
                if not _is_locked(exc) or transaction.get_connection().in_atomic_block:
                    raise
                logger.warning(
                    "SQLite database is locked: task %s runs again in %g s "
                    "(onesend.W005 gives the settings that avoid it)",
                    task.__name__,
                    pause,
                )
                time.sleep(pause)
        return task(*args, **kwargs)  # the last try: its error goes up

    return run  # type: ignore[return-value]


def _is_locked(exc: OperationalError) -> bool:
    return "database is locked" in str(exc) or "database table is locked" in str(exc)


@retry_when_locked
def process_webhooks() -> int:
    """Empty the webhook inbox (``inbox.drain``)."""
    return drain.process_webhooks()


@retry_when_locked
def send_optin_request(subscriber_id: int, raw_ref: str, entry_point: str) -> str | None:
    """Send the Page's opt-in request (Meta's notification_messages template) to one person.
    (Queued by earlier versions, ``raw_ref`` may still carry a customer reference: it works.)"""
    subscriber = Subscriber.objects.select_related("page").filter(pk=subscriber_id).first()
    if subscriber is None:  # erased since
        return None
    page = subscriber.page
    try:
        result = client_for(page).send_optin_request(
            psid=subscriber.psid,
            title=page.optin_title,
            payload=raw_ref or "-",
            image_url=page.optin_image_url or None,
            cta_text=page.optin_cta,
        )
    except OptinAlreadyRequested:
        logger.info("Opt-in already requested from %s this week; not asking again", subscriber)
        return None
    except GraphError as exc:
        logger.warning("Opt-in request to %s failed: %s", subscriber, exc)
        return None
    subscriptions.record_optin_requested(
        subscriber, raw_ref=raw_ref, entry_point=entry_point, message_id=result.message_id
    )
    return result.message_id


@retry_when_locked
def send_text(subscriber_id: int, text: str) -> str | None:
    """A standard (in-window) text reply to the person's PSID: the unsubscribe confirmation."""
    return _reply(
        subscriber_id,
        lambda client, subscriber: client.send_to_psid(psid=subscriber.psid, message=builders.text(text)),
    )


@retry_when_locked
def send_followup(subscriber_id: int, token: str, text: str, opted_in_at: float) -> str | None:
    """A follow-up to an opt-in (the welcome), sent through the new ``token``, never as a response
    to the PSID: accepting the opt-in does not open the 24 h window. Meta allows up to 3 follow-ups
    within 2 minutes of the opt-in (``subscriptions.FOLLOWUP_WINDOW``); one that waited longer in
    the queue would be a marketing message taking the person's cooldown, so it is dropped (logged)."""
    if not subscriptions.followup_allowed(opted_in_at):
        logger.warning(
            "Welcome to subscriber %s dropped: more than 2 minutes after the opt-in", subscriber_id
        )
        return None
    if not MarketingToken.objects.filter(token=token, status=MarketingToken.Status.ACTIVE).exists():
        return None  # they stopped the topic (or were erased) meanwhile
    return _reply(
        subscriber_id,
        lambda client, _: client.send_to_token(token=token, message=builders.text(text)),
        stop_is_told=True,
    )


def _reply(
    subscriber_id: int, send: Callable[[GraphClient, Subscriber], SendResult], *, stop_is_told: bool = False
) -> str | None:
    """Send one message to a person (erased since: nothing). Meta saying they are gone unsubscribes
    them, unless it is a token's stop and ``stop_is_told``: Meta's stop webhook for that token
    records it, with its own source. Any other error is logged, never retried (these are courtesy
    messages)."""
    subscriber = Subscriber.objects.select_related("page").filter(pk=subscriber_id).first()
    if subscriber is None:  # erased since
        return None
    try:
        return send(client_for(subscriber.page), subscriber).message_id
    except RecipientUnavailable as exc:
        if stop_is_told and exc.reason == "stopped":
            logger.info("Follow-up to %s not sent: they stopped the topic", subscriber)
        else:
            subscriptions.unsubscribe(subscriber, source="send_error", reason=exc.reason)
    except GraphError as exc:
        logger.warning("Reply to %s failed: %s", subscriber, exc)
    return None


@retry_when_locked
def unsubscribe_at_meta(subscriber_id: int) -> int | None:
    """Unsubscribe a person of a paid-channel Page at Meta too (Meta's Unsubscribe API), after
    they were unsubscribed here. Our consent records stay the truth: we never message them again
    whatever Meta answers, so a failure is only logged with Meta's error, not retried or undone.
    Repeating the call is harmless. Returns Meta's count of rows it could not use."""
    subscriber = Subscriber.objects.select_related("page").filter(pk=subscriber_id).first()
    if subscriber is None:  # erased since
        return None
    page = subscriber.page
    # One Meta matched from the shop's audience has no PSID: named by its tokens instead.
    psids, tokens = [subscriber.psid] if subscriber.psid else [], []
    if not psids:
        tokens = list(subscriber.tokens.values_list("token", flat=True))
    try:
        invalid = client_for(page).unsubscribe_customers(page_id=page.page_id, psids=psids, tokens=tokens)
    except GraphError as exc:
        logger.warning("Unsubscribing %s at Meta failed: %s", subscriber, exc)
        return None
    if invalid:
        logger.warning("Meta did not recognise %s when unsubscribing them", subscriber)
    return invalid


@retry_when_locked
def upload_audience(upload_id: int) -> str:
    """Upload the shop's consenting customers to the Page's audience at Meta (``store_audience``)."""
    return store_audience.run(upload_id).state


@retry_when_locked
def leave_audience(member_id: int) -> None:
    """Tell Meta an erased customer left the Page's audience (``audience_members.leave``)."""
    audience_members.leave(member_id)


@retry_when_locked
def start_campaign(campaign_id: int) -> int | None:
    """Freeze the audience into the ledger (a large one over several tasks), then put workers
    on it (``runner.freeze_turn``)."""
    return runner.freeze_turn(campaign_id)


@retry_when_locked
def run_campaign(campaign_id: int) -> str:
    return runner.run(campaign_id)


@retry_when_locked
def sync_tokens(run_id: int) -> str:
    """One pass over a Page's tokens at Meta: an import or a reconciliation (``meta_import``)."""
    return meta_import.run(run_id).state


@retry_when_locked
def tick() -> None:
    periodic.tick()
    meta_import.queue_reconciliations()
    drain.catch_up()
    store.retry_listeners()
    webhook_listeners.retry_due()
    analytics.refresh_insights()  # last: Meta's answers may be slow (a failure is only logged)


@retry_when_locked
def process_store_event(event_id: int) -> None:
    store.process(event_id)


@retry_when_locked
def ask_profile(subscriber_pk: int) -> bool:
    """A new subscriber's name and picture from Meta (once; ``subscribe.profiles``)."""
    return profiles.ask_profile(subscriber_pk)


@retry_when_locked
def ask_profiles(page_pk: int) -> int:
    """The names and pictures of a Page's subscribers an import from Meta brought in."""
    return profiles.ask_missing(page_pk)
