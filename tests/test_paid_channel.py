"""Campaigns of a Page on Meta's paid Marketing Messages API, sent through the simulator."""

from collections import Counter

import pytest
from onesend_simulator.remote import wait_for

from onesend_plugin import analytics, broadcast
from onesend_plugin.broadcast.transitions import CampaignError
from onesend_plugin.meta import client_for
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
    tracking_ids = {
        m["psid"]: m["tracking_id"] for m in simulator.messages(paid_page.page_id) if "tracking_id" in m
    }
    assert dict(campaign.deliveries.values_list("psid", "message_id")) == tracking_ids
    assert set(campaign.deliveries.values_list("state", flat=True)) == {"sent"}
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


def test_a_text_over_640_characters_is_refused_before_anything_is_sent(
    simulator, paid_page, make_subscribers
):
    make_subscribers(paid_page, 1)
    campaign = CampaignFactory(page=paid_page, text="x" * 641)
    with pytest.raises(CampaignError, match="at most 640 characters"):
        broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and not campaign.deliveries.exists()
    assert paid_sends(simulator, paid_page) == {}


def test_a_person_meta_messaged_in_the_last_12_hours_is_skipped_with_the_reason(
    simulator, paid_page, make_subscribers
):
    messaged, other = make_subscribers(paid_page, 2)
    client = client_for(paid_page)  # another tool of the business sent them a paid message
    elsewhere = client.create_marketing_campaign(
        ad_account_id=AD_ACCOUNT, name="Elsewhere", page_id=paid_page.page_id
    )
    token = messaged.tokens.get().token
    client.send_marketing_message(
        ad_account_id=AD_ACCOUNT, message_id=elsewhere, subscription_token=token, message={"text": "Hi"}
    )
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    outcome = dict(campaign.deliveries.values_list("psid", "reason"))
    assert outcome == {messaged.psid: "not_eligible_yet", other.psid: ""}
    assert campaign.deliveries.get(psid=messaged.psid).state == "skipped"
    assert paid_sends(simulator, paid_page) == {messaged.psid: 1, other.psid: 1}


PAID_FIELDS = [
    "marketing_message_echoes",
    "marketing_message_deliveries",
    "marketing_message_reads",
    "marketing_message_clicks",
    "marketing_message_delivery_failed",
]


def send_paid_webhooks(simulator, live_server, page):
    """Meta (the simulator) sends the Page's ``marketing_message_*`` webhooks to the site."""
    [shown] = [p for p in simulator.pages() if p["page_id"] == page.page_id]
    simulator.create_page(
        page_id=page.page_id,
        app_id=page.app.app_id,
        subscribed_fields=shown["subscribed_fields"] + PAID_FIELDS,
    )
    simulator.configure(
        webhook_url=f"{live_server.url}/onesend/webhook/{page.app.app_id}/", app_secret=page.app.app_secret
    )


@pytest.mark.parametrize("envelope", ["changes", "messaging"])
def test_paid_receipts_count_delivered_and_read_once_whatever_the_replays(
    simulator, live_server, paid_page, make_subscribers, envelope
):
    make_subscribers(paid_page, 3)
    send_paid_webhooks(simulator, live_server, paid_page)
    simulator.configure(
        paid_webhook_envelope=envelope, read_probability=1, read_delay_ms=0, duplicate_rate=1, reorder=True
    )
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    wait_for(lambda: all(d.read_at for d in campaign.deliveries.all()), what="the reads")
    simulator.wait_webhooks_drained()
    assert simulator.stats()["webhooks"]["duplicates"] >= 6
    counters = analytics.stats(campaign)
    assert (counters["delivered"], counters["read"]) == (3, 3)
    assert all(d.delivered_at <= d.read_at for d in campaign.deliveries.all())
