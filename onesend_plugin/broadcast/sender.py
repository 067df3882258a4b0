"""Sending one claimed batch: load it, sort it (send, skip, defer), mark it ``sending`` and take
the cooldowns (committed before the Graph call: at most once), wait for the Page's rate-limit
slot, call Meta, and record every outcome."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import analytics, conf, messages
from ..analytics.counters import Kind, outcome, per_minute, refused_hourly
from ..hooks import PluginError, plugins
from ..hooks.types import Message
from ..messenger.client import SendResult
from ..messenger.errors import (
    DEFAULT_RETRY_AFTER,
    MIN_RETRY_AFTER,
    AuthError,
    BudgetSpent,
    CampaignNotReady,
    DailyBudgetReached,
    GraphError,
    NotEligibleYet,
    OutsideWindow,
    PaidAccountError,
    RateLimited,
    RecipientUnavailable,
    SentDespiteError,
    TransientError,
)
from ..meta import client_for
from ..models import Campaign, Channel, Delivery, Subscriber
from ..subscribe import subscriptions
from . import channels, ratelimit
from .abtest import WINNER_WAIT
from .cooldown import claim_cooldown, note_cap_ends, release_cooldown
from .ledger import RETRIED_UNKNOWN, by_value, load_batch, mark_sending, mark_sent, owned
from .recipients import exited
from .timing import quiet_until
from .transitions import pause_page

logger = logging.getLogger(__name__)

State = Delivery.State
Status = Campaign.Status
#: Outcomes of a call that surely sent nothing: their rows give the cooldown they claimed back.
UNSENT = (State.FAILED, State.PENDING)
#: The reason of a row a plugin failed for (its ``error`` names the plugin).
PLUGIN_ERROR = "plugin_error"
#: The reason of a row Meta's paid API would not take yet (one message per person per 12 h).
NOT_ELIGIBLE_YET = "not_eligible_yet"
#: The reason of a row the paid API's frequency caps refused (2300042-2300044, ``NotEligibleYet``).
META_FREQUENCY_CAP = "meta_frequency_cap"
#: The reason of a row the paid API refused for the person's region (2300032).
RECIPIENT_REGION = "recipient_region"
#: The note of a row Meta sent although it answered with an error (1/1357046).
SENT_DESPITE_ERROR = "Meta reported an error after sending"
#: The reason of a retried ``unknown`` row Meta's paid API refused as ``not_eligible_yet``: the
#: lost attempt most likely reached the person, who must not get the campaign again 12 h later.
PROBABLY_DELIVERED = "probably_already_delivered"
#: Waiting longer than this for the rate limiter ends the run; a later run picks up.
MAX_RATE_WAIT = 10.0
#: A batch leaving this much after its slot (seconds) delays the next one. It is well under the
#: slack Meta's one-second window leaves at the default headroom (31 ms for batches of 50 at 291/s).
LATE = 0.005


class Sender:
    """Sends claimed batches of one campaign and records every outcome."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.page = campaign.page
        self.client = client_for(self.page)
        self.channel = channels.for_page(self.page)
        # Each row's message by its A/B test variant: A's, B's, and the rest's (the winner's, None
        # until it is picked); a campaign without a test has one message for all.
        self.messages = {v: messages.sent_message(campaign, v) for v in ("", "a", "b")}
        self.context = campaign.message.get("channel", {})
        media = any(messages.is_media(message) for message in self.messages.values() if message)
        self.bucket, self.rate = ratelimit.bucket(self.page, media)
        self.batch_size = ratelimit.batch_size(media, self.rate, conf.get("BATCH_SIZE"))
        self.tracked = {
            v for v, message in self.messages.items() if message and analytics.button_urls(message)
        }
        self.unsubscribable = messages.has_unsubscribe(campaign.message["body"])
        # Encoded once: recipients whose message no plugin or link tracking changed share it.
        self.encoded = {
            v: json.dumps(message, separators=(",", ":")) for v, message in self.messages.items() if message
        }
        self.outcomes: Counter[str] = Counter()
        self.plugin_failures: Counter[str] = Counter()  # rows failed, by the plugin that raised
        self.throttled_in_a_row = 0  # batches Meta refused for the rate, one after another

    def send(self, claimed_at: datetime, ids: list[int]) -> float:
        """Send one claimed batch, then pause the campaign if too many sends failed (counted
        once all of the batch's outcomes are, so the reason gives the true figures). Returns 0,
        or the seconds to wait when the Page is throttled (the batch went back to the queue)."""
        wait = self._send(claimed_at, ids)
        self._check_error_rate()
        return wait

    def _send(self, claimed_at: datetime, ids: list[int]) -> float:
        ready, skipped, deferred, failed = self._sort(load_batch(claimed_at, ids, self.page), timezone.now())
        self._skip(claimed_at, State.CLAIMED, skipped)
        self._defer(claimed_at, deferred)
        self._fail(claimed_at, failed)
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
        results = self._call(ready)
        wait = self._record(claimed_at, ready, results, attempted_at, previous)
        self._after_send([(row, result) for (row, _), result in zip(ready, results, strict=True)])
        return wait

    def _call(self, ready: list) -> list[SendResult | GraphError]:
        """Meta's answers to the batch's requests, in order: one Graph batch per token, the Page's
        (standard and legacy sends) and the business's (paid sends, ``Channel.PER_PERSON``)."""
        results: list[SendResult | GraphError | None] = [None] * len(ready)
        for paid, indexes in by_value(
            (row.channel == Channel.MARKETING_API, i) for i, (row, _) in enumerate(ready)
        ).items():
            channel = channels.CHANNELS[Channel.MARKETING_API if paid else Channel.STANDARD]
            try:
                answers = channel.send_client(self.page).batch([ready[i][1] for i in indexes])
            except GraphError as exc:
                answers = [exc] * len(indexes)
            for i, answer in zip(indexes, answers, strict=True):
                results[i] = answer
        return results  # type: ignore[return-value]

    def _start(self, claimed_at: datetime, ready: list, at: datetime) -> tuple[list, dict]:
        """Mark the rows ``sending`` and claim their recipients' cooldown, committed together
        before the Graph call (at most once). Returns the (row, request) pairs to send and the
        cooldowns they replaced, to give back if nothing is sent after all."""
        with transaction.atomic():
            sending = set(mark_sending(claimed_at, by_value((row.channel, row.id) for row, _ in ready), at))
            ready = [(row, request) for row, request in ready if row.id in sending]
            allowed = claim_cooldown([row.subscriber_id for row, _ in ready], at, self.page)
            capped = [(row, "frequency_cap") for row, _ in ready if row.subscriber_id not in allowed]
            self._skip(claimed_at, State.SENDING, capped)
            note_cap_ends([row for row, _ in capped], self.page)
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
        """Split claimed rows into (row, request) to send, (row, reason) to skip,
        (row, not_before) to defer and (row, PluginError) a plugin failed for."""
        ready, skipped, deferred, failed = [], [], [], []
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
            quiet_end = quiet_until(self.campaign, subscriber, now)
            if quiet_end:
                if expires_at and quiet_end >= expires_at:
                    skipped.append((row, "quiet_hours"))
                else:
                    deferred.append((row, quiet_end))
                continue
            if self.campaign.is_flow and exited(self.campaign, row):
                skipped.append((row, "exited"))
                continue
            base = self.messages[row.variant]
            if base is None:  # the rest of an A/B test, met before its winner was recorded
                deferred.append((row, now + WINNER_WAIT))
                continue
            try:
                message = self._message_for(row, base, build, veto)
            except PluginError as exc:
                failed.append((row, exc))
                continue
            if message is None:
                skipped.append((row, "vetoed"))
                continue
            payload = self.encoded[row.variant] if message is base else message
            channel = self.channel.pick(subscriber, self.context)
            request = (
                channel if isinstance(channel, str) else channel.request(subscriber, payload, self.context)
            )
            if isinstance(request, str):
                skipped.append((row, request))
            else:
                row.channel = channel.key
                ready.append((row, request))
        return ready, skipped, deferred, failed

    def _message_for(self, row: Delivery, base: Message, build: bool, veto: bool) -> Message | None:
        """The row's message: with plugins, a deep copy of the campaign's (its variant's, ``base``:
        so no change a plugin makes reaches another recipient) that ``build_message`` may replace;
        with tracked links, and the campaign's Unsubscribe quick reply put back after the hooks (see
        ``messages.with_unsubscribe``). None when ``before_send`` vetoes it; ``PluginError``
        when a plugin fails."""
        message = copy.deepcopy(base) if build or veto else base
        campaign, subscriber = self.campaign, row.subscriber
        if build:
            replaced = plugins.call_contained(
                "build_message",
                check=messages.check,
                campaign=campaign,
                subscriber=subscriber,
                message=message,
            )
            message = replaced or message
        if row.variant in self.tracked:
            message = analytics.tracked_buttons(message, row.id)
        if veto and False in plugins.call_contained(
            "before_send", campaign=campaign, subscriber=subscriber, message=message
        ):
            return None
        if self.unsubscribable and (build or veto):
            message = messages.with_unsubscribe(message)
        return message

    def _record(self, claimed_at: datetime, ready, results, attempted_at: datetime, previous: dict) -> float:
        """Save each outcome (of rows still this batch's); returns seconds to wait if Meta
        throttled the Page."""
        now = timezone.now()
        sent: list[Delivery] = []
        groups: dict[tuple[str, str, str], list[Delivery]] = defaultdict(list)
        hold = 0.0
        max_attempts = conf.get("MAX_ATTEMPTS")
        waiting: list[tuple[Delivery, datetime | None]] = []
        warming = False
        for (row, _), result in zip(ready, results, strict=True):
            if isinstance(result, SendResult):
                row.state, row.message_id, row.sent_at = State.SENT, result.message_id or "", now
                sent.append(row)
                self.outcomes["sent"] += 1
                continue
            self.campaign.last_error = str(result)[:500]
            if isinstance(result, SentDespiteError):  # sent: keeps its cooldown, never resent
                groups[State.SENT, "", f"{SENT_DESPITE_ERROR}: {result}"].append(row)
                self.outcomes["sent"] += 1
                continue
            if _not_eligible_yet(result) and row.reason != RETRIED_UNKNOWN:
                waiting.append((row, channels.MarketingApiChannel().eligible_at(row.subscriber, self.client)))
                continue
            row.state, row.reason = self._outcome(row, result, max_attempts)
            # Meta's message, unless the row goes back to the queue (a later send would keep it).
            error = "" if row.state == State.PENDING else str(result)
            groups[row.state, row.reason, error].append(row)
            if isinstance(result, RateLimited):
                hold = max(hold, _hold_for(result))
            warming |= isinstance(result, CampaignNotReady) and not isinstance(result, DailyBudgetReached)
        with transaction.atomic():
            counters = self._save(claimed_at, sent, groups, now)
            unsent = [
                r.subscriber_id for (state, *_), rows in groups.items() if state in UNSENT for r in rows
            ]
            unsent += self._wait_for_meta(claimed_at, waiting, counters, now)
            release_cooldown(unsent, attempted_at, previous)
            analytics.bump(self.campaign.pk, counters)
        paid_sent = any(row.channel == Channel.MARKETING_API for row in sent)
        self._note_warm_up(warming, paid_sent, now, clean=not groups and not waiting)
        return self._after_batch(hold, bool(sent))

    def _note_warm_up(self, warming: bool, paid_sent: bool, now: datetime, clean: bool) -> None:
        """Show "Warming up" while Meta says the paid API's new message campaign is not ready
        (about an hour after its creation: FAQs of the Marketing Message API for Messenger), even
        when free messages of a per-person campaign go out meanwhile, until the first paid message
        goes out; then the campaign shows "Sending" again, and Meta's "not active yet" is no
        longer its last error (the batch's own, unless ``clean``, is kept here for a throttle)."""
        campaigns = Campaign.objects.filter(pk=self.campaign.pk)
        if paid_sent and self.campaign.warming_up_since:
            campaigns.update(warming_up_since=None)
            self.campaign.warming_up_since = None
            campaigns.filter(status=Status.RUNNING).update(last_error="")
            if clean:
                self.campaign.last_error = ""
        elif warming and not paid_sent and not self.campaign.warming_up_since:
            campaigns.filter(status=Status.RUNNING).update(warming_up_since=now)
            self.campaign.warming_up_since = now

    def _outcome(self, row: Delivery, result: GraphError, max_attempts: int) -> tuple[str, str]:
        """The state and reason a failed send leaves its row in (``pending``: to be tried again),
        after acting on what Meta said (the person is unreachable, the Page's token is dead)."""
        if isinstance(result, RecipientUnavailable):
            token = channels.token_used(row.subscriber) if result.topic_only else None
            topic = token.topic if token else None  # none: every topic
            subscriptions.unsubscribe(row.subscriber, source="send_error", reason=result.reason, topic=topic)
            return State.FAILED, result.reason
        if _not_eligible_yet(result):  # only a retried unknown row (`_record`): it reached them
            return State.SKIPPED, PROBABLY_DELIVERED
        if isinstance(result, NotEligibleYet):
            if result.reason == RECIPIENT_REGION:  # remembered: later campaigns skip them unasked
                Subscriber.objects.filter(pk=row.subscriber_id).update(paid_region_refused_at=timezone.now())
            return State.SKIPPED, result.reason
        if isinstance(result, OutsideWindow):
            return State.FAILED, "outside_window"
        if isinstance(result, RateLimited):
            return State.PENDING, ""
        if isinstance(result, BudgetSpent):
            reason = f"Paused: Meta says the campaign's budget is spent ({result})."
            Campaign.objects.filter(pk=self.campaign.pk, status=Status.RUNNING).update(
                status=Status.PAUSED, last_error=reason[:500]
            )
            return State.PENDING, ""
        if isinstance(result, PaidAccountError):
            self.page.note_paid_error(result.subcode or result.code, str(result))
            pause_page(self.page, f"{result.advice} (Meta: {result})")
            return State.PENDING, ""
        if isinstance(result, AuthError):
            pause_page(self.page, str(result))
            return State.PENDING, ""
        if isinstance(result, TransientError) and result.code is None and result.http_status is None:
            return State.UNKNOWN, "timeout"  # Meta may have sent it
        if isinstance(result, TransientError) and row.attempts + 1 < max_attempts:
            return State.PENDING, ""
        return State.FAILED, "transient" if isinstance(result, TransientError) else f"error_{result.code}"

    def _wait_for_meta(
        self,
        claimed_at: datetime,
        waiting: list[tuple[Delivery, datetime | None]],
        counters: dict,
        now: datetime,
    ) -> list[int]:
        """Rows Meta refused because it took a paid message to the person less than 12 h ago
        (Send Messages on Marketing Message API for Messenger): back in the queue until the time
        Meta gives when the campaign is still on then, else skipped with that time in ``error``.
        Returns the subscribers of the rows put back (their cooldown claim is given back)."""
        expires_at, deferred = self.campaign.expires_at, []
        for row, at in waiting:
            rows = owned(claimed_at, State.SENDING).filter(id=row.id)
            if at is not None and at > now and (expires_at is None or at < expires_at):
                if rows.update(state=State.PENDING, not_before=at, claimed_at=None, sent_at=None):
                    deferred.append(row.subscriber_id)
                continue
            when = f"Meta takes their next paid message from {at:%Y-%m-%d %H:%M} UTC." if at else ""
            skipped = rows.update(state=State.SKIPPED, reason=NOT_ELIGIBLE_YET, error=when, sent_at=None)
            name = outcome(State.SKIPPED, NOT_ELIGIBLE_YET)
            counters[name] = counters.get(name, 0) + skipped
        return deferred

    def _save(
        self, claimed_at: datetime, sent: list[Delivery], groups: dict, now: datetime
    ) -> dict[str, int]:
        """Write the outcomes of the rows still owned; returns the counters to bump."""
        recorded = mark_sent(claimed_at, sent, now)
        counters = {Kind.SENT: recorded, per_minute(Kind.SENT, now): recorded}
        for (state, reason, error), rows in groups.items():
            update = {"state": state, "reason": reason, "error": error}
            if state == State.PENDING:  # back in the queue for another attempt, its reason kept
                del update["reason"]
                update.update(claimed_at=None, sent_at=None, attempts=F("attempts") + 1)
            recorded = owned(claimed_at, State.SENDING).filter(id__in=[r.id for r in rows]).update(**update)
            if state in (State.FAILED, State.UNKNOWN):
                self.outcomes["failed"] += recorded
            if state != State.PENDING:
                name = outcome(state, reason)
                counters[name] = counters.get(name, 0) + recorded
            if state == State.SENT:
                counters[per_minute(Kind.SENT, now)] += recorded
            if reason == META_FREQUENCY_CAP:  # the wall on the dashboard's balance
                counters[refused_hourly(now)] = counters.get(refused_hourly(now), 0) + recorded
        return counters

    def _after_batch(self, hold: float, any_sent: bool) -> float:
        """Hold the Page when Meta throttled it (backing off while it keeps doing so); returns
        the seconds to wait when that ends the run."""
        if hold:
            self.throttled_in_a_row += 1
            hold = max(hold, min(MIN_RETRY_AFTER * 2 ** (self.throttled_in_a_row - 1), DEFAULT_RETRY_AFTER))
            ratelimit.hold_page(self.page, hold)
            self._set_throttled(hold)
        elif any_sent:
            self.throttled_in_a_row = 0
        return hold if hold > MAX_RATE_WAIT else 0.0

    def _skip(self, claimed_at: datetime, state: str, skipped: list[tuple[Delivery, str]]) -> None:
        for reason, ids in by_value((reason, row.id) for row, reason in skipped).items():
            count = (
                owned(claimed_at, state)
                .filter(id__in=ids)
                .update(state=State.SKIPPED, reason=reason, sent_at=None)
            )
            analytics.bump(self.campaign.pk, {outcome(State.SKIPPED, reason): count})

    def _defer(self, claimed_at: datetime, deferred: list[tuple[Delivery, datetime]]) -> None:
        for not_before, ids in by_value((not_before, row.id) for row, not_before in deferred).items():
            owned(claimed_at, State.CLAIMED).filter(id__in=ids).update(
                state=State.PENDING, not_before=not_before, claimed_at=None
            )

    def _fail(self, claimed_at: datetime, failed: list[tuple[Delivery, PluginError]]) -> None:
        """Rows a plugin failed for: ``failed`` (reason ``plugin_error``, the plugin's error in
        ``error``), counted against the error rate; the last error is the campaign's."""
        if not failed:
            return
        for row, exc in failed:
            logger.error("Campaign %s, delivery %s: %s", self.campaign.pk, row.id, exc, exc_info=exc)
        for error, ids in by_value((str(exc), row.id) for row, exc in failed).items():
            count = (
                owned(claimed_at, State.CLAIMED)
                .filter(id__in=ids)
                .update(state=State.FAILED, reason=PLUGIN_ERROR, error=error, sent_at=None)
            )
            analytics.bump(self.campaign.pk, {outcome(State.FAILED, PLUGIN_ERROR): count})
            self.outcomes["failed"] += count
        self.plugin_failures.update(exc.plugin for _, exc in failed)
        self._show_error(str(failed[-1][1]))

    def _after_send(self, outcomes: list[tuple[Delivery, SendResult | GraphError]]) -> None:
        """Give plugins the batch's outcomes, once saved: a plugin that fails changes none of
        them; its error is logged and shown as the campaign's last error."""
        try:
            plugins.call_contained("after_send", campaign=self.campaign, outcomes=outcomes)
        except PluginError as exc:
            logger.error("Campaign %s: %s", self.campaign.pk, exc, exc_info=exc)
            self._show_error(str(exc))

    def _show_error(self, error: str) -> None:
        """The campaign's last error, unless it was paused (its reason stays)."""
        self.campaign.last_error = error[:500]
        Campaign.objects.filter(pk=self.campaign.pk, status=Status.RUNNING).update(
            last_error=self.campaign.last_error
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
            reason = f"Paused automatically: {failed} of {total} messages failed."
            [(plugin, count)] = self.plugin_failures.most_common(1) or [("", 0)]
            if count * 2 > failed:
                reason += f" Most failed because the plugin {plugin!r} raised an error."
            reason += f" Last error: {self.campaign.last_error}"
            if Campaign.objects.filter(pk=self.campaign.pk, status=Status.RUNNING).update(
                status=Status.PAUSED, last_error=reason
            ):
                logger.warning("Campaign %s: %s", self.campaign.pk, reason)


def _not_eligible_yet(result: GraphError) -> bool:
    """Meta's paid API refused the message: it took a paid message to the person less than
    12 h ago (Send Messages on Marketing Message API for Messenger, 2300035)."""
    return isinstance(result, NotEligibleYet) and result.reason == NOT_ELIGIBLE_YET


def _hold_for(result: RateLimited) -> float:
    """Seconds the Page's sends wait after ``result``: Meta's own figure, else for a paid campaign
    still warming up ``PAID_WARM_UP_RETRY_SECONDS`` (the demo's simulator warms up in a minute)."""
    if type(result) is CampaignNotReady and result.remaining_seconds is None:
        return float(conf.get("PAID_WARM_UP_RETRY_SECONDS"))
    return result.retry_after
