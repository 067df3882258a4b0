"""What a paid-channel campaign cost and earned: Meta's clicks counted with ours, Meta's insights
fetched by the tick and shown in the report beside our counts."""

from urllib.parse import urlsplit

import pytest
from onesend_simulator.remote import wait_for

from onesend_plugin import analytics, broadcast
from onesend_plugin.models import CampaignButton

from .factories import CampaignFactory
from .test_paid_channel import send_paid_webhooks

pytestmark = pytest.mark.django_db(transaction=True)


def campaign_with_a_link(page, **fields):
    campaign = CampaignFactory(page=page, **fields)
    CampaignButton.objects.create(campaign=campaign, title="Shop", url="https://shop.example.com/sale")
    return campaign


def tracked_link(simulator, page, psid):
    """The path of the (tracked) link button of the paid message ``psid`` received."""
    [message] = [m for m in simulator.messages(page.page_id, psid) if m.get("via") == "marketing"]
    [button] = [b for b in message["buttons"] if b["type"] == "web_url"]
    return urlsplit(button["url"]).path


def test_paid_clicks_count_each_person_once_with_the_tracked_link_whatever_the_replays(
    simulator, live_server, paid_page, make_subscribers, client
):
    tapper, linker, idle = make_subscribers(paid_page, 3)
    send_paid_webhooks(simulator, live_server, paid_page)
    simulator.configure(duplicate_rate=1, reorder=True)
    campaign = campaign_with_a_link(paid_page)
    broadcast.start(campaign)
    for _ in range(3):  # three taps, each webhook delivered twice
        simulator.click_paid(tapper.psid)
    client.get(tracked_link(simulator, paid_page, linker.psid))  # the tap opens our link…
    simulator.click_paid(linker.psid)  # …and Meta reports it
    wait_for(lambda: campaign.deliveries.filter(clicked_at__isnull=False).count() == 2, what="the clicks")
    simulator.wait_webhooks_drained()
    counters = analytics.stats(campaign)
    assert (counters["unique_clicks"], counters["clicks"]) == (2, 1)  # people; taps on our links
    clicked = set(campaign.deliveries.filter(clicked_at__isnull=False).values_list("psid", flat=True))
    assert clicked == {tapper.psid, linker.psid}
