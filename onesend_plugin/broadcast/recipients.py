"""Who receives a campaign, freezing them into the ledger when it starts, and whether a flow's
person has left the flow since."""

from __future__ import annotations

import logging
import time
from zoneinfo import ZoneInfo

from django.db.models import Exists, Max, OuterRef, QuerySet
from django.utils import timezone

from ..hooks import PluginError, plugins
from ..messenger.errors import GraphError, PaidAccountError, PaidTokenMissing
from ..meta import client_for
from ..models import Campaign, Delivery, MarketingToken, StoreEvent, Subscriber, SubscriberTag
from . import abtest, channels, segments, split
from .timing import local_wall_clock, zone

logger = logging.getLogger(__name__)

#: Why an audience can't be given: a plugin failed, or the campaign's segment isn't offered.
AUDIENCE_ERRORS = (PluginError, segments.SegmentError)

#: Ledger rows written per INSERT while freezing.
FREEZE_CHUNK = 5000


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def audience(campaign: Campaign) -> QuerySet[Subscriber]:
    """Who would receive the campaign now: the Page's subscribers, narrowed by its audience
    settings, its segment and plugins (``audience_filter``). Raises one of ``AUDIENCE_ERRORS``
    when it can't be said."""
    people = Subscriber.objects.filter(page=campaign.page, status=Subscriber.Status.SUBSCRIBED)
    if campaign.page.channel in (channels.Channel.MARKETING_TOKEN, channels.Channel.MARKETING_API):
        people = people.filter(
            Exists(
                MarketingToken.objects.filter(subscriber=OuterRef("pk"), status=MarketingToken.Status.ACTIVE)
            )
        )
    tagged = SubscriberTag.objects.filter(content_object=OuterRef("pk"))
    if include := _split(campaign.include_tags):
        people = people.filter(Exists(tagged.filter(tag__name__in=include)))
    if exclude := _split(campaign.exclude_tags):
        people = people.exclude(Exists(tagged.filter(tag__name__in=exclude)))
    if include := _split(campaign.include_refs):
        people = people.filter(source_ref__in=include)
    if exclude := _split(campaign.exclude_refs):
        people = people.exclude(source_ref__in=exclude)
    if campaign.opted_in_after:
        people = people.filter(opted_in_at__gte=campaign.opted_in_after)
    if campaign.opted_in_before:
        people = people.filter(opted_in_at__lt=campaign.opted_in_before)
    if campaign.segment:
        people = segments.narrow(campaign.segment, people)
    return plugins.audience_filter(campaign=campaign, queryset=people)


def exited(flow: Campaign, row: Delivery) -> bool:
    """Whether the person did one of the flow's exit events after the triggering one (e.g. they
    bought the cart a reminder was queued for): checked just before sending."""
    names = [name.strip() for name in flow.exit_events.split(",") if name.strip()]
    if not names or row.subscriber is None:
        return False
    trigger = StoreEvent.objects.filter(
        account_id=flow.page.account_id, idempotency_key=row.trigger_key
    ).first()
    since = trigger.occurred_at if trigger else row.not_before
    # The trigger's customer: a plugin may have resolved the person without an identity link.
    customer = trigger.customer_ref if trigger else row.subscriber.customer_ref
    return StoreEvent.objects.filter(
        account_id=flow.page.account_id,
        customer_ref=customer,
        name__in=names,
        occurred_at__gt=since,
    ).exists()


def count(campaign: Campaign) -> tuple[int | None, str]:
    """How many the campaign would reach now, for the admin's counts: ``(None, the error)``
    when a plugin fails to give the audience or the segment isn't offered, so the editor sees why."""
    try:
        return audience(campaign).count(), ""
    except AUDIENCE_ERRORS as exc:
        return None, str(exc)


def in_cooldown(campaign: Campaign) -> int:
    """How many of those it would reach now got a marketing message within the Page's
    frequency cap: sent now, it skips them (reason ``frequency_cap``, ``cooldown``), so the
    confirm step says so rather than counting them as reached."""
    since = timezone.now() - campaign.page.cooldown
    return audience(campaign).filter(last_marketing_at__gt=since).count()


def freeze(campaign: Campaign, deadline: float | None = None) -> int | None:
    """Write the ledger: one row per recipient, in subscriber order, and, once everyone is in,
    the audience's size and ``frozen_at`` (until then the campaign can't finish). Returns that
    size; None when ``deadline`` (``time.monotonic()``) came first: a large audience takes more
    than one task, and a call resumes after the last subscriber written, as it does after a
    crash (rows are only ever added once).

    A per-person Page's paid message campaign is made at Meta only when someone in the audience
    may be sent a paid message (``split.paid_needed``). A plugin that fails to give the audience
    (``audience_filter``, a segment), a segment no longer offered, or Meta refusing the
    channel's set-up (the paid API's message campaign), puts the campaign back to draft with the
    error, as if it had refused to start (and returns 0)."""
    try:
        people = audience(campaign)
        if "channel" not in campaign.message:
            _prepare_channel(campaign, people)
    except AUDIENCE_ERRORS as exc:
        return _not_started(campaign, str(exc), exc)
    except GraphError as exc:  # e.g. the paid API refused to create the message campaign
        if isinstance(exc, PaidTokenMissing):  # nothing was asked of Meta
            return _not_started(campaign, exc.advice.rstrip("."), exc)
        advice = exc.advice if isinstance(exc, PaidAccountError) else str(exc)
        return _not_started(campaign, f"Meta refused the campaign: {advice}", exc)
    if not _write_rows(campaign, people, deadline):
        return None
    size = campaign.deliveries.count()
    Campaign.objects.filter(pk=campaign.pk).update(audience_size=size, frozen_at=timezone.now())
    return size


def _prepare_channel(campaign: Campaign, people: QuerySet[Subscriber]) -> None:
    """Upload the message's media (both variants' in an A/B test) and set up the Page's channel
    at Meta (the paid API's message campaign: on a per-person Page only if someone may go paid),
    kept in the campaign's frozen message."""
    page = campaign.page
    channel = channels.for_page(page)
    client = client_for(page)
    body = channels.with_uploaded_media(campaign.message["body"], page, client)
    if test := campaign.message.get("ab"):  # variant B's media too
        b = channels.with_uploaded_media(test["b"], page, client)
        campaign.message = {**campaign.message, "ab": {**test, "b": b}}
    prepare = channel.key != channels.Channel.PER_PERSON or split.paid_needed(page, people)
    campaign.message = {
        **campaign.message,
        "body": body,
        "channel": channel.prepare(campaign, channel.send_client(page)) if prepare else {},
    }
    Campaign.objects.filter(pk=campaign.pk).update(message=campaign.message)


def _write_rows(campaign: Campaign, people: QuerySet[Subscriber], deadline: float | None) -> bool:
    """Insert the ledger rows after the last subscriber written, a chunk at a time, until all
    are in (True) or ``deadline`` has passed (False): each with the time it may go (a local send
    time in the person's zone; the rest of an A/B test wait for the winner) and its variant."""
    local = campaign.schedule == Campaign.Schedule.LOCAL and campaign.send_at
    wall_clock = local_wall_clock(campaign) if local else None
    # An A/B test: those drawn get their variant now, the rest wait for the winner.
    variants, winner_due = abtest.draw(campaign, people), campaign.ab_decide_at
    account_zone = zone(campaign.page.account.timezone)
    zones: dict[str, ZoneInfo] = {}
    rows = []
    written = campaign.deliveries.aggregate(last=Max("subscriber_id"))["last"] or 0
    for pk, psid, tz in (
        people.filter(pk__gt=written)
        .order_by("pk")
        .values_list("pk", "psid", "timezone")
        .iterator(chunk_size=FREEZE_CHUNK)
    ):
        not_before, variant = None, variants.get(pk, "")
        if wall_clock:
            not_before = wall_clock.replace(tzinfo=zones.setdefault(tz, zone(tz, account_zone)))
        elif winner_due and not variant:
            not_before = winner_due
        rows.append(
            Delivery(
                campaign=campaign,
                subscriber_id=pk,
                page=campaign.page,
                psid=psid,
                not_before=not_before,
                variant=variant,
            )
        )
        if len(rows) >= FREEZE_CHUNK:
            Delivery.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
            if deadline is not None and time.monotonic() > deadline:
                return False
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    return True


def _not_started(campaign: Campaign, error: str, exc: Exception) -> int:
    """Put the campaign back to draft with ``error``, as if it had refused to start."""
    logger.error("Campaign %s not started: %s", campaign.pk, error, exc_info=exc)
    Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.RUNNING).update(
        status=Campaign.Status.DRAFT, started_at=None, last_error=f"{error}. The campaign was not started."
    )
    return 0
