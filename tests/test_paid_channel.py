"""Campaigns of a Page on Meta's paid Marketing Messages API, sent through the simulator."""

from collections import Counter

import pytest

from onesend_plugin import broadcast
from onesend_plugin.models import Campaign, Channel, MessengerPage

from .factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)

AD_ACCOUNT = "act_4242"


@pytest.fixture
def paid_page(sim_page):
    MessengerPage.objects.filter(pk=sim_page.pk).update(
        channel=Channel.MARKETING_API, ad_account_id=AD_ACCOUNT
    )
    sim_page.refresh_from_db()
    return sim_page


def paid_sends(simulator, page):
    """Paid messages each person received, as Meta (the simulator) saw them."""
    return Counter(m["psid"] for m in simulator.messages(page.page_id) if m.get("via") == "marketing")


def test_a_campaign_without_a_budget_is_created_and_sent(simulator, paid_page, make_subscribers):
    people = make_subscribers(paid_page, 3)
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED, campaign.last_error
    assert paid_sends(simulator, paid_page) == {p.psid: 1 for p in people}
    assert all(d.state == "sent" and d.message_id for d in campaign.deliveries.all())
    assert meta_campaign(simulator, paid_page, campaign)["adset"] == {}


def meta_campaign(simulator, page, campaign):
    """The ``message_campaign`` Meta holds for ``campaign``, as Graph shows it."""
    campaign_id = campaign.message["channel"]["marketing_message_id"]
    headers = {"Authorization": f"Bearer {page.access_token}"}
    return simulator.http.get(simulator.graph_url(campaign_id), headers=headers, timeout=10).json()


@pytest.mark.parametrize(
    ("period", "adset"),
    [
        (Campaign.BudgetPeriod.DAILY, {"daily_budget": "5000"}),
        (Campaign.BudgetPeriod.LIFETIME, {"lifetime_budget": "5000"}),
    ],
)
def test_a_campaign_with_a_budget_sends_it_to_meta(simulator, paid_page, make_subscribers, period, adset):
    people = make_subscribers(paid_page, 2)
    campaign = CampaignFactory(page=paid_page, budget=5000, budget_period=period)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED, campaign.last_error
    assert paid_sends(simulator, paid_page) == {p.psid: 1 for p in people}
    assert meta_campaign(simulator, paid_page, campaign)["adset"] == adset
