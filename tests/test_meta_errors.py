"""Send errors as Meta's pages define them, against the simulator over HTTP: 1200 is tried again,
1/1357046 means sent, 10/1893015 ends one topic, the paid API's frequency caps skip the person."""

from collections import Counter

import pytest

from onesend_plugin import broadcast
from onesend_plugin.broadcast.sender import SENT_DESPITE_ERROR
from onesend_plugin.meta import client_for
from onesend_plugin.models import Campaign, MarketingToken, Subscriber

from .factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)


def received(simulator, page) -> Counter:
    """Marketing messages each person received, as Meta (the simulator) saw it."""
    return Counter(m["psid"] for m in simulator.messages(page.page_id) if m.get("type") != "optin")


def rejected(simulator) -> dict:
    return simulator.stats()["send"]["rejected"]


def test_a_temporary_send_failure_is_tried_again(simulator, sim_page, make_subscribers):
    """1200 "Temporary send message failure" (Common error codes): Meta sent nothing, so the row
    goes back to the queue and a later attempt sends it, once."""
    flaky, fine = make_subscribers(sim_page, 2)
    simulator.refuse_sends(flaky.psid, 1200)
    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    row = campaign.deliveries.get(subscriber=flaky)
    assert (row.state, row.attempts, row.error) == ("sent", 1, "")
    assert received(simulator, sim_page) == {flaky.psid: 1, fine.psid: 1}
    assert rejected(simulator) == {"1200": 1}


def test_a_batch_meta_answers_with_1357046_was_sent_and_is_never_sent_again(
    simulator, sim_page, make_subscribers
):
    """1/1357046 "Received invalid JSON reply" (Common error codes): the batch's messages were
    all sent although the call errored. The rows are sent, with Meta's note; their cooldown holds
    and nothing is sent twice, not by a retry of the campaign nor by the next campaign."""
    people = make_subscribers(sim_page, 3)
    simulator.configure(garbled_batch_replies=1)
    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    rows = list(campaign.deliveries.all())
    assert campaign.status == Campaign.Status.FINISHED
    assert {(row.state, row.reason) for row in rows} == {("sent", "")}
    assert all(row.error.startswith(SENT_DESPITE_ERROR) and "1357046" in row.error for row in rows)
    assert broadcast.progress(campaign)["sent"] == 3
    assert received(simulator, sim_page) == {p.psid: 1 for p in people}
    assert Subscriber.objects.filter(last_marketing_at__isnull=True).count() == 0  # cooldown kept

    assert broadcast.retry_unknown(campaign) == 0
    later = CampaignFactory(page=sim_page)
    broadcast.start(later)
    assert set(later.deliveries.values_list("reason", flat=True)) == {"frequency_cap"}
    assert received(simulator, sim_page) == {p.psid: 1 for p in people}


def test_a_stopped_topic_ends_that_topic_only(simulator, sim_page, make_subscribers):
    """10/1893015 "stopped notification messages for this topic" (Common error codes): the token
    of that topic is stopped; the person's token of another topic still reaches them."""
    [person] = make_subscribers(sim_page, 1)
    client_for(sim_page).send_optin_request(psid=person.psid, title="Weekly recipes", payload="-")
    recipes = simulator.accept_optin(person.psid)["token"]
    MarketingToken.objects.create(subscriber=person, token=recipes, topic="Weekly recipes")
    simulator.stop_notifications(person.psid, sim_page.optin_title)  # Meta knows; the site not yet

    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    row = campaign.deliveries.get()
    assert (row.state, row.reason) == ("failed", "stopped")
    tokens = dict(person.tokens.values_list("topic", "status"))
    assert tokens == {sim_page.optin_title: MarketingToken.Status.STOPPED, "Weekly recipes": "active"}
    person.refresh_from_db()
    assert (person.status, person.last_marketing_at) == (Subscriber.Status.SUBSCRIBED, None)

    second = CampaignFactory(page=sim_page)
    broadcast.start(second)
    assert second.deliveries.get().state == "sent"
    [message] = [m for m in simulator.messages(sim_page.page_id) if m.get("type") != "optin"]
    assert message["token"] == recipes


@pytest.mark.parametrize("code", [2300042, 2300043, 2300044])
def test_a_paid_frequency_cap_skips_the_person_for_the_campaign(simulator, paid_page, make_subscribers, code):
    """The paid API's frequency caps (API References 2300042-2300044; changelog 2026-04-10: "do
    not immediately retry"): the person is skipped for this campaign, tried once, and their
    cooldown is kept, so no other campaign tries them at once either."""
    capped, fine = make_subscribers(paid_page, 2)
    simulator.refuse_sends(capped.psid, code, count=3)
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    row = campaign.deliveries.get(subscriber=capped)
    assert (row.state, row.reason, row.attempts) == ("skipped", "meta_frequency_cap", 0)
    assert received(simulator, paid_page) == {fine.psid: 1}
    assert rejected(simulator) == {str(code): 1}
    capped.refresh_from_db()
    assert capped.last_marketing_at is not None
