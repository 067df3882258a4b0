"""A/B tests against the Graph API simulator: the split, the winner rule, nobody gets both
variants, the frequency cap and at-most-once across them, pause and cancel."""

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import signing
from django.utils import timezone

from onesend_plugin import analytics, broadcast
from onesend_plugin.analytics.variants import variant_results
from onesend_plugin.broadcast import abtest, runner
from onesend_plugin.broadcast.abtest import Split
from onesend_plugin.hooks import hookimpl
from onesend_plugin.models import Campaign, CampaignButton, Channel, Subscriber, VariantButton
from onesend_plugin.subscribe import erasure

from .factories import CampaignFactory
from .test_per_person import person

pytestmark = pytest.mark.django_db(transaction=True)

A_TEXT, B_TEXT = "Summer sale: 30% off today only", "Last day: 30% off everything"


def ab_campaign(page, **fields) -> Campaign:
    test = {"text": A_TEXT, "ab_test": True, "variant_b_text": B_TEXT, "ab_test_share": 20, "ab_hours": 4}
    return CampaignFactory(page=page, **(test | fields))


def received(simulator, page) -> dict[str, list[str]]:
    """Each person's campaign messages as Meta (the simulator) took them: their texts."""
    texts: dict[str, list[str]] = {}
    for message in simulator.messages(page.page_id):
        if message.get("type") != "optin":
            texts.setdefault(message["psid"], []).append(_text(message))
    return texts


def _text(message: dict) -> str:
    return message.get("text") or message["message"]["attachment"]["payload"]["text"]


def variants(campaign) -> Counter:
    return Counter(campaign.deliveries.values_list("variant", "state"))


def after_the_test(campaign):
    """The tick, once the test's hours have passed."""
    with time_machine.travel(campaign.ab_decide_at + timedelta(minutes=1), tick=True):
        broadcast.tick()
    campaign.refresh_from_db()


@pytest.mark.parametrize(
    ("share", "size", "split"),
    [
        (20, 50, Split(a=5, b=5, rest=40)),
        (20, 3, Split(a=1, b=1, rest=1)),  # at least one person per variant
        (100, 7, Split(a=4, b=3, rest=0)),  # everyone tested: A gets the odd one
        (50, 1, Split(a=1, b=0, rest=0)),
    ],
)
def test_split_sizes(share, size, split):
    assert abtest.split(share, size) == split


def test_the_test_share_gets_a_or_b_at_random_and_the_rest_wait(simulator, sim_page, make_subscribers):
    make_subscribers(sim_page, 20)
    campaign = ab_campaign(sim_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert variants(campaign) == {("a", "sent"): 2, ("b", "sent"): 2, ("", "pending"): 16}
    assert set(campaign.deliveries.filter(variant="").values_list("not_before", flat=True)) == {
        campaign.ab_decide_at
    }
    assert campaign.ab_decide_at == campaign.started_at + timedelta(hours=4)
    assert campaign.status == Campaign.Status.RUNNING and campaign.phase == "testing"
    assert campaign.get_phase_display().startswith("Testing — winner picked at ")
    by_variant = dict(campaign.deliveries.exclude(variant="").values_list("psid", "variant"))
    got = received(simulator, sim_page)
    assert got == {psid: [A_TEXT if v == "a" else B_TEXT] for psid, v in by_variant.items()}
    # The draw is seeded with the campaign: freezing again (after a crash) draws the same.
    people = broadcast.audience(campaign)
    drawn = dict(campaign.deliveries.exclude(variant="").values_list("subscriber_id", "variant"))
    assert abtest.draw(campaign, people) == drawn


def test_the_higher_click_rate_wins_and_the_rest_get_it_once(simulator, sim_page, make_subscribers):
    make_subscribers(sim_page, 20)
    campaign = ab_campaign(sim_page)
    CampaignButton.objects.create(campaign=campaign, title="Shop", url="https://shop.example.com/a")
    VariantButton.objects.create(campaign=campaign, title="Shop now", url="https://shop.example.com/b")
    broadcast.start(campaign)
    clicked = campaign.deliveries.filter(variant="b").first()
    analytics.record_click(clicked, 0)
    after_the_test(campaign)
    assert campaign.ab_winner == "b"
    assert campaign.ab_decision == "B won: click rate 50.0% (1 of 2) against 0.0% (0 of 2) for A after 4 h."
    assert campaign.status == Campaign.Status.FINISHED
    assert variants(campaign) == {("a", "sent"): 2, ("b", "sent"): 2, ("", "sent"): 16}
    got = received(simulator, sim_page)
    assert all(len(texts) == 1 for texts in got.values()) and len(got) == 20  # nobody got both
    rest = campaign.deliveries.filter(variant="").values_list("psid", flat=True)
    assert {got[psid][0] for psid in rest} == {B_TEXT}
    # The decision is made once: a later tick or call changes nothing.
    analytics.record_click(campaign.deliveries.filter(variant="a").first(), 0)
    analytics.record_click(campaign.deliveries.filter(variant="a").last(), 0)
    assert abtest.decide(campaign) == "b"
    campaign.refresh_from_db()
    assert campaign.ab_decision.startswith("B won")


def test_a_click_on_b_leads_to_b_s_link(simulator, sim_page, make_subscribers):
    make_subscribers(sim_page, 10)
    campaign = ab_campaign(sim_page)
    CampaignButton.objects.create(campaign=campaign, title="Shop", url="https://shop.example.com/a")
    VariantButton.objects.create(campaign=campaign, title="Shop now", url="https://shop.example.com/b")
    broadcast.start(campaign)
    for variant in ("a", "b"):
        delivery = campaign.deliveries.get(variant=variant)
        token = signing.Signer(salt=analytics.CLICK_SALT).sign(f"{delivery.pk}.0")
        _, _, destination = analytics.resolve_click(token)
        assert destination.startswith(f"https://shop.example.com/{variant}?")


def test_equal_rates_keep_a_and_say_so(simulator, sim_page, make_subscribers):
    make_subscribers(sim_page, 10)
    campaign = ab_campaign(sim_page)
    broadcast.start(campaign)
    after_the_test(campaign)
    assert campaign.ab_winner == "a"
    assert campaign.ab_decision == (
        "No clear winner: click rate 0.0% (0 of 1) for A and 0.0% (0 of 1) for B after 4 h; "
        "equal rates keep A, the original."
    )
    rest = campaign.deliveries.filter(variant="").values_list("psid", flat=True)
    got = received(simulator, sim_page)
    assert {got[psid][0] for psid in rest} == {A_TEXT}


def test_the_conversion_rate_can_pick_the_winner(simulator, sim_page, make_subscribers):
    make_subscribers(sim_page, 10)
    campaign = ab_campaign(sim_page, ab_metric=Campaign.Metric.CONVERSIONS)
    CampaignButton.objects.create(campaign=campaign, title="Shop", url="https://shop.example.com/a")
    VariantButton.objects.create(campaign=campaign, title="Shop now", url="https://shop.example.com/b")
    broadcast.start(campaign)
    a = campaign.deliveries.get(variant="a")
    analytics.record_click(a, 0)  # A is clicked, but B's person buys
    b = campaign.deliveries.get(variant="b")
    analytics.record_click(b, 0)
    analytics.record_conversion(
        account=sim_page.account, order_id="1", value="20", currency="EUR", subscriber=b.subscriber
    )
    after_the_test(campaign)
    assert campaign.ab_decision == (
        "B won: conversion rate 100.0% (1 of 1) against 0.0% (0 of 1) for A after 4 h."
    )


def test_the_frequency_cap_holds_across_variants_and_campaigns(simulator, sim_page, make_subscribers):
    people = make_subscribers(sim_page, 20)
    earlier = CampaignFactory(page=sim_page, text="Yesterday's news")
    broadcast.start(earlier)  # everyone's cooldown is taken
    campaign = ab_campaign(sim_page)
    broadcast.start(campaign)
    after_the_test(campaign)
    assert Counter(campaign.deliveries.values_list("state", "reason")) == {("skipped", "frequency_cap"): 20}
    assert all(len(texts) == 1 for texts in received(simulator, sim_page).values())
    assert len(people) == 20


def test_nobody_in_their_frequency_cap_is_drawn_for_the_test(simulator, sim_page, make_subscribers):
    """They would be skipped, and a variant's rate would rest on fewer people than drawn: the
    test is drawn from those the campaign reaches now, the capped wait with the rest."""
    make_subscribers(sim_page, 10)
    make_subscribers(sim_page, 10, last_marketing_at=timezone.now())
    campaign = ab_campaign(sim_page)
    broadcast.start(campaign)
    assert variants(campaign) == {("a", "sent"): 1, ("b", "sent"): 1, ("", "pending"): 18}


def test_the_rest_never_go_out_before_the_winner_is_known(simulator, sim_page, make_subscribers):
    make_subscribers(sim_page, 10)
    campaign = ab_campaign(sim_page)
    broadcast.start(campaign)
    campaign.deliveries.filter(variant="").update(not_before=None)  # due, the winner not picked
    runner.run(campaign.pk)
    assert variants(campaign) == {("a", "sent"): 1, ("b", "sent"): 1, ("", "pending"): 8}
    assert campaign.deliveries.filter(variant="", not_before__gt=timezone.now()).count() == 8
    assert len(received(simulator, sim_page)) == 2


def test_a_paused_test_is_decided_and_the_rest_wait_for_resume(simulator, sim_page, make_subscribers):
    make_subscribers(sim_page, 10)
    campaign = ab_campaign(sim_page)
    broadcast.start(campaign)
    broadcast.pause(campaign)
    after_the_test(campaign)
    assert campaign.status == Campaign.Status.PAUSED and campaign.ab_winner == "a"
    assert variants(campaign)[("", "pending")] == 8
    with time_machine.travel(campaign.ab_decide_at + timedelta(minutes=2), tick=True):
        broadcast.resume(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED
    assert variants(campaign)[("", "sent")] == 8


def test_a_cancelled_test_sends_nothing_more(simulator, sim_page, make_subscribers):
    make_subscribers(sim_page, 10)
    campaign = ab_campaign(sim_page)
    broadcast.start(campaign)
    broadcast.cancel(campaign)
    after_the_test(campaign)
    assert campaign.ab_decided_at is None
    assert variants(campaign) == {("a", "sent"): 1, ("b", "sent"): 1, ("", "skipped"): 8}
    assert len(received(simulator, sim_page)) == 2


def test_what_an_a_b_test_cannot_be(sim_page):
    campaign = ab_campaign(sim_page, variant_b_text="")
    assert abtest.problems(campaign, []) == {"variant_b_text": "Write the message."}
    campaign = ab_campaign(sim_page, schedule=Campaign.Schedule.LOCAL)
    assert "one time for everyone" in abtest.problems(campaign, [])["ab_test"]
    campaign = ab_campaign(sim_page, expires_at=timezone.now() + timedelta(hours=3))
    assert "expires before the winner is picked" in abtest.problems(campaign, [])["ab_hours"]
    campaign = ab_campaign(sim_page, trigger_event="order_placed")
    assert "flow" in abtest.problems(campaign, [])["ab_test"]
    assert abtest.problems(ab_campaign(sim_page, ab_test=False, variant_b_text=""), []) == {}
    with pytest.raises(broadcast.CampaignError, match="Write the message"):
        broadcast.start(ab_campaign(sim_page, variant_b_text=""))
    assert not Subscriber.objects.exists()


def test_per_person_routing_sends_each_variant_and_the_winner_through_each_person_s_channel(
    simulator, paid_page
):
    """A US Page sending per person: people in their 24 h window get a free message, the others a
    paid one; the test and the rest go the same way, and the rest wait for the winner."""
    paid_page.account.business_country = "US"
    paid_page.account.save()
    paid_page.channel = Channel.PER_PERSON
    paid_page.save()
    simulator.create_page(page_id=paid_page.page_id, business_country="US")
    people = [person(simulator, paid_page, f"window{i}", in_window=True) for i in range(5)]
    people += [person(simulator, paid_page, f"us{i}", timezone_name="America/Chicago") for i in range(5)]
    campaign = ab_campaign(paid_page, ab_test_share=40)
    broadcast.start(campaign)
    assert Counter(campaign.deliveries.values_list("variant", "state")) == {
        ("a", "sent"): 2,
        ("b", "sent"): 2,
        ("", "pending"): 6,
    }
    after_the_test(campaign)
    assert campaign.status == Campaign.Status.FINISHED
    rows = campaign.deliveries.all()
    assert {row.state for row in rows} == {"sent"}
    assert {row.channel for row in rows if row.subscriber.customer_ref.startswith("window")} == {
        Channel.STANDARD
    }
    assert {row.channel for row in rows if row.subscriber.customer_ref.startswith("us")} == {
        Channel.MARKETING_API
    }
    sent = Counter(m["psid"] for m in simulator.messages(paid_page.page_id) if m.get("type") != "optin")
    assert sent == {p.psid: 1 for p in people}


def test_a_test_of_everyone_is_decided_after_its_hours(simulator, sim_page, make_subscribers):
    """At 100 % nobody waits for the winner, so the campaign finishes before it is due: the
    winner is still picked when due, and the report says which variant did better."""
    make_subscribers(sim_page, 4)
    campaign = ab_campaign(sim_page, ab_test_share=100)
    broadcast.start(campaign)
    analytics.record_click(campaign.deliveries.filter(variant="b").first(), 0)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED and campaign.ab_decided_at is None
    after_the_test(campaign)
    assert campaign.ab_winner == "b"
    assert campaign.ab_decision.startswith("B won: click rate 50.0% (1 of 2)")


def test_a_test_whose_messages_wait_for_quiet_hours_is_decided_hours_after_they_go(
    simulator, sim_page, make_subscribers
):
    """Started in the evening, its test messages wait for the morning: the winner is not picked
    on nothing sent (A by default) but the test's hours after they go out, the rest waiting till then."""
    make_subscribers(sim_page, 10)
    local = timezone.localtime(timezone.now(), ZoneInfo(sim_page.account.timezone or "UTC"))
    quiet = {
        "quiet_hours_start": (local - timedelta(hours=1)).time(),
        "quiet_hours_end": (local + timedelta(hours=6)).time(),
    }
    campaign = ab_campaign(sim_page, ab_hours=1, **quiet)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    morning = campaign.deliveries.get(variant="a").not_before
    assert variants(campaign) == {("a", "pending"): 1, ("b", "pending"): 1, ("", "pending"): 8}
    after_the_test(campaign)
    assert campaign.ab_decided_at is None and campaign.ab_decide_at == morning + timedelta(hours=1)
    assert set(campaign.deliveries.filter(variant="").values_list("not_before", flat=True)) == {
        campaign.ab_decide_at
    }
    with time_machine.travel(morning + timedelta(minutes=1), tick=True):
        broadcast.tick()
    analytics.record_click(campaign.deliveries.get(variant="b"), 0)
    after_the_test(campaign)
    assert campaign.ab_winner == "b" and campaign.status == Campaign.Status.FINISHED
    assert all(len(texts) == 1 for texts in received(simulator, sim_page).values())


def test_testing_both_variants_on_one_person_says_why_meta_refused_b(simulator, sim_page, make_subscribers):
    """A colleague sent variant A, then B: Meta takes one marketing message per person per 48 h
    on the token channel, and the editor is told so in words, with what to do instead."""
    [colleague] = make_subscribers(sim_page, 1, first_name="Arthur", last_interaction_at=None)
    simulator.configure(followup_limit=0)  # long after the opt-in: no follow-up messages left
    campaign = ab_campaign(sim_page)
    campaign.save_revision().publish()
    broadcast.send_test(campaign, colleague, variant="a")
    with pytest.raises(broadcast.CampaignError) as refused:
        broadcast.send_test(campaign, colleague, variant="b")
    assert str(refused.value) == (
        "Meta did not send it: Arthur already had a marketing message from the Page in the last "
        "48 hours (an earlier test, perhaps), and Meta allows one per person in that time. Send "
        "this test to another subscriber, or to someone who wrote to the Page in the last 24 "
        "hours: Meta sets no such limit for them."
    )


def test_a_variant_none_of_whose_messages_went_out_yet_is_waited_for(simulator, sim_page, make_subscribers):
    """A went out; B's messages wait (here as Meta's paid API defers a person for 12 h, or a
    new paid campaign warms up): B is not beaten on nothing sent. The winner waits for them."""
    make_subscribers(sim_page, 20)
    campaign = ab_campaign(sim_page)
    broadcast.start(campaign)
    later = timezone.now() + timedelta(hours=6)
    campaign.deliveries.filter(variant="b").update(state="pending", not_before=later, sent_at=None)
    after_the_test(campaign)
    assert campaign.ab_decided_at is None and campaign.ab_decide_at == later + timedelta(hours=4)


def test_a_variant_keeps_its_conversion_when_the_buyer_is_erased(simulator, sim_page, make_subscribers):
    """GDPR erasure detaches the person from their ledger row and their order: the campaign still
    counts the order, and so must the variant that won it (the report's two figures agree)."""
    make_subscribers(sim_page, 10)
    campaign = ab_campaign(sim_page, ab_metric=Campaign.Metric.CONVERSIONS)
    VariantButton.objects.create(campaign=campaign, title="Shop now", url="https://shop.example.com/b")
    broadcast.start(campaign)
    b = campaign.deliveries.get(variant="b")
    analytics.record_click(b, 0)
    analytics.record_conversion(
        account=sim_page.account, order_id="1", value="20", currency="EUR", subscriber=b.subscriber
    )
    erasure.erase(b.subscriber, by="user 1")
    _, got_b = variant_results(campaign)
    assert got_b.conversions == 1
    after_the_test(campaign)
    assert campaign.ab_winner == "b"


class Greeting:
    """A plugin personalising each recipient's own message (``build_message``)."""

    @hookimpl
    def build_message(self, subscriber, message):
        message["text"] = message["text"].replace("{name}", subscriber.first_name)
        return message


def test_a_plugin_builds_each_variant_s_own_message(simulator, sim_page, make_subscribers, register_plugin):
    """``build_message`` gets the recipient's variant's message (B's for B's people, the winner's
    for the rest), never A's for everyone."""
    make_subscribers(sim_page, 10, first_name="Ann")
    register_plugin(Greeting(), name="greeting")
    campaign = ab_campaign(sim_page, text="Hi {name}: A", variant_b_text="Hi {name}: B")
    broadcast.start(campaign)
    after_the_test(campaign)
    by_variant = dict(campaign.deliveries.values_list("psid", "variant"))
    got = received(simulator, sim_page)
    winner = campaign.ab_winner.upper()
    expected = {psid: [f"Hi Ann: {(variant or winner).upper()}"] for psid, variant in by_variant.items()}
    assert got == expected
