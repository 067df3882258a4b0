"""A business with a Page on the legacy marketing-message tokens and a Page on Meta's paid
Marketing Messages API, campaigns of both started together: each Page's messages go through its
own channel, the frequency cap holds across the campaigns of a Page whatever its channel, and
each campaign's counters are its own."""

from collections import Counter

import pytest

from onesend_plugin import analytics, broadcast
from onesend_plugin.analytics.counters import outcome
from onesend_plugin.models import Delivery

from .broadcast_harness import InThread, sends_per_token, started
from .conftest import connect_paid
from .factories import CampaignFactory, MessengerPageFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def legacy_page(simulator, paid_page):
    """A second Page of the paid Page's account, on the legacy tokens (the Send API)."""
    page = MessengerPageFactory(account=paid_page.account, app=paid_page.app)
    simulator.create_page(
        page_id=page.page_id, name=page.name, username=page.username, access_token=page.access_token
    )
    return page


def ledger(campaign) -> Counter:
    """The campaign's rows by the counter their outcome bumps (``sent``, ``skipped:<reason>``)."""
    return Counter(
        outcome(state, reason) for state, reason in campaign.deliveries.values_list("state", "reason")
    )


def counted(campaign) -> dict[str, int]:
    """The campaign's counters of the outcomes its ledger holds."""
    counters = analytics.stats(campaign)
    return {name: counters.get(name, 0) for name in ledger(campaign)}


def test_each_page_sends_through_its_channel_and_the_cap_holds_per_page(
    simulator, paid_page, legacy_page, make_subscribers, monkeypatch
):
    # Ann follows both Pages: a PSID and a token on each (Meta scopes both to the Page).
    ann_legacy, *legacy_people = make_subscribers(legacy_page, 1, customer_ref="ann") + make_subscribers(
        legacy_page, 2
    )
    ann_paid, *paid_people = make_subscribers(paid_page, 1, customer_ref="ann") + make_subscribers(
        paid_page, 2
    )
    legacy_campaign = started(CampaignFactory(page=legacy_page), monkeypatch)
    paid_campaigns = [started(CampaignFactory(page=paid_page), monkeypatch) for _ in range(2)]
    runs = [InThread(broadcast.run, c.pk) for c in [legacy_campaign, *paid_campaigns]]
    for run in runs:  # together
        run.start()
    assert {run.value(timeout=60) for run in runs} == {"finished"}

    # The simulator shows the channel of each Page: the Send API with the token, or act_/messages.
    legacy_tokens = {p.tokens.get().token for p in (ann_legacy, *legacy_people)}
    paid_tokens = {p.tokens.get().token for p in (ann_paid, *paid_people)}
    assert sends_per_token(simulator, legacy_page) == {("token", token): 1 for token in legacy_tokens}
    assert sends_per_token(simulator, paid_page) == {("marketing", token): 1 for token in paid_tokens}

    # One message per person per Page: Ann got the legacy Page's and one of the paid Page's two.
    assert ledger(legacy_campaign) == {"sent": 3}
    paid_rows: dict[str, list] = {}
    for row in Delivery.objects.filter(campaign__in=paid_campaigns).order_by("state"):
        paid_rows.setdefault(row.psid, []).append((row.state, row.reason))
    assert paid_rows == {
        p.psid: [("sent", ""), ("skipped", "frequency_cap")] for p in (ann_paid, *paid_people)
    }

    # Each campaign's counters are its own ledger's, and Meta saw each paid campaign's sends.
    by_message_campaign = Counter(
        m["campaign_id"] for m in simulator.messages(paid_page.page_id) if m["via"] == "marketing"
    )
    for campaign in [legacy_campaign, *paid_campaigns]:
        assert counted(campaign) == ledger(campaign)
    for campaign in paid_campaigns:
        campaign.refresh_from_db()
        meta_id = campaign.message["channel"]["marketing_message_id"]
        assert by_message_campaign[meta_id] == ledger(campaign)["sent"]


def test_a_page_moving_to_the_paid_api_keeps_its_subscribers_frequency_cap(
    simulator, sim_page, make_subscribers
):
    """The cap is the person's on the Page, whatever the channel: a Page moved to the paid API
    (the legacy tokens end outside a few regions) does not message again, within the cap, the
    people its legacy campaign reached."""
    [messaged] = make_subscribers(sim_page, 1)
    legacy_campaign = CampaignFactory(page=sim_page)
    broadcast.start(legacy_campaign)
    assert ledger(legacy_campaign) == {"sent": 1}
    [newcomer] = make_subscribers(sim_page, 1)
    connect_paid(simulator, sim_page)
    paid_campaign = CampaignFactory(page=sim_page)
    broadcast.start(paid_campaign)

    rows = {row.psid: (row.state, row.reason) for row in paid_campaign.deliveries.all()}
    assert rows == {messaged.psid: ("skipped", "frequency_cap"), newcomer.psid: ("sent", "")}
    assert sends_per_token(simulator, sim_page) == {
        ("token", messaged.tokens.get().token): 1,
        ("marketing", newcomer.tokens.get().token): 1,
    }
    assert counted(paid_campaign) == ledger(paid_campaign)
