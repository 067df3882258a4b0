"""Counter names are stored data (``CampaignStat.name``): built and parsed by one module, in the
formats the rows already have."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from onesend_plugin.analytics.counters import (
    Kind,
    breakdown,
    hour,
    hourly,
    key_of,
    keyed,
    outcome,
    per_minute,
    prefix,
    series,
)
from onesend_plugin.models import Delivery

PARIS_SUMMER = timezone(timedelta(hours=2))
AT = datetime(2026, 6, 1, 0, 30, 45, tzinfo=PARIS_SUMMER)  # 2026-05-31 22:30:45 UTC


@pytest.mark.parametrize(
    "state, reason, name",
    [
        (Delivery.State.SENT, "", "sent"),
        (Delivery.State.UNKNOWN, "timeout", "unknown"),
        (Delivery.State.FAILED, "outside_window", "failed:outside_window"),
        (Delivery.State.SKIPPED, "frequency_cap", "skipped:frequency_cap"),
    ],
)
def test_an_outcome_is_named_as_stored(state, reason, name):
    assert outcome(state, reason) == name
    assert type(outcome(state, reason)) is str


def test_families_and_series_are_named_as_stored_in_utc():
    assert keyed(Kind.REVENUE, "EUR") == "revenue:EUR"
    assert keyed(Kind.BUTTON, 2) == "button:2"
    assert hour(AT) == "2026-05-31T22"
    assert hourly(Kind.READ, AT) == "read@2026-05-31T22"
    assert hourly(Kind.CLICKS, AT) == "click@2026-05-31T22"
    assert per_minute(Kind.SENT, AT) == "sent@2026-05-31T22:30"
    assert prefix(Kind.FAILED) == "failed:"


def test_reading_back_a_family_and_a_series():
    counters = {
        "sent": 9,
        "failed:transient": 2,
        "failed:error_100": 1,
        "failed:zero": 0,
        "skipped:quiet_hours": 3,
        "read@2026-05-31T22": 4,
        "read@2026-05-31T23": 5,
        "click@2026-05-31T22": 1,
    }
    assert list(breakdown(counters, Kind.FAILED).items()) == [("error_100", 1), ("transient", 2)]
    assert breakdown(counters, Kind.SKIPPED) == {"quiet_hours": 3}
    assert breakdown(counters, Kind.REVENUE) == {}
    assert key_of(Kind.FAILED, "failed:transient") == "transient"
    assert key_of(Kind.FAILED, "skipped:quiet_hours") is None
    hours = [AT + timedelta(hours=i) for i in range(3)]
    assert series(counters, Kind.READ, hours) == [4, 5, 0]
    assert series(counters, Kind.CLICKS, hours) == [1, 0, 0]
