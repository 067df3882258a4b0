"""The Graph client's paid Marketing Messages API calls against the simulator: the delivery
estimate, the campaign insights, the conversation gap, the Unsubscribe API."""

from decimal import Decimal
from functools import partial

import pytest

from onesend_plugin.messenger.client import BatchRequest, CampaignInsights, DeliveryEstimate
from onesend_plugin.messenger.errors import GraphError, NotEligibleYet, RecipientUnavailable

from .simulated_page import PAGE_ID, TEXT, subscriber


def test_the_delivery_estimate_counts_who_can_be_reached_and_what_the_budget_buys(sim, graph):
    sim.configure(paid_price_cents=2)
    for _ in range(3):
        subscriber(sim, graph)
    full = graph.delivery_estimate(ad_account_id="42", page_id=PAGE_ID)
    assert full == DeliveryEstimate(delivery_lower=2, delivery_upper=3, cost_lower=4, cost_upper=6)
    capped = graph.delivery_estimate(ad_account_id="act_42", page_id=PAGE_ID, daily_budget=4)
    assert (capped.delivery_upper, capped.cost_upper) == (2, 4)


def test_insights_give_delivered_reads_clicks_and_spend(sim, graph):
    sim.configure(paid_price_cents=150)
    campaign_id = graph.create_marketing_campaign(ad_account_id="42", name="Summer", page_id=PAGE_ID)
    people = [subscriber(sim, graph) for _ in range(2)]
    for _, token in people:
        graph.send_marketing_message(
            ad_account_id="42", message_id=campaign_id, subscription_token=token, message=TEXT
        )
    sim.read(people[0][0])
    sim.click_paid(people[0][0])
    insights = graph.campaign_insights(campaign_id=campaign_id)
    assert insights == CampaignInsights(delivered=2, read_rate=Decimal("50"), clicks=1, spend=Decimal("3.00"))
    # the estimate leaves out whoever Meta would refuse for the next 12 hours
    assert graph.delivery_estimate(ad_account_id="42", page_id=PAGE_ID).delivery_upper == 0


def test_a_conversation_gap_is_sent_only_when_given(sim, graph):
    psid, token = subscriber(sim, graph)  # they opened the Page's link a moment ago
    campaign_id = graph.create_marketing_campaign(ad_account_id="42", name="Summer", page_id=PAGE_ID)
    send = partial(
        graph.send_marketing_message, ad_account_id="42", message_id=campaign_id, subscription_token=token
    )
    with pytest.raises(NotEligibleYet) as caught:
        send(message=TEXT, min_conversation_gap_seconds=60)
    assert (caught.value.code, caught.value.reason) == (2300052, "recipient_unavailable")
    [result] = graph.batch(
        [
            BatchRequest.paid(
                ad_account_id="42", message_id=campaign_id, subscription_token=token, message=TEXT
            )
        ]
    )
    assert result.message_id == sim.messages(psid=psid)[-1]["tracking_id"]


def test_unsubscribing_at_meta_stops_paid_sends_and_counts_unknown_people(sim, graph):
    psid, token = subscriber(sim, graph)
    campaign_id = graph.create_marketing_campaign(ad_account_id="42", name="Summer", page_id=PAGE_ID)
    assert graph.unsubscribe_customers(page_id=PAGE_ID, psids=[psid, "404"]) == 1
    with pytest.raises(RecipientUnavailable) as caught:
        graph.send_marketing_message(
            ad_account_id="42", message_id=campaign_id, subscription_token=token, message=TEXT
        )
    assert caught.value.reason == "stopped"
    with pytest.raises(GraphError):
        graph.unsubscribe_customers(page_id=PAGE_ID, psids=[])
