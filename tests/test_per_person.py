"""A channel per person, per send (issue 20, item 7): a Page sending per person reaches each
recipient through the cheapest channel Meta allows them (free standard message in their 24 h
window, the legacy token where the business's region allows it, else the paid API where Meta
serves their region) or skips them with the reason, exactly once, our frequency cap holding
across channels. Against the simulator over HTTP, which refuses what Meta refuses (legacy tokens
of a business outside the five geos, paid messages to people in them: 2300032)."""

from collections import Counter
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone

from onesend_plugin import broadcast, tasks
from onesend_plugin.broadcast import channels, split
from onesend_plugin.messenger.client import DeliveryEstimate
from onesend_plugin.models import Channel, Delivery, MarketingToken, MessengerPage, Subscriber

from .factories import CampaignFactory, MessengerPageFactory
from .test_paid_editor import confirm_page

pytestmark = pytest.mark.django_db(transaction=True)


def person(simulator, page, name, *, in_window=False, token=True, timezone_name="UTC", country=""):
    """A subscriber of ``page``, who is ``country`` for Meta and ``timezone_name`` in their opt-in."""
    [made] = simulator.create_people(page.page_id, 1, subscribed=token, names=[name], country=country)
    subscriber = Subscriber.objects.create(
        page=page,
        psid=made["psid"],
        status=Subscriber.Status.SUBSCRIBED,
        opted_in_at=timezone.now(),
        timezone=timezone_name,
        customer_ref=name,
        last_interaction_at=timezone.now() if in_window else None,
    )
    if token:
        MarketingToken.objects.create(subscriber=subscriber, token=made["token"], topic=page.optin_title)
    return subscriber


def outcomes(campaign) -> dict[str, tuple[str, str, str]]:
    """Each person's row: (state, channel, reason)."""
    return {
        row.subscriber.customer_ref: (row.state, row.channel, row.reason)
        for row in campaign.deliveries.select_related("subscriber")
    }


def received(simulator, page) -> Counter:
    """Campaign messages per person and way Meta took them (psid: standard, token, marketing)."""
    return Counter(
        (m["psid"], m["via"]) for m in simulator.messages(page.page_id) if m.get("type") != "optin"
    )


def region_refusals(simulator) -> int:
    """Paid sends Meta refused for the person's region (2300032)."""
    refused = simulator.stats()["send"]["rejected"]
    return sum(count for key, count in refused.items() if "2300032" in key)


@pytest.fixture
def us_page(simulator, paid_page):
    """A US business's Page sending per person, its ad account connected."""
    paid_page.account.business_country = "US"
    paid_page.account.save()
    paid_page.channel = Channel.PER_PERSON
    paid_page.ad_account_currency = "USD"
    paid_page.save()
    simulator.create_page(page_id=paid_page.page_id, business_country="US")
    return paid_page


@pytest.fixture
def uk_page(simulator, us_page):
    """A second Page of the same account whose business is in the UK (the Page's own setting)."""
    page = MessengerPageFactory(
        account=us_page.account, app=us_page.app, channel=Channel.PER_PERSON, business_country="GB"
    )
    simulator.create_page(
        page_id=page.page_id,
        name=page.name,
        username=page.username,
        access_token=page.access_token,
        business_country="GB",
    )
    return page


def test_a_mixed_audience_gets_each_person_through_the_right_channel_once(simulator, us_page, uk_page):
    people = {
        "window": person(simulator, us_page, "window", in_window=True),
        "us": person(simulator, us_page, "us", timezone_name="America/New_York"),
        "paris": person(simulator, us_page, "paris", timezone_name="Europe/Paris", country="FR"),
        "hidden": person(simulator, us_page, "hidden", country="DE"),  # Meta knows; we don't
        "tokenless": person(simulator, us_page, "tokenless", token=False),
    }
    campaign = CampaignFactory(page=us_page)
    counts = split.split(us_page, broadcast.audience(campaign))
    assert counts.channels == {Channel.STANDARD: 1, Channel.MARKETING_API: 2}
    assert counts.skipped == {"recipient_region": 1, "no_token": 1}

    broadcast.start(campaign)

    assert outcomes(campaign) == {
        "window": ("sent", Channel.STANDARD, ""),
        "us": ("sent", Channel.MARKETING_API, ""),
        "paris": ("skipped", "", "recipient_region"),
        "hidden": ("skipped", Channel.MARKETING_API, "recipient_region"),
        "tokenless": ("skipped", "", "no_token"),
    }
    assert received(simulator, us_page) == {
        (people["window"].psid, "psid"): 1,
        (people["us"].psid, "marketing"): 1,
    }
    assert region_refusals(simulator) == 1
    people["hidden"].refresh_from_db()
    assert people["hidden"].paid_region_refused_at is not None

    # The UK business's Page: legacy tokens, free; the window first.
    uk = {
        "window": person(simulator, uk_page, "uk-window", in_window=True),
        "token": person(simulator, uk_page, "uk-token", timezone_name="Europe/London"),
        "none": person(simulator, uk_page, "uk-none", token=False),
    }
    uk_campaign = CampaignFactory(page=uk_page)
    broadcast.start(uk_campaign)
    assert outcomes(uk_campaign) == {
        "uk-window": ("sent", Channel.STANDARD, ""),
        "uk-token": ("sent", Channel.MARKETING_TOKEN, ""),
        "uk-none": ("skipped", "", "no_token"),
    }
    assert received(simulator, uk_page) == {(uk["window"].psid, "psid"): 1, (uk["token"].psid, "token"): 1}


def test_the_cap_holds_across_channels_and_a_refused_region_is_not_asked_again(simulator, us_page):
    window = person(simulator, us_page, "window", in_window=True)
    us = person(simulator, us_page, "us", timezone_name="America/Chicago")
    hidden = person(simulator, us_page, "hidden", country="JP")
    broadcast.start(CampaignFactory(page=us_page))
    # A day later the first person wrote again and the US person is out of their window: still
    # one marketing message per person per cap (48 h), whatever the channel.
    Subscriber.objects.filter(pk=us.pk).update(last_interaction_at=timezone.now())
    second = CampaignFactory(page=us_page)
    broadcast.start(second)

    assert outcomes(second) == {
        "window": ("skipped", Channel.STANDARD, "frequency_cap"),
        "us": ("skipped", Channel.STANDARD, "frequency_cap"),
        "hidden": ("skipped", "", "recipient_region"),
    }
    assert received(simulator, us_page) == {(window.psid, "psid"): 1, (us.psid, "marketing"): 1}
    assert region_refusals(simulator) == 1  # asked once, in the first campaign
    assert hidden.deliveries.filter(state=Delivery.State.SENT).count() == 0


def test_the_paid_campaign_is_made_at_meta_only_when_someone_may_need_it(simulator, us_page):
    """Not for people in their window without a token, nor for people in excluded regions; yes
    for anyone with a token Meta may serve (their window may close while the campaign runs)."""
    person(simulator, us_page, "window", in_window=True, token=False)
    person(simulator, us_page, "paris", timezone_name="Europe/Paris")
    free = CampaignFactory(page=us_page)
    broadcast.start(free)
    free.refresh_from_db()
    assert free.message["channel"] == {}

    person(simulator, us_page, "us", timezone_name="America/Denver")
    paid = CampaignFactory(page=us_page)
    broadcast.start(paid)
    paid.refresh_from_db()
    assert paid.message["channel"]["marketing_message_id"]


def test_the_confirm_step_shows_the_channel_split_before_sending(admin_client, simulator, us_page):
    for name, fields in {
        "window": {"in_window": True},
        "us": {"timezone_name": "America/New_York"},
        "br": {"timezone_name": "America/Sao_Paulo"},
        "paris": {"timezone_name": "Europe/Paris"},
        "tokenless": {"token": False},
    }.items():
        person(simulator, us_page, name, **fields)
    simulator.configure(paid_price_cents=150)  # 1.50 USD a message
    html = " ".join(confirm_page(admin_client, CampaignFactory(page=us_page)).split())

    assert 'data-testid="split-standard"> <strong>1</strong> — Free: a standard message' in html
    assert 'data-testid="split-token"> <strong>0</strong>' in html
    assert 'data-testid="split-marketing_api"> <strong>2</strong> — Paid' in html
    assert "(estimated cost 3.00 USD)" in html
    assert (
        'data-testid="split-skipped-recipient_region"> <strong>1</strong> — Skipped: Meta sends no paid'
        in html
    )
    assert (
        'data-testid="split-skipped-no_token"> <strong>1</strong> — Skipped: Not in their 24 h window' in html
    )


def test_the_confirm_step_the_progress_page_and_the_report_word_a_skip_alike(
    admin_client, simulator, us_page
):
    person(simulator, us_page, "tokenless", token=False)
    campaign = CampaignFactory(page=us_page)
    words = "Not in their 24 h window, and no marketing-message token"
    confirm = BeautifulSoup(confirm_page(admin_client, campaign), "html.parser")
    assert " ".join(confirm.select_one('[data-testid="split-skipped-no_token"]').text.split()) == (
        f"1 — Skipped: {words}"
    )
    broadcast.start(campaign)
    progress = admin_client.get(f"/admin/messenger/campaigns/progress/{campaign.pk}/").json()
    assert progress["skipped"] == {words: 1}
    report = BeautifulSoup(
        admin_client.get(reverse("onesend_reports:campaign", args=[campaign.pk])).content, "html.parser"
    )
    row = report.select_one('[data-outcome="skipped:no_token"]')
    assert [cell.get_text(strip=True) for cell in row.select("td")][:2] == ["Skipped", words]


def test_the_report_shows_outcomes_and_cost_per_channel(admin_client, simulator, us_page):
    person(simulator, us_page, "window", in_window=True)
    person(simulator, us_page, "us", timezone_name="America/New_York")
    person(simulator, us_page, "hidden", country="DE")
    simulator.configure(paid_price_cents=150)
    campaign = CampaignFactory(page=us_page)
    broadcast.start(campaign)
    tasks.tick()  # asks Meta for the paid campaign's spend

    response = admin_client.get(reverse("onesend_reports:campaign", args=[campaign.pk]))
    shown = BeautifulSoup(response.content, "html.parser").select_one('[data-testid="channels"]')
    rows = {
        row["data-channel"]: [cell.get_text(strip=True) for cell in row.select("td")]
        for row in shown.select("tr[data-channel]")
    }
    # sent, delivered, read, clicked, failed, refused, cost, per delivered (no receipts came back)
    assert rows == {
        Channel.STANDARD: ["1", "0", "0", "0", "0", "0", "0.00 USD", "0.00 USD"],
        Channel.MARKETING_API: ["1", "0", "0", "0", "0", "1", "1.50 USD", "—"],
    }


def test_metas_rule_for_a_per_person_page_is_the_longest_of_the_channels_it_can_use(us_page, uk_page):
    """What the system check compares the Page's frequency cap with (onesend.W003)."""
    assert channels.meta_rule(us_page) == timedelta(hours=12)  # paid; no legacy in the US
    assert channels.meta_rule(uk_page) == timedelta(hours=48)  # the legacy token's cooldown
    nowhere = MessengerPageFactory(channel=Channel.PER_PERSON)  # no country, no ad account
    assert channels.meta_rule(nowhere) == timedelta(0)  # standard messages only


def test_without_a_business_country_the_confirm_step_says_where_to_set_it(admin_client, simulator, sim_page):
    MessengerPage.objects.filter(pk=sim_page.pk).update(channel=Channel.PER_PERSON)
    sim_page.refresh_from_db()
    person(simulator, sim_page, "token holder")
    html = " ".join(confirm_page(admin_client, CampaignFactory(page=sim_page)).split())
    assert 'data-testid="split-skipped-no_channel"> <strong>1</strong>' in html
    assert 'data-testid="split-no-country"' in html and "set the account's Business country" in html


def test_the_estimated_cost_is_metas_cost_per_message_times_the_paid_count():
    estimate = DeliveryEstimate(delivery_lower=100, delivery_upper=200, cost_lower=1000, cost_upper=3000)
    assert split.estimated_cost(4, estimate) == (40, 60)  # 10 and 15 minor units a message
    assert split.estimated_cost(0, None) == (0, 0)
    assert split.estimated_cost(4, None) is None
    assert split.estimated_cost(4, DeliveryEstimate(0, 0, 0, 0)) is None
