"""A campaign's progress as the admin shows it, from maintained counters (no ledger scan)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from .. import analytics
from ..analytics import reasons
from ..analytics.counters import Kind, breakdown, per_minute
from ..models import Campaign


def progress(campaign: Campaign) -> dict:
    """What the campaign's progress view shows, from maintained counters (no ledger scan); who
    failed or was skipped, per reason in words."""
    counters = analytics.stats(campaign)
    failed, skipped = breakdown(counters, Kind.FAILED), breakdown(counters, Kind.SKIPPED)
    total = campaign.audience_size
    done = (
        counters.get(Kind.SENT, 0)
        + counters.get(Kind.UNKNOWN, 0)
        + sum(failed.values())
        + sum(skipped.values())
    )
    queued = max(0, total - done)
    # The last complete minute's sends (a per-minute counter; the ledger is never scanned).
    last_minute = timezone.now() - timedelta(minutes=1)
    rate = counters.get(per_minute(Kind.SENT, last_minute), 0) / 60 if queued else 0.0
    warming_up = campaign.phase == "warming_up"
    throttled = (
        campaign.throttled_until
        if campaign.throttled_until and campaign.throttled_until > timezone.now() and not warming_up
        else None
    )
    return {
        "status": campaign.status,
        "phase": campaign.phase,
        "phase_label": campaign.get_phase_display(),
        "audience": total,
        "queued": queued,
        "sent": counters.get(Kind.SENT, 0),
        "delivered": counters.get(Kind.DELIVERED, 0),
        "read": counters.get(Kind.READ, 0),
        "failed": reasons.worded(failed),
        "skipped": reasons.worded(skipped),
        "unknown": counters.get(Kind.UNKNOWN, 0),
        "percent": round(100 * done / total, 1) if total else 0.0,
        "rate_per_second": round(rate, 1),
        "throttled_until": throttled,
        # While warming up, Meta's "not active yet" (and the wait before asking again) is what the
        # phase already explains: no throttling, no error.
        "last_error": "" if warming_up else campaign.last_error,
        "eta_seconds": queued / rate if rate and queued else None,
    }
