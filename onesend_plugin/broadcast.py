"""The broadcast engine: sends a campaign to its audience as fast as Meta allows, never faster,
never twice, and records what happened to every recipient.

How it stays correct:

* **The ledger is the truth.** Starting a campaign freezes its audience into ``Delivery`` rows,
  one per recipient, unique in the database. Progress is the set of rows no longer pending, so
  a pause, a restart or a crash resumes exactly where the ledger says.
* **Claim, then send.** Workers claim small batches (``SELECT … FOR UPDATE SKIP LOCKED`` on
  PostgreSQL; a conditional update elsewhere), so two workers never hold the same row. The
  claim's time, kept in ``claimed_at``, is the batch's ownership token: every later change of
  its rows is conditional on it, so a worker that stalled past its lease (its rows recovered
  and claimed again by another) changes nothing when it wakes up.
* **At most once.** Rows are marked ``sending`` and committed *before* the Graph API call. A
  worker that dies after that leaves them ``sending``; recovery turns them into ``unknown``,
  which is never resent automatically (an operator may retry them explicitly).
* **Frequency cap across campaigns.** Claiming a subscriber's cooldown is one conditional
  ``UPDATE … RETURNING`` on ``last_marketing_at``, in the transaction that marks the rows
  ``sending``: whichever campaign or worker gets there first sends; the others skip that
  person with reason ``frequency_cap``.
* **Shared rate limit.** Every batch reserves its sends from the Page's bucket (``ratelimit``),
  shared by all workers and campaigns; Meta's throttling errors hold the whole Page.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, FilteredRelation, OuterRef, Q, QuerySet
from django.utils import timezone
from django_q.tasks import async_task, schedule
from wagtail.log_actions import log

from . import analytics, bulk, channels, conf, messages, ratelimit, store, subscriptions
from .hooks import plugins
from .messenger.client import SendResult
from .messenger.errors import (
    DEFAULT_RETRY_AFTER,
    MIN_RETRY_AFTER,
    AuthError,
    GraphError,
    NotEligibleYet,
    OutsideWindow,
    RateLimited,
    RecipientUnavailable,
    TransientError,
)
from .meta import client_for
from .models import Campaign, Delivery, MarketingToken, MessengerPage, Subscriber, SubscriberTag

logger = logging.getLogger(__name__)

State = Delivery.State
Status = Campaign.Status
#: Rows that may still be sent: a campaign is finished only when none is left.
OPEN_STATES = (State.PENDING, State.CLAIMED, State.SENDING)
#: Waiting longer than this for the rate limiter ends the run; a later run picks up.
MAX_RATE_WAIT = 10.0
#: A batch leaving this much after its slot (seconds) delays the next one. It is well under the
#: slack Meta's one-second window leaves at the default headroom (31 ms for batches of 50 at 291/s).
LATE = 0.005
#: What a batch loads of each row, its subscriber and their active tokens (see ``Sender._load``),
#: in the models' field order (``Model.from_db`` expects it).
ROW_FIELDS = ("id", "subscriber_id", "trigger_key", "not_before", "attempts")
SUBSCRIBER_FIELDS = (
    "id",
    "psid",
    "status",
    "timezone",
    "locale",
    "source_ref",
    "customer_ref",
    "last_interaction_at",
    "last_marketing_at",
)
TOKEN_FIELDS = ("token", "topic")
#: The easternmost timezone: a "local time" campaign starts when its time comes there.
EARLIEST_UTC_OFFSET = timedelta(hours=14)


class CampaignError(ValueError):
    """An action that is not allowed now; the message is meant for the editor."""


# -- Audience ------------------------------------------------------------------------------------


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def audience(campaign: Campaign) -> QuerySet[Subscriber]:
    """Who would receive the campaign now: the Page's subscribers, narrowed by its audience
    settings and by plugins (``audience_filter``)."""
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
    return plugins.audience_filter(campaign=campaign, queryset=people)


# -- Actions (admin buttons call these; each is written to Wagtail's audit log) ------------------


def start(campaign: Campaign, *, user=None) -> None:
    """Send the published campaign now, or schedule it when its time is still to come."""
    if not campaign.live:
        raise CampaignError("Publish the campaign before sending it.")
    if campaign.status not in (Status.DRAFT, Status.SCHEDULED):
        raise CampaignError(
            f"This campaign is {campaign.get_status_display().lower()}; it can't be started again."
        )
    if campaign.page.status == MessengerPage.Status.PAUSED:
        raise CampaignError(
            f"The Page is paused ({campaign.page.status_reason}): re-check its connection first."
        )
    problems = messages.validate(campaign, [(b.title, b.url) for b in campaign.buttons.all()])
    if problems:
        raise CampaignError(" ".join(problems.values()))
    if _starts_at(campaign) > timezone.now():
        _claim_start(campaign, Status.DRAFT, status=Status.SCHEDULED)
        log(campaign, "onesend.campaign.schedule", user=user)
        return
    _claim_start(
        campaign,
        campaign.status,
        status=Status.RUNNING,
        started_at=timezone.now(),
        message={"body": messages.build(campaign)},
        last_error="",
    )
    log(campaign, "onesend.campaign.start", user=user)
    if not campaign.is_flow:  # a flow has no audience to freeze: events queue its messages
        transaction.on_commit(lambda: async_task("onesend_plugin.tasks.start_campaign", campaign.pk))


def pause(campaign: Campaign, *, user=None, reason: str = "") -> None:
    _transition(campaign, (Status.RUNNING, Status.SCHEDULED), Status.PAUSED, reason)
    log(campaign, "onesend.campaign.pause", user=user, data={"reason": reason})


def resume(campaign: Campaign, *, user=None) -> None:
    _transition(campaign, (Status.PAUSED,), Status.RUNNING if campaign.started_at else Status.SCHEDULED)
    log(campaign, "onesend.campaign.resume", user=user)
    if campaign.status == Status.RUNNING:
        transaction.on_commit(lambda: launch(campaign.pk))


def cancel(campaign: Campaign, *, user=None) -> None:
    """Stop for good: rows not yet sent are skipped (reason ``cancelled``)."""
    _transition(campaign, (Status.DRAFT, Status.SCHEDULED, Status.RUNNING, Status.PAUSED), Status.CANCELLED)
    cancelled = campaign.deliveries.filter(state=State.PENDING).update(
        state=State.SKIPPED, reason="cancelled"
    )
    analytics.bump(campaign.pk, {"skipped:cancelled": cancelled})
    log(campaign, "onesend.campaign.cancel", user=user)


def retry_unknown(campaign: Campaign, *, user=None) -> int:
    """Queue again the rows whose fate a crash hid. They may reach some people twice: that is
    why this is an explicit decision, never automatic."""
    if campaign.status == Status.CANCELLED:
        raise CampaignError("The campaign was cancelled.")
    unknown = campaign.deliveries.filter(state=State.UNKNOWN)
    # Give back the cooldown each lost attempt claimed (stamped as its sent_at), or the retry
    # would be skipped as if the person had been messaged. Meta's own cap still stops a real
    # duplicate on token channels.
    for attempted_at, subscriber_ids in _by_value(unknown.values_list("sent_at", "subscriber_id")).items():
        Subscriber.objects.filter(pk__in=subscriber_ids, last_marketing_at=attempted_at).update(
            last_marketing_at=None
        )
    count = unknown.update(state=State.PENDING, reason="", sent_at=None)
    analytics.bump(campaign.pk, {"unknown": -count})
    if count:
        Campaign.objects.filter(pk=campaign.pk, status=Status.FINISHED).update(
            status=Status.RUNNING, finished_at=None
        )
        campaign.refresh_from_db(fields=["status", "finished_at"])
        if campaign.status == Status.RUNNING:
            transaction.on_commit(lambda: launch(campaign.pk))
    log(campaign, "onesend.campaign.retry_unknown", user=user, data={"count": count})
    return count


def send_test(campaign: Campaign, subscriber: Subscriber, *, user=None) -> str | None:
    """Send the campaign's latest draft to one subscriber, outside the ledger (e.g. to a
    colleague). Through the Standard channel when their 24 h window is open, else the Page's
    channel — which uses up their Meta cooldown like any marketing message."""
    draft = campaign.get_latest_revision_as_object() if campaign.pk else campaign
    problems = messages.validate(draft, [(b.title, b.url) for b in draft.buttons.all()])
    if problems:
        raise CampaignError(" ".join(problems.values()))
    subscriber.active_tokens = list(subscriber.tokens.filter(status=MarketingToken.Status.ACTIVE))
    page = campaign.page
    channel = channels.StandardChannel() if subscriber.in_standard_window() else channels.for_page(page)
    client = client_for(page)
    request = channel.request(subscriber, messages.build(draft), channel.prepare(campaign, client))
    if isinstance(request, str):
        raise CampaignError(f"This subscriber can't be reached ({request.replace('_', ' ')}).")
    [result] = client.batch([request])
    if isinstance(result, GraphError):
        raise result
    log(campaign, "onesend.campaign.send_test", user=user, data={"subscriber": subscriber.pk})
    return result.message_id


def _by_value(pairs) -> dict:
    grouped = defaultdict(list)
    for value, item in pairs:
        grouped[value].append(item)
    return grouped


def _claim_start(campaign: Campaign, was: str, **changes) -> None:
    """Move the campaign on from the status this request read, in one conditional UPDATE: of two
    simultaneous "send" presses (or a press and the minute tick) only one wins, so the campaign is
    logged and queued once; the other is told it already happened."""
    if not Campaign.objects.filter(pk=campaign.pk, status=was).update(**changes):
        campaign.refresh_from_db(fields=["status"])
        raise CampaignError(f"This campaign is already {campaign.get_status_display().lower()}.")
    for field, value in changes.items():
        setattr(campaign, field, value)


def _transition(campaign: Campaign, allowed, to: str, reason: str = "") -> None:
    updated = Campaign.objects.filter(pk=campaign.pk, status__in=allowed).update(status=to, last_error=reason)
    campaign.refresh_from_db(fields=["status", "last_error"])
    if not updated:
        raise CampaignError(f"Not possible while the campaign is {campaign.get_status_display().lower()}.")


def _starts_at(campaign: Campaign) -> datetime:
    if campaign.schedule == Campaign.Schedule.NOW or not campaign.send_at:
        return timezone.now()
    if campaign.schedule == Campaign.Schedule.LOCAL:  # when the wall clock first reaches it somewhere
        return _local_wall_clock(campaign).replace(tzinfo=ZoneInfo("UTC")) - EARLIEST_UTC_OFFSET
    return campaign.send_at


def _local_wall_clock(campaign: Campaign) -> datetime:
    """The date and time a "local time" campaign goes out in every subscriber's own timezone
    (as entered, in the account's timezone)."""
    return timezone.localtime(campaign.send_at, _zone(campaign.page.account.timezone)).replace(tzinfo=None)


def _zone(name: str | None, default: ZoneInfo | None = None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else (default or ZoneInfo(settings.TIME_ZONE))
    except (ZoneInfoNotFoundError, ValueError):
        return default or ZoneInfo(settings.TIME_ZONE)


# -- Freezing the audience and running the workers -----------------------------------------------


def freeze(campaign: Campaign) -> int:
    """Write the ledger: one row per recipient. Idempotent: running it again after a crash adds
    only the rows still missing."""
    page = campaign.page
    if "channel" not in campaign.message:
        campaign.message["channel"] = channels.for_page(page).prepare(campaign, client_for(page))
        Campaign.objects.filter(pk=campaign.pk).update(message=campaign.message)
    local = campaign.schedule == Campaign.Schedule.LOCAL and campaign.send_at
    wall_clock = _local_wall_clock(campaign) if local else None
    account_zone = _zone(page.account.timezone)
    zones: dict[str, ZoneInfo] = {}
    rows = []
    people = audience(campaign).order_by("pk").values_list("pk", "psid", "timezone")
    for pk, psid, tz in people.iterator(chunk_size=5000):
        not_before = None
        if wall_clock:
            zone = zones.setdefault(tz, _zone(tz, account_zone))
            not_before = wall_clock.replace(tzinfo=zone)
        rows.append(
            Delivery(campaign=campaign, subscriber_id=pk, page=page, psid=psid, not_before=not_before)
        )
        if len(rows) >= 5000:
            Delivery.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    size = campaign.deliveries.count()
    Campaign.objects.filter(pk=campaign.pk).update(audience_size=size)
    return size


def launch(campaign_id: int, runners: int = 1) -> None:
    for _ in range(runners):
        async_task("onesend_plugin.tasks.run_campaign", campaign_id)


def run(campaign_id: int, *, budget: float | None = None) -> str:
    """A worker's turn on a campaign: send batches until none is left or its time budget (kept
    under django-q2's task timeout) is spent, then hand over to a fresh task if needed."""
    campaign = Campaign.objects.select_related("page", "page__account").get(pk=campaign_id)
    recover(campaign)
    sender = Sender(campaign)
    deadline = time.monotonic() + (budget if budget is not None else _default_budget())
    while time.monotonic() < deadline:
        status = Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()
        if status != Status.RUNNING:
            return "stopped"
        claimed_at, ids = claim(campaign, sender.batch_size)
        if not ids:
            break
        wait = sender.send(claimed_at, ids)
        if wait:
            schedule_run(campaign_id, after=wait)
            return "throttled"
    return conclude(campaign_id)


def _default_budget() -> float:
    timeout = getattr(settings, "Q_CLUSTER", {}).get("timeout") or 60
    return max(5.0, timeout * 0.75)


def schedule_run(campaign_id: int, *, after: float) -> None:
    schedule(
        "onesend_plugin.tasks.run_campaign",
        campaign_id,
        schedule_type="O",
        next_run=timezone.now() + timedelta(seconds=after),
        name=f"onesend-campaign-{campaign_id}-{uuid.uuid4().hex[:8]}",
    )


def conclude(campaign_id: int) -> str:
    """After a run: finish the campaign if nothing is left, continue if due rows remain, or
    come back when the earliest deferred row is due."""
    deliveries = Delivery.objects.filter(campaign_id=campaign_id)
    open_rows = deliveries.filter(state__in=OPEN_STATES)
    if not open_rows.exists():
        # A flow stays active, waiting for events; a broadcast is done.
        Campaign.objects.filter(pk=campaign_id, status=Status.RUNNING, trigger_event="").update(
            status=Status.FINISHED, finished_at=timezone.now(), throttled_until=None
        )
        return "finished"
    now = timezone.now()
    pending = open_rows.filter(state=State.PENDING)
    if pending.filter(Q(not_before__isnull=True) | Q(not_before__lte=now)).exists():
        launch(campaign_id)
        return "continued"
    next_due = pending.order_by("not_before").values_list("not_before", flat=True).first()
    if next_due:
        schedule_run(campaign_id, after=(next_due - now).total_seconds())
        return "deferred"
    return "others-working"  # rows claimed by another worker, which concludes itself


def claim(campaign: Campaign, size: int) -> tuple[datetime, list[int]]:
    """Take up to ``size`` due rows for this worker, in one statement. ``SKIP LOCKED`` lets
    concurrent workers pass each other without waiting; the ``state`` condition makes the claim
    safe on any database (a row another worker claimed first is simply not ours).

    Returns the claim's time and the row ids. The rows keep that time in ``claimed_at``: it is
    the batch's ownership token (see ``owned``)."""
    table = Delivery._meta.db_table
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    claimed_at = timezone.now()
    now = connection.ops.adapt_datetimefield_value(claimed_at)
    with connection.cursor() as cursor:
        cursor.execute(
            # MATERIALIZED: the LIMIT is applied once (an inlined IN-subquery may be re-run).
            f"WITH due AS MATERIALIZED (SELECT id FROM {table} WHERE campaign_id = %s AND state = %s "
            f"AND (not_before IS NULL OR not_before <= %s) ORDER BY id LIMIT %s{lock}) "
            f"UPDATE {table} SET state = %s, claimed_at = %s "
            f"WHERE state = %s AND id IN (SELECT id FROM due) RETURNING id",
            [campaign.pk, State.PENDING, now, size, State.CLAIMED, now, State.PENDING],
        )
        return claimed_at, sorted(row[0] for row in cursor.fetchall())


def owned(claimed_at: datetime, state: str) -> QuerySet[Delivery]:
    """The rows of a batch that are still its worker's: in the state it left them and claimed
    at ``claimed_at``. Once the lease is over, ``recover`` moves them out of that state and
    another worker's claim changes ``claimed_at``: a stalled worker's late updates then match
    nothing."""
    return Delivery.objects.filter(claimed_at=claimed_at, state=state)


def recover(campaign: Campaign) -> None:
    """Rows of a worker presumed dead: claimed ones go back to the queue (nothing was sent);
    those it was sending become unknown (something may have been sent)."""
    stale = timezone.now() - timedelta(seconds=conf.get("CLAIM_LEASE_SECONDS"))
    rows = campaign.deliveries.filter(claimed_at__lt=stale)
    rows.filter(state=State.CLAIMED).update(state=State.PENDING)
    lost = rows.filter(state=State.SENDING).update(state=State.UNKNOWN, reason="worker_lost")
    analytics.bump(campaign.pk, {"unknown": lost})


# -- Sending one batch ---------------------------------------------------------------------------


class Sender:
    """Sends claimed batches of one campaign and records every outcome."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.page = campaign.page
        self.client = client_for(self.page)
        self.channel = channels.for_page(self.page)
        self.message = campaign.message["body"]
        self.context = campaign.message.get("channel", {})
        media = messages.is_media(self.message)
        self.bucket, self.rate = ratelimit.bucket(self.page, media)
        self.batch_size = ratelimit.batch_size(media, self.rate, conf.get("BATCH_SIZE"))
        self.tracks_clicks = bool(analytics.button_urls(self.message))
        # Encoded once: recipients whose message no plugin or link tracking changed share it.
        self.message_json = json.dumps(self.message, separators=(",", ":"))
        self.outcomes: Counter[str] = Counter()
        self.throttled_in_a_row = 0  # batches Meta refused for the rate, one after another

    def send(self, claimed_at: datetime, ids: list[int]) -> float:
        """Send one claimed batch. Returns 0, or the seconds to wait when the Page is throttled
        (the batch went back to the queue)."""
        ready, skipped, deferred = self._sort(self._load(claimed_at, ids), timezone.now())
        self._skip(claimed_at, State.CLAIMED, skipped)
        self._defer(claimed_at, deferred)
        if not ready:
            return 0.0
        attempted_at = timezone.now()
        ready, previous = self._start(claimed_at, ready, attempted_at)
        if not ready:
            return 0.0
        # Sends are spaced evenly, so a batch that goes late while the next one is on time puts
        # more than Meta's limit in one second. Hence the slot is reserved after the database
        # writes, right before the call, and a late wake-up moves the Page's next slot along. The
        # price: a worker killed during that wait (usually < 0.2 s) leaves its rows ``unknown``.
        limiter = ratelimit.limiter()
        wait = limiter.reserve(self.bucket, len(ready), self.rate)
        if wait > MAX_RATE_WAIT:
            self._give_back(claimed_at, [row for row, _ in ready], attempted_at, previous)
            self._set_throttled(wait)
            return wait
        due = time.monotonic() + wait
        if wait > 0:
            time.sleep(wait)
        if time.monotonic() - due > LATE:
            limiter.hold(self.bucket, len(ready) / self.rate)
        try:
            results = self.client.batch([request for _, request in ready])
        except GraphError as exc:
            results = [exc] * len(ready)
        plugins.after_send(
            campaign=self.campaign,
            outcomes=[(row, result) for (row, _), result in zip(ready, results, strict=True)],
        )
        return self._record(claimed_at, ready, results, attempted_at, previous)

    def _load(self, claimed_at: datetime, ids: list[int]) -> list[Delivery]:
        """The batch's rows still owned, with their subscribers and active tokens, in one query of
        plain values: the ORM's model loading (``select_related`` + a prefetch) cost more CPU
        than everything else a send does. Fields not loaded here load on access (plugins)."""
        db = Delivery.objects.db
        values = (
            owned(claimed_at, State.CLAIMED)
            .filter(id__in=ids)
            .alias(
                token=FilteredRelation(
                    "subscriber__tokens",
                    condition=Q(subscriber__tokens__status=MarketingToken.Status.ACTIVE),
                )
            )
            .order_by("id")
            .values_list(
                *ROW_FIELDS,
                *(f"subscriber__{name}" for name in SUBSCRIBER_FIELDS),
                *(f"token__{name}" for name in TOKEN_FIELDS),
            )
        )
        rows: dict[int, Delivery] = {}
        split, tokens_at = len(ROW_FIELDS), len(ROW_FIELDS) + len(SUBSCRIBER_FIELDS)
        for value in values:
            row = rows.get(value[0])
            if row is None:
                row = rows[value[0]] = Delivery.from_db(db, ROW_FIELDS, value[:split])
                subscriber = None
                if row.subscriber_id is not None:  # None: erased since the audience was frozen
                    subscriber = Subscriber.from_db(db, SUBSCRIBER_FIELDS, value[split:tokens_at])
                    subscriber.page = self.page
                    subscriber.active_tokens = []
                row.subscriber = subscriber
            if value[tokens_at] is not None:
                row.subscriber.active_tokens.append(
                    MarketingToken.from_db(db, TOKEN_FIELDS, value[tokens_at:])
                )
        return list(rows.values())

    def _start(self, claimed_at: datetime, ready: list, at: datetime) -> tuple[list, dict]:
        """Mark the rows ``sending`` and claim their recipients' cooldown, committed together
        before the Graph call (at most once). Returns the (row, request) pairs to send and the
        cooldowns they replaced, to give back if nothing is sent after all."""
        with transaction.atomic():
            sending = set(_mark_sending(claimed_at, [row.id for row, _ in ready], at))
            ready = [(row, request) for row, request in ready if row.id in sending]
            allowed = claim_cooldown([row.subscriber_id for row, _ in ready], at, self.page)
            capped = [(row, "frequency_cap") for row, _ in ready if row.subscriber_id not in allowed]
            self._skip(claimed_at, State.SENDING, capped)
        ready = [(row, request) for row, request in ready if row.subscriber_id in allowed]
        # Read with the batch a moment ago: the claim succeeded, so the value was free then, and
        # only a claim given back (restoring the same value) can have happened in between.
        previous = {row.subscriber_id: row.subscriber.last_marketing_at for row, _ in ready}
        return ready, previous

    def _give_back(self, claimed_at: datetime, rows: list[Delivery], at: datetime, previous: dict) -> None:
        """Nothing was sent: the rows go back to the queue and their cooldowns are released."""
        with transaction.atomic():
            owned(claimed_at, State.SENDING).filter(id__in=[r.id for r in rows]).update(
                state=State.PENDING, claimed_at=None, sent_at=None
            )
            release_cooldown([r.subscriber_id for r in rows], at, previous)

    def _sort(self, rows: list[Delivery], now: datetime):
        """Split claimed rows into (row, request) to send, (row, reason) to skip and
        (row, not_before) to defer."""
        ready, skipped, deferred = [], [], []
        build, veto = plugins.implemented("build_message"), plugins.implemented("before_send")
        expires_at = self.campaign.expires_at
        for row in rows:
            subscriber = row.subscriber
            if subscriber is None or subscriber.status != Subscriber.Status.SUBSCRIBED:
                skipped.append((row, "unsubscribed"))
                continue
            if expires_at and now >= expires_at:
                skipped.append((row, "expired"))
                continue
            quiet_until = self._quiet_until(subscriber, now)
            if quiet_until:
                if expires_at and quiet_until >= expires_at:
                    skipped.append((row, "quiet_hours"))
                else:
                    deferred.append((row, quiet_until))
                continue
            if self.campaign.is_flow and store.exited(self.campaign, row):
                skipped.append((row, "exited"))
                continue
            message = self.message
            if build:
                message = (
                    plugins.build_message(campaign=self.campaign, subscriber=subscriber, message=message)
                    or message
                )
            if self.tracks_clicks:
                message = analytics.tracked_buttons(message, row.id)
            if veto and False in plugins.before_send(
                campaign=self.campaign, subscriber=subscriber, message=message
            ):
                skipped.append((row, "vetoed"))
                continue
            payload = self.message_json if message is self.message else message
            request = self.channel.request(subscriber, payload, self.context)
            if isinstance(request, str):
                skipped.append((row, request))
            else:
                ready.append((row, request))
        return ready, skipped, deferred

    def _quiet_until(self, subscriber: Subscriber, now: datetime) -> datetime | None:
        """When the subscriber's quiet hours end, if they are in them now (their own timezone)."""
        start, end = self.campaign.quiet_hours_start, self.campaign.quiet_hours_end
        if start is None or end is None or start == end:
            return None
        local = timezone.localtime(now, _zone(subscriber.timezone, _zone(self.page.account.timezone)))
        t = local.timetz().replace(tzinfo=None)
        inside = start <= t < end if start < end else (t >= start or t < end)
        if not inside:
            return None
        end_day = local.date() if t < end else local.date() + timedelta(days=1)
        return datetime.combine(end_day, end, tzinfo=local.tzinfo)

    def _record(self, claimed_at: datetime, ready, results, attempted_at: datetime, previous: dict) -> float:
        """Save each outcome (of rows still this batch's); returns seconds to wait if Meta
        throttled the Page."""
        now = timezone.now()
        sent: list[Delivery] = []
        groups: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
        release: list[Delivery] = []  # not sent: give the cooldown back
        hold = 0.0
        max_attempts = conf.get("MAX_ATTEMPTS")
        for (row, _), result in zip(ready, results, strict=True):
            if isinstance(result, SendResult):
                row.state, row.message_id, row.sent_at = State.SENT, result.message_id or "", now
                sent.append(row)
                self.outcomes["sent"] += 1
                continue
            self.campaign.last_error = str(result)[:500]
            if isinstance(result, RecipientUnavailable):
                groups[(State.FAILED, result.reason)].append(row)
                release.append(row)
                subscriptions.unsubscribe(row.subscriber, source="send_error", reason=result.reason)
            elif isinstance(result, NotEligibleYet):
                groups[(State.SKIPPED, "frequency_cap")].append(row)
            elif isinstance(result, OutsideWindow):
                groups[(State.FAILED, "outside_window")].append(row)
                release.append(row)
            elif isinstance(result, RateLimited):
                groups[(State.PENDING, "")].append(row)
                release.append(row)
                hold = max(hold, result.retry_after)
            elif isinstance(result, AuthError):
                groups[(State.PENDING, "")].append(row)
                release.append(row)
                pause_page(self.page, str(result))
            elif isinstance(result, TransientError) and result.code is None and result.http_status is None:
                groups[(State.UNKNOWN, "timeout")].append(row)  # Meta may have sent it
            elif isinstance(result, TransientError) and row.attempts + 1 < max_attempts:
                groups[(State.PENDING, "")].append(row)
                release.append(row)
            else:
                reason = "transient" if isinstance(result, TransientError) else f"error_{result.code}"
                groups[(State.FAILED, reason)].append(row)
                release.append(row)
        with transaction.atomic():
            recorded = mark_sent(claimed_at, sent, now)
            counters = {"sent": recorded, f"sent@{now:%Y-%m-%dT%H:%M}": recorded}
            for (state, reason), rows in groups.items():
                update = {"state": state, "reason": reason}
                if state == State.PENDING:  # back in the queue for another attempt
                    update.update(claimed_at=None, sent_at=None, attempts=F("attempts") + 1)
                recorded = (
                    owned(claimed_at, State.SENDING).filter(id__in=[r.id for r in rows]).update(**update)
                )
                if state in (State.FAILED, State.UNKNOWN):
                    self.outcomes["failed"] += recorded
                if state != State.PENDING:
                    counters[_counter(state, reason)] = recorded
            release_cooldown([r.subscriber_id for r in release], attempted_at, previous)
            analytics.bump(self.campaign.pk, counters)
        if hold:
            self.throttled_in_a_row += 1
            hold = max(hold, min(MIN_RETRY_AFTER * 2 ** (self.throttled_in_a_row - 1), DEFAULT_RETRY_AFTER))
            ratelimit.hold_page(self.page, hold)
            self._set_throttled(hold)
        elif sent:
            self.throttled_in_a_row = 0
        self._check_error_rate()
        return hold if hold > MAX_RATE_WAIT else 0.0

    def _skip(self, claimed_at: datetime, state: str, skipped: list[tuple[Delivery, str]]) -> None:
        for reason, ids in _by_value((reason, row.id) for row, reason in skipped).items():
            count = (
                owned(claimed_at, state)
                .filter(id__in=ids)
                .update(state=State.SKIPPED, reason=reason, sent_at=None)
            )
            analytics.bump(self.campaign.pk, {f"skipped:{reason}": count})

    def _defer(self, claimed_at: datetime, deferred: list[tuple[Delivery, datetime]]) -> None:
        for not_before, ids in _by_value((not_before, row.id) for row, not_before in deferred).items():
            owned(claimed_at, State.CLAIMED).filter(id__in=ids).update(
                state=State.PENDING, not_before=not_before, claimed_at=None
            )

    def _set_throttled(self, seconds: float) -> None:
        until = timezone.now() + timedelta(seconds=seconds)
        Campaign.objects.filter(pk=self.campaign.pk).update(
            throttled_until=until, last_error=self.campaign.last_error
        )

    def _check_error_rate(self) -> None:
        total = sum(self.outcomes.values())
        failed = self.outcomes["failed"]
        if total >= conf.get("ERROR_RATE_MIN_SAMPLE") and failed / total > conf.get("ERROR_RATE_PAUSE"):
            reason = f"Paused automatically: {failed} of {total} messages failed. Last error: {self.campaign.last_error}"
            Campaign.objects.filter(pk=self.campaign.pk, status=Status.RUNNING).update(
                status=Status.PAUSED, last_error=reason
            )
            logger.warning("Campaign %s: %s", self.campaign.pk, reason)


# -- The frequency cap ---------------------------------------------------------------------------


def claim_cooldown(subscriber_ids: list[int], at: datetime, page: MessengerPage) -> set[int]:
    """Atomically take the marketing-message cooldown of these subscribers at ``at``; returns
    the ids that were free (their ``last_marketing_at`` is now ``at``). One ``UPDATE …
    RETURNING`` decides: of two campaigns or workers racing for a person, exactly one gets them."""
    if not subscriber_ids:
        return set()
    table = Subscriber._meta.db_table
    placeholders = ", ".join(["%s"] * len(subscriber_ids))
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_marketing_at = %s WHERE id IN ({placeholders}) "
            f"AND (last_marketing_at IS NULL OR last_marketing_at <= %s) RETURNING id",
            [adapt(at), *subscriber_ids, adapt(at - page.cooldown)],
        )
        return {row[0] for row in cursor.fetchall()}


def release_cooldown(subscriber_ids: list[int], at: datetime, previous: dict) -> None:
    """Give back cooldowns claimed at ``at`` for messages that were not sent (unless another
    send has claimed them since)."""
    for value, ids in _by_value((previous.get(pk), pk) for pk in subscriber_ids).items():
        Subscriber.objects.filter(pk__in=ids, last_marketing_at=at).update(last_marketing_at=value)


# -- Page problems, the periodic tick, progress --------------------------------------------------


def pause_page(page: MessengerPage, reason: str) -> None:
    """Meta refused the Page's credentials: stop everything it sends until someone re-checks
    the connection, and say why on the Page and on each campaign."""
    MessengerPage.objects.filter(pk=page.pk).update(
        status=MessengerPage.Status.PAUSED, status_reason=reason[:255]
    )
    Campaign.objects.filter(page=page, status__in=(Status.RUNNING, Status.SCHEDULED)).update(
        status=Status.PAUSED, last_error=f"The Page was paused: {reason}"
    )
    logger.error("Page %s paused: %s", page.page_id, reason)


def tick() -> None:
    """Every minute: start scheduled campaigns that are due, recover rows of dead workers, and
    restart campaigns no worker is on (e.g. after the cluster was restarted)."""
    now = timezone.now()
    for campaign in Campaign.objects.filter(status=Status.SCHEDULED).select_related("page", "page__account"):
        if _starts_at(campaign) <= now:
            try:
                start(campaign)
            except CampaignError as exc:
                Campaign.objects.filter(pk=campaign.pk).update(status=Status.PAUSED, last_error=str(exc))
    lease = timedelta(seconds=conf.get("CLAIM_LEASE_SECONDS"))
    for campaign in Campaign.objects.filter(status=Status.RUNNING).select_related("page"):
        recover(campaign)
        busy = campaign.deliveries.filter(
            state__in=(State.CLAIMED, State.SENDING), claimed_at__gte=now - lease
        )
        due = campaign.deliveries.filter(
            Q(not_before__isnull=True) | Q(not_before__lte=now), state=State.PENDING
        )
        finishable = not campaign.is_flow and not campaign.deliveries.filter(state__in=OPEN_STATES).exists()
        if not busy.exists() and (due.exists() or finishable):
            launch(campaign.pk)


def _counter(state: str, reason: str) -> str:
    """The counter of a final outcome: ``sent``, ``unknown``, ``failed:<reason>``, ``skipped:<reason>``."""
    return f"{state}:{reason}" if state in (State.FAILED, State.SKIPPED) else state


def progress(campaign: Campaign) -> dict:
    """What the campaign's progress view shows, from maintained counters (no ledger scan)."""
    counters = analytics.stats(campaign)
    failed = {name.split(":", 1)[1]: n for name, n in counters.items() if name.startswith("failed:") and n}
    skipped = {name.split(":", 1)[1]: n for name, n in counters.items() if name.startswith("skipped:") and n}
    total = campaign.audience_size
    done = counters.get("sent", 0) + counters.get("unknown", 0) + sum(failed.values()) + sum(skipped.values())
    queued = max(0, total - done)
    # The last complete minute's sends (a per-minute counter; the ledger is never scanned).
    last_minute = (timezone.now() - timedelta(minutes=1)).astimezone(dt_timezone.utc)
    rate = counters.get(f"sent@{last_minute:%Y-%m-%dT%H:%M}", 0) / 60 if queued else 0.0
    throttled = (
        campaign.throttled_until
        if campaign.throttled_until and campaign.throttled_until > timezone.now()
        else None
    )
    return {
        "status": campaign.status,
        "audience": total,
        "queued": queued,
        "sent": counters.get("sent", 0),
        "delivered": counters.get("delivered", 0),
        "read": counters.get("read", 0),
        "failed": failed,
        "skipped": skipped,
        "unknown": counters.get("unknown", 0),
        "percent": round(100 * done / total, 1) if total else 0.0,
        "rate_per_second": round(rate, 1),
        "throttled_until": throttled,
        "last_error": campaign.last_error,
        "eta_seconds": queued / rate if rate and queued else None,
    }


def _mark_sending(claimed_at: datetime, ids: list[int], at: datetime) -> list[int]:
    """Mark the batch's rows ``sending`` (``sent_at`` records the attempt, and the cooldown
    claimed for it, until Meta answers); returns the ids of those still owned."""
    table = Delivery._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, sent_at = %s WHERE id IN ({placeholders}) "
            f"AND claimed_at = %s AND state = %s RETURNING id",
            [State.SENDING, adapt(at), *ids, adapt(claimed_at), State.CLAIMED],
        )
        return [row[0] for row in cursor.fetchall()]


def mark_sent(claimed_at: datetime, rows: list[Delivery], at: datetime) -> int:
    """Record sent rows (still owned) and their Meta message ids in one statement
    (``bulk_update`` builds an ORM expression per row and field: most of a worker's CPU at
    Meta's rate). Returns how many were recorded."""
    if not rows:
        return 0
    table = Delivery._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    source, params = bulk.rows_source(
        [("id", Delivery._meta.pk), ("message_id", Delivery._meta.get_field("message_id"))],
        [(row.id, row.message_id) for row in rows],
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, sent_at = %s, message_id = v.message_id "
            f"FROM {source} WHERE {table}.id = v.id AND {table}.claimed_at = %s AND {table}.state = %s",
            [State.SENT, adapt(at), *params, adapt(claimed_at), State.SENDING],
        )
        return cursor.rowcount
