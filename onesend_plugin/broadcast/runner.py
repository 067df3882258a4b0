"""Workers on a campaign: each run is a django-q2 task that claims and sends batches for a
bounded time, then hands over to a fresh task, finishes the campaign, or comes back later."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task, schedule

from .. import conf
from ..models import Campaign, Delivery
from . import abtest, recipients
from .ledger import OPEN_STATES, claim, recover
from .sender import MAX_RATE_WAIT, Sender

State = Delivery.State
Status = Campaign.Status


#: The shortest turn a worker takes on a campaign (seconds), whatever the task timeout.
MIN_TURN = 5.0
#: Seconds a turn keeps free besides its last batch's longest time: database writes, the hand-over.
TURN_MARGIN = 4.0

#: The task that freezes a started broadcast's audience into the ledger (``freeze_turn``).
FREEZE_TASK = "onesend_plugin.tasks.start_campaign"


def queue_freeze(campaign_id: int) -> None:
    """A task to freeze the campaign's audience, holding it for two task timeouts: the minute
    tick starts another only if this one never ends its turn (a killed worker)."""
    Campaign.objects.filter(pk=campaign_id).update(freezing_until=timezone.now() + 2 * _task_timeout())
    async_task(FREEZE_TASK, campaign_id)


def freeze_turn(campaign_id: int) -> int | None:
    """A task's turn at freezing a started broadcast's audience, for at most a worker's budget
    (under django-q2's task timeout, which a million rows would outlast): then a fresh task goes
    on, or, everyone in, workers go on the campaign. Returns the audience's size once all in.
    Nothing for a campaign frozen already, cancelled, or put back to draft meanwhile."""
    holds = Campaign.objects.filter(
        pk=campaign_id, frozen_at__isnull=True, status__in=(Status.RUNNING, Status.PAUSED)
    ).update(freezing_until=timezone.now() + 2 * _task_timeout())
    if not holds:
        return None
    campaign = Campaign.objects.select_related("page", "page__account").get(pk=campaign_id)
    size = recipients.freeze(campaign, deadline=time.monotonic() + _task_timeout().total_seconds() * 0.75)
    if size is None:
        queue_freeze(campaign_id)
    else:
        launch(campaign_id, conf.get("RUNNERS_PER_CAMPAIGN"))
    return size


def launch(campaign_id: int, runners: int = 1) -> None:
    """Put ``runners`` workers on the campaign."""
    for _ in range(runners):
        async_task("onesend_plugin.tasks.run_campaign", campaign_id)


def run(campaign_id: int, *, budget: float | None = None) -> str:
    """A worker's turn on a campaign: send batches until none is left or its time budget (kept
    under django-q2's task timeout) is spent, then hand over to a fresh task if needed."""
    campaign = Campaign.objects.select_related("page", "page__account").get(pk=campaign_id)
    recover(campaign)
    abtest.decide_if_due(campaign)  # before the rest are sent: they get the winner
    sender = Sender(campaign)
    deadline = time.monotonic() + (budget if budget is not None else turn_budget())
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


def turn_budget() -> float:
    """A worker's time for starting batches: django-q2's task timeout less the longest a batch can
    take and a margin. django-q2 stops a task at its timeout; a worker stopped mid-send would leave
    its rows ``sending`` for the claim lease, then unknown. ``onesend.W011`` warns of a timeout
    too short for a turn of ``MIN_TURN``."""
    return max(MIN_TURN, _task_timeout().total_seconds() - timeout_for_turn(0))


def timeout_for_turn(turn: float = MIN_TURN) -> float:
    """The task timeout that gives a worker ``turn`` seconds to start batches in (the inverse of
    ``turn_budget``)."""
    return turn + longest_batch() + TURN_MARGIN


def longest_batch() -> float:
    """The longest a batch takes once started: a wait for the rate limiter, then up to two Graph
    calls (the Page's standard sends, the business's paid ones) at ``HTTP_TIMEOUT``."""
    return MAX_RATE_WAIT + 2 * sum(conf.get("HTTP_TIMEOUT"))


def _task_timeout() -> timedelta:
    return timedelta(seconds=getattr(settings, "Q_CLUSTER", {}).get("timeout") or 60)


def schedule_run(campaign_id: int, *, after: float) -> None:
    """A worker on the campaign in ``after`` seconds."""
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
        # A flow stays active, waiting for events; a broadcast is done once its whole audience
        # is in the ledger (its freeze puts workers on it again then).
        broadcast = Campaign.objects.filter(pk=campaign_id, trigger_event="")
        if broadcast.filter(frozen_at__isnull=True).exists():
            return "freezing"
        broadcast.filter(status=Status.RUNNING).update(
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
