"""The names of a campaign's counters (``CampaignStat.name``), built and read back here only.

A counter is a total (``sent``, ``read`` …), one of a family keyed by a reason, currency or
button (``failed:<reason>``, ``revenue:<CUR>``, ``button:<n>``), or one bucket of a time series
(``read@<UTC hour>``, ``click@<UTC hour>``, ``sent@<UTC minute>``, ``fcap@<UTC hour>``). The
stored names are part of the data: changing a format here would need a migration of the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from datetime import timezone as dt_timezone
from enum import StrEnum


class Kind(StrEnum):
    """What a counter counts; a total's name is its kind."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    CLICKS = "clicks"
    UNIQUE_CLICKS = "unique_clicks"
    CONVERSIONS = "conversions"
    UNSUBSCRIBED = "unsubscribed"
    UNKNOWN = "unknown"
    #: Families: ``<kind>:<key>``.
    FAILED = "failed"
    SKIPPED = "skipped"
    REVENUE = "revenue"  # in hundredths of the currency unit
    BUTTON = "button"


#: The name of each time series' buckets (a click's hourly series is ``click@``, not ``clicks@``).
SERIES = {Kind.READ: "read", Kind.CLICKS: "click", Kind.SENT: "sent"}


def keyed(kind: Kind, key: object) -> str:
    """One counter of a family: ``failed:<reason>``, ``revenue:<CUR>``, ``button:<n>``."""
    return f"{kind}:{key}"


def outcome(state: str, reason: str = "") -> str:
    """The counter of a ledger row's final state: ``sent``, ``unknown``, ``failed:<reason>``,
    ``skipped:<reason>``."""
    kind = Kind(state)
    return keyed(kind, reason) if kind in (Kind.FAILED, Kind.SKIPPED) else kind.value


def hour(at: datetime) -> str:
    """The UTC hour bucket of an hourly series."""
    return at.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H")


def hourly(kind: Kind, at: datetime) -> str:
    """The counter of ``kind`` in the UTC hour of ``at``: ``read@<hour>``, ``click@<hour>``."""
    return f"{SERIES[kind]}@{hour(at)}"


def per_minute(kind: Kind, at: datetime) -> str:
    """The counter of ``kind`` in the UTC minute of ``at``: ``sent@<minute>`` (the send rate)."""
    return f"{SERIES[kind]}@{at.astimezone(dt_timezone.utc):%Y-%m-%dT%H:%M}"


#: Rows Meta's frequency caps refused (skipped ``meta_frequency_cap``), per UTC hour: the wall
#: the dashboard's marketing-to-organic balance shows (``analytics.balance``).
REFUSED_SERIES = "fcap"


def refused_hourly(at: datetime) -> str:
    """The counter of rows Meta's frequency caps refused in the UTC hour of ``at``: ``fcap@<hour>``."""
    return f"{REFUSED_SERIES}@{hour(at)}"


def prefix(kind: Kind) -> str:
    """What the names of a family start with (to filter ``CampaignStat`` rows in the database)."""
    return keyed(kind, "")


def key_of(kind: Kind, name: str) -> str | None:
    """The key (reason, currency, button) of a family's counter; None for another counter."""
    start = prefix(kind)
    return name[len(start) :] if name.startswith(start) else None


def breakdown(counters: Mapping[str, int], kind: Kind) -> dict[str, int]:
    """A family's non-zero counters by key, in key order."""
    found = ((key_of(kind, name), n) for name, n in sorted(counters.items()) if n)
    return {k: n for k, n in found if k is not None}


def series(counters: Mapping[str, int], kind: Kind, hours: Iterable[datetime]) -> list[int]:
    """The hourly counts of ``kind`` for these hours (0 where none was counted)."""
    return [counters.get(hourly(kind, at), 0) for at in hours]
