"""Who a campaign did not reach (yet), person by person, and why: the rows behind the report's
"Not sent" counts. An editor asks "who was skipped, and when can I message them again?"; the
answer is on the row (``error``: Meta's next eligible time for its 12 h rule, or the end of our
frequency cap) or in its ``not_before`` (queued until then). It reads the ledger (the other
reports read counters), so it lists at most ``LIMIT`` people, through the queue's index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import Campaign, Delivery
from . import reasons

#: The most people the report lists (the counts above it cover everyone).
LIMIT = 100

State = Delivery.State


@dataclass
class NotSent:
    """One person the campaign did not reach: ``outcome`` is skipped, failed, unknown or queued
    (waiting until ``until``); ``detail`` says when they can be messaged again, or Meta's error."""

    subscriber_id: int | None  # None: erased since
    psid: str
    person: str  # how the admin names them (``Subscriber.label``): never their PSID
    customer_ref: str
    outcome: str
    reason: str
    detail: str
    until: datetime | None = None

    @property
    def label(self) -> str:
        return reasons.label(self.reason) if self.reason else ""


def not_sent(campaign: Campaign, limit: int = LIMIT) -> list[NotSent]:
    """Up to ``limit`` people not reached, by outcome (failed, queued for a time, skipped,
    unknown)."""
    rows = campaign.deliveries.filter(
        Q(state__in=[State.SKIPPED, State.FAILED, State.UNKNOWN])
        | Q(state=State.PENDING, not_before__gt=timezone.now())
    )
    shown = rows.select_related("subscriber").order_by("state", "not_before", "id")[:limit]
    return [
        NotSent(
            subscriber_id=row.subscriber_id,
            psid=row.psid,
            person=row.subscriber.label if row.subscriber else str(_("Erased subscriber")),
            customer_ref=row.subscriber.customer_ref if row.subscriber else "",
            outcome="queued" if row.state == State.PENDING else row.state,
            reason=row.reason,
            detail=row.error,
            until=row.not_before if row.state == State.PENDING else None,
        )
        for row in shown
    ]
