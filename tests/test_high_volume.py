"""Meta's rate-limiting page, "High-volume messaging": a Page sending more than 40 messages per
second may be unable to send new messages until the volume drops (reference meta-messenger.md,
corrections 2026-12-05). onesend's default pace (``TEXT_RATE_LIMIT``, 40/s with its headroom)
never trips the simulator's high-volume lock."""

import pytest

from onesend_plugin import broadcast, conf
from onesend_plugin.models import MarketingToken, Subscriber

from .factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_default_pace_never_trips_the_high_volume_lock(simulator, sim_page):
    assert conf.get("TEXT_RATE_LIMIT") == 40
    people = simulator.create_people(sim_page.page_id, 160, title=sim_page.optin_title)
    for person in people:
        subscriber = Subscriber.objects.create(page=sim_page, psid=person["psid"], status="subscribed")
        MarketingToken.objects.create(
            subscriber=subscriber, token=person["token"], topic=sim_page.optin_title
        )
    simulator.configure(high_volume_lock=True, high_volume_rate=40)

    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)  # about four seconds at 40/s

    assert set(campaign.deliveries.values_list("state", flat=True)) == {"sent"}
    stats = simulator.stats()
    assert stats["send"]["accepted"] == 160 and not stats["send"]["rejected"]
    assert stats["pages"][sim_page.page_id]["max_calls_per_second"]["text"] <= 40
