"""The minute tick: what no request or worker is there to do."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from .. import conf
from ..models import Campaign, Delivery
from . import abtest, lifecycle, runner
from .ledger import OPEN_STATES, recover
from .timing import starts_at
from .transitions import CampaignError

State = Delivery.State
Status = Campaign.Status


def tick() -> None:
    """Every minute: start scheduled campaigns that are due, pick the winners of A/B tests that
    are due, recover rows of dead workers, restart a freeze whose task died, and restart
    campaigns no worker is on (e.g. after the cluster was restarted: the rest of a test decided
    now is due too)."""
    now = timezone.now()
    for campaign in Campaign.objects.filter(status=Status.SCHEDULED).select_related("page", "page__account"):
        if starts_at(campaign) <= now:
            try:
                lifecycle.start(campaign)
            except CampaignError as exc:
                Campaign.objects.filter(pk=campaign.pk).update(status=Status.PAUSED, last_error=str(exc))
    abtest.decide_due(now)
    lease = timedelta(seconds=conf.get("CLAIM_LEASE_SECONDS"))
    for campaign in Campaign.objects.filter(status=Status.RUNNING).select_related("page"):
        recover(campaign)
        busy = campaign.deliveries.filter(
            state__in=(State.CLAIMED, State.SENDING), claimed_at__gte=now - lease
        )
        due = campaign.deliveries.filter(
            Q(not_before__isnull=True) | Q(not_before__lte=now), state=State.PENDING
        )
        stalled = not campaign.freezing_until or campaign.freezing_until < now
        if not campaign.is_flow and not campaign.frozen_at and stalled:
            runner.queue_freeze(campaign.pk)  # its freeze's task died before everyone was in
        frozen = campaign.is_flow or campaign.frozen_at
        finishable = frozen and not campaign.deliveries.filter(state__in=OPEN_STATES).exists()
        if not busy.exists() and (due.exists() or finishable):
            runner.launch(campaign.pk)
