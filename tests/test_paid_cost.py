"""What a paid-channel campaign cost and earned: Meta's clicks counted with ours, Meta's insights
fetched by the tick and shown in the report beside our counts."""

import csv
import io
import logging
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone
from onesend_simulator.remote import wait_for

from onesend_plugin import analytics, broadcast, conf, tasks
from onesend_plugin.analytics import spend
from onesend_plugin.models import Campaign, CampaignButton, MessengerPage, PaidInsights

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


# -- Meta's insights: spend beside our counts --------------------------------------------------


@pytest.fixture
def usd_page(paid_page):  # noqa: F811
    MessengerPage.objects.filter(pk=paid_page.pk).update(ad_account_currency="USD")
    paid_page.refresh_from_db()
    return paid_page


@pytest.fixture
def bought(simulator, live_server, usd_page, make_subscribers, client):
    """A paid campaign to two people at 50 cents a delivered message: one clicked its link
    (Meta saw the tap too) and then ordered for 7 USD."""
    buyer, other = make_subscribers(usd_page, 2)
    send_paid_webhooks(simulator, live_server, usd_page)
    simulator.configure(paid_price_cents=50)
    campaign = campaign_with_a_link(usd_page)
    broadcast.start(campaign)
    wait_for(lambda: campaign.deliveries.filter(delivered_at__isnull=False).count() == 2, what="deliveries")
    client.get(tracked_link(simulator, usd_page, buyer.psid))
    simulator.click_paid(buyer.psid)
    analytics.record_conversion(
        account=usd_page.account, order_id="US-1", value="7.00", currency="USD", subscriber=buyer
    )
    simulator.wait_webhooks_drained()
    return campaign


def report(admin_client, campaign) -> BeautifulSoup:
    response = admin_client.get(reverse("onesend_reports:campaign", args=[campaign.pk]))
    assert response.status_code == 200
    return BeautifulSoup(response.content, "html.parser").select_one('[data-testid="cost"]')


def cost_line(shown, key) -> list[str]:
    return [cell.get_text(strip=True) for cell in shown.select(f'tr[data-cost="{key}"] td')]


def test_the_tick_fetches_the_spend_and_the_report_shows_cost_per_result_and_return(bought, admin_client):
    shown = report(admin_client, bought)
    assert "has not reported this campaign's spend yet" in shown.get_text()
    tasks.tick()
    insights = PaidInsights.objects.get(campaign=bought)
    assert (insights.spend, insights.delivered, insights.clicks, insights.error) == (Decimal("1"), 2, 1, "")
    shown = report(admin_client, bought)
    assert shown.select_one('[data-testid="spend"]').get_text(strip=True) == "1.00 USD"
    assert cost_line(shown, "delivered") == ["2", "0.50 USD", "2"]
    assert cost_line(shown, "clicked") == ["1", "1.00 USD", "1"]
    assert cost_line(shown, "converted") == ["1", "1.00 USD", "—"]
    assert shown.select_one('[data-testid="return-on-spend"]').get_text(strip=True) == "7.00×"


def test_the_campaign_csv_holds_its_cost(bought, admin_client):
    tasks.tick()
    response = admin_client.get(reverse("onesend_reports:campaign_csv", args=[bought.pk]))
    rows = {row[0]: row[1] for row in csv.reader(io.StringIO(response.content.decode()))}
    assert rows["Spend (USD)"] == "1.0000"
    assert rows["Cost per delivered (USD)"] == "0.5000"
    assert rows["Cost per clicked (USD)"] == "1.0000"
    assert rows["Return on spend"] == "7.00"


def test_a_failed_fetch_keeps_the_last_figures_logs_and_is_tried_again_later(
    bought, admin_client, simulator, caplog
):
    tasks.tick()
    simulator.configure(failure_rate=1)  # Meta is down
    asked = PaidInsights.objects.get(campaign=bought).checked_at
    every = timedelta(minutes=conf.get("PAID_INSIGHTS_MINUTES"), seconds=1)
    tasks.tick()  # not due yet: nothing asked
    assert PaidInsights.objects.get(campaign=bought).checked_at == asked
    PaidInsights.objects.filter(campaign=bought).update(checked_at=asked - every)
    with caplog.at_level(logging.WARNING, logger="onesend_plugin.analytics.spend"):
        tasks.tick()
    insights = PaidInsights.objects.get(campaign=bought)
    assert (insights.spend, insights.delivered, insights.clicks) == (Decimal("1"), 2, 1)
    assert insights.error and "could not be fetched" in caplog.text
    shown = report(admin_client, bought)
    assert shown.select_one('[data-testid="spend"]').get_text(strip=True) == "1.00 USD"
    assert "Asking Meta failed" in shown.select_one('[data-testid="insights-error"]').get_text()
    simulator.configure(failure_rate=0)
    PaidInsights.objects.filter(campaign=bought).update(checked_at=asked - every)
    tasks.tick()
    assert PaidInsights.objects.get(campaign=bought).error == ""


def test_insights_stop_some_days_after_the_campaign_ended(bought):
    now, every = timezone.now(), timedelta(minutes=conf.get("PAID_INSIGHTS_MINUTES"))
    [finished] = spend.due(now)  # not asked yet
    assert finished == bought and finished.status == Campaign.Status.FINISHED
    assert spend.fetch_insights(finished, now)
    assert spend.due(now + every - timedelta(seconds=1)) == []
    assert spend.due(now + every + timedelta(seconds=1)) == [bought]
    later = now + timedelta(days=conf.get("PAID_INSIGHTS_DAYS"), seconds=1)
    assert spend.due(later - timedelta(seconds=2)) == [bought]
    assert spend.due(later) == []
    legacy = CampaignFactory(page=bought.page, status=Campaign.Status.FINISHED, message={"body": {}})
    assert legacy not in spend.due(now + timedelta(hours=1))
