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

from ..models import Campaign, Delivery
from . import abtest
from .ledger import OPEN_STATES, claim, recover
from .sender import Sender

State = Delivery.State
Status = Campaign.Status


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
