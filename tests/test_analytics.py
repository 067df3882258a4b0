"""Analytics: exact receipts from watermarks, tracked clicks, attributed conversions."""

import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from onesend_plugin import analytics
from onesend_plugin.analytics.counters import hour
from onesend_plugin.hooks import plugins
from onesend_plugin.models import Click, Conversion, Delivery

from . import payloads
from .factories import CampaignFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@pytest.fixture
def person(page):
    return SubscriberFactory(page=page, psid="7", customer_ref="cust-7")


def sent(campaign, subscriber, at, message_id=None):
    return Delivery.objects.create(
        campaign=campaign,
        subscriber=subscriber,
        page=subscriber.page,
        psid=subscriber.psid,
        state=Delivery.State.SENT,
        sent_at=at,
        message_id=message_id or f"m_{campaign.pk}",
    )


@pytest.fixture
def three_campaigns(page, person):
    """Three campaigns reached the same person an hour apart."""
    start = timezone.now() - timedelta(hours=5)
    campaigns = [CampaignFactory(page=page) for _ in range(3)]
    rows = [sent(c, person, start + timedelta(hours=i)) for i, c in enumerate(campaigns)]
    return campaigns, rows, start


def counters(campaigns, name):
    return [analytics.stats(c).get(name, 0) for c in campaigns]


def test_watermarks_cover_every_message_sent_up_to_them(post_webhook, page, person, three_campaigns):
    campaigns, rows, start = three_campaigns
    wm = start + timedelta(hours=1, minutes=30)  # after the first two, before the third
    post_webhook(page.app, payloads.one(page.page_id, payloads.delivery(page.page_id, "7", ms(wm))))
    assert counters(campaigns, "delivered") == [1, 1, 0]
    post_webhook(page.app, payloads.one(page.page_id, payloads.read(page.page_id, "7", ms(wm))))
    assert counters(campaigns, "read") == [1, 1, 0]
    person.refresh_from_db()
    assert person.read_watermark == person.delivered_watermark


def test_a_read_implies_delivery_and_replays_or_reordering_change_nothing(
    post_webhook, page, person, three_campaigns
):
    campaigns, rows, start = three_campaigns
    events = [
        payloads.read(page.page_id, "7", ms(start + timedelta(minutes=10))),
        payloads.delivery(page.page_id, "7", ms(start + timedelta(hours=2, minutes=5)), mids=["m_x"]),
        payloads.read(page.page_id, "7", ms(start + timedelta(hours=1, minutes=5))),
        payloads.delivery(page.page_id, "7", ms(start + timedelta(minutes=5))),
    ]
    rng = random.Random(4)
    for _ in range(5):  # every event replayed five times, in a different order each round
        rng.shuffle(events)
        post_webhook(page.app, payloads.body(payloads.entry(page.page_id, *events)))
    assert counters(campaigns, "delivered") == [1, 1, 1]
    assert counters(campaigns, "read") == [1, 1, 0]
    assert Delivery.objects.filter(read_at__isnull=False, delivered_at__isnull=True).count() == 0


def test_delivery_mids_count_even_with_a_skewed_watermark(post_webhook, page, person, three_campaigns):
    campaigns, rows, start = three_campaigns
    early = start - timedelta(hours=1)  # a watermark before everything; the mid says otherwise
    post_webhook(
        page.app,
        payloads.one(
            page.page_id, payloads.delivery(page.page_id, "7", ms(early), mids=[rows[2].message_id])
        ),
    )
    assert counters(campaigns, "delivered") == [0, 0, 1]


def test_small_clock_skew_is_tolerated(post_webhook, page, person):
    campaign = CampaignFactory(page=page)
    at = timezone.now() - timedelta(minutes=1)
    sent(campaign, person, at)
    post_webhook(
        page.app, payloads.one(page.page_id, payloads.read(page.page_id, "7", ms(at - timedelta(seconds=1))))
    )
    assert analytics.stats(campaign)["read"] == 1


def test_time_series_buckets_reads_by_hour(post_webhook, page, person, three_campaigns):
    campaigns, rows, start = three_campaigns
    wm = start + timedelta(hours=3)
    post_webhook(page.app, payloads.one(page.page_id, payloads.read(page.page_id, "7", ms(wm))))
    assert analytics.stats(campaigns[0])[f"read@{hour(wm)}"] == 1


# -- clicks ----------------------------------------------------------------------------------


def tracked_message(delivery_id):
    message = {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": "Sale",
                "buttons": [
                    {"type": "web_url", "url": "https://shop.example.com/sale?x=1", "title": "Shop"},
                    {"type": "web_url", "url": "https://shop.example.com/new", "title": "New"},
                ],
            },
        }
    }
    return message, analytics.tracked_buttons(message, delivery_id)


@pytest.fixture
def clickable(page, person):
    campaign = CampaignFactory(page=page, name="Summer Sale")
    original, _ = tracked_message(0)
    campaign.message = {"body": original}
    campaign.save()
    row = sent(campaign, person, timezone.now() - timedelta(hours=1))
    _, tracked = tracked_message(row.pk)
    return campaign, row, [b["url"] for b in tracked["attachment"]["payload"]["buttons"]]


def test_clicks_redirect_with_utm_and_count_unique_and_total(client, clickable):
    campaign, row, links = clickable
    response = client.get(links[0])
    assert response.status_code == 302
    assert response["Location"] == (
        "https://shop.example.com/sale?x=1&utm_source=messenger&utm_medium=onesend&utm_campaign=summer-sale"
    )
    client.get(links[0])
    client.get(links[1])
    stats = analytics.stats(campaign)
    assert (stats["clicks"], stats["unique_clicks"], stats["button:0"], stats["button:1"]) == (3, 1, 2, 1)


def test_link_previews_and_bots_are_not_clicks(client, clickable):
    campaign, row, links = clickable
    for agent in ("facebookexternalhit/1.1", "Slackbot-LinkExpanding 1.0", "Twitterbot/1.0"):
        assert client.get(links[0], HTTP_USER_AGENT=agent).status_code == 302
    assert client.head(links[0]).status_code == 302
    assert analytics.stats(campaign).get("clicks", 0) == 0


@pytest.mark.parametrize(
    "tamper", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: "999.1:" + t.split(":")[-1]]
)
def test_tampered_click_links_never_redirect(client, clickable, tamper):
    campaign, row, links = clickable
    token = links[0].rstrip("/").rsplit("/", 1)[1]
    response = client.get(f"/onesend/c/{tamper(token)}/")
    assert response.status_code == 404
    assert not Click.objects.exists()


def test_the_redirect_survives_an_analytics_failure(client, clickable, monkeypatch):
    campaign, row, links = clickable

    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(analytics, "record_click", broken)
    assert client.get(links[1]).status_code == 302


def test_utm_can_be_turned_off(client, clickable, settings):
    settings.ONESEND = {**settings.ONESEND, "UTM_PARAMETERS": None}
    campaign, row, links = clickable
    assert client.get(links[1])["Location"] == "https://shop.example.com/new"


# -- conversions -------------------------------------------------------------------------------


@pytest.fixture
def order(django_capture_on_commit_callbacks):
    """Place an order through the hook store code calls; its processing (a task queued on
    commit) runs before this returns."""

    def place(order_id, days_after, clickable, value="59.90"):
        at = timezone.now() + timedelta(days=days_after)
        with django_capture_on_commit_callbacks(execute=True):
            plugins.order_placed(
                order_id=order_id, value=Decimal(value), currency="eur", customer_ref="cust-7", at=at
            )
        return Conversion.objects.get(order_id=order_id)

    return place


def test_an_order_after_a_click_is_revenue_of_that_campaign(client, clickable, order):
    campaign, row, links = clickable
    client.get(links[0])
    conversion = order("A-1", 1, clickable)
    assert (conversion.campaign, conversion.via) == (campaign, "click")
    stats = analytics.stats(campaign)
    assert (stats["conversions"], stats["revenue:EUR"]) == (1, 5990)
    order("A-1", 1, clickable)  # the shop retried the event
    assert analytics.stats(campaign)["conversions"] == 1


def test_orders_outside_the_click_window_are_not_attributed(client, clickable, order):
    client.get(clickable[2][0])
    conversion = order("A-2", 8, clickable)
    assert conversion.campaign is None
    assert analytics.stats(clickable[0]).get("conversions", 0) == 0


def test_read_attribution_is_off_by_default_and_configurable(clickable, settings, post_webhook, page, order):
    campaign, row, links = clickable
    post_webhook(page.app, payloads.one(page.page_id, payloads.read(page.page_id, "7", ms(timezone.now()))))
    assert order("A-3", 1, clickable).campaign is None
    settings.ONESEND = {**settings.ONESEND, "ATTRIBUTION_READ_DAYS": 2}
    conversion = order("A-4", 1, clickable)
    assert (conversion.campaign, conversion.via) == (campaign, "read")


def test_unsubscribes_count_against_the_last_campaign(clickable, post_webhook, page):
    from .factories import MarketingTokenFactory

    campaign, row, links = clickable
    MarketingTokenFactory(subscriber=row.subscriber)
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "7", "STOP")))
    assert analytics.stats(campaign)["unsubscribed"] == 1
