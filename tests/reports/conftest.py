"""Fixtures of the report tests: ``campaign``, a campaign sent ten days ago whose counters hold
a whole funnel, revenue in two currencies, clicks per button and hourly reads and clicks."""

from __future__ import annotations

import pytest

from onesend_plugin import analytics

from .helpers import at_hour, sent_campaign


@pytest.fixture
def campaign(page):
    campaign = sent_campaign(page)
    analytics.bump(
        campaign.pk,
        {
            "sent": 900,
            "delivered": 850,
            "read": 600,
            "clicks": 150,
            "unique_clicks": 120,
            "conversions": 30,
            "unsubscribed": 9,
            "revenue:EUR": 123450,
            "revenue:USD": 5000,
            "button:0": 100,
            "button:1": 50,
            f"read@{at_hour(campaign, 0)}": 400,
            f"read@{at_hour(campaign, 1)}": 150,
            f"read@{at_hour(campaign, 5)}": 50,
            f"read@{at_hour(campaign, 80)}": 7,  # after the 72 h window: not charted
            f"click@{at_hour(campaign, 0)}": 90,
            f"click@{at_hour(campaign, 2)}": 60,
            "failed:outside_window": 40,
            "skipped:frequency_cap": 50,
            "unknown": 10,
        },
    )
    return campaign
