"""A campaign's progress as the admin shows it, from maintained counters (no ledger scan)."""

from __future__ import annotations

from datetime import timedelta
from datetime import timezone as dt_timezone

from django.utils import timezone

from .. import analytics
from ..models import Campaign


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
