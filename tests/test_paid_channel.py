"""Campaigns of a Page on Meta's paid Marketing Messages API, sent through the simulator."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from onesend_simulator.remote import wait_for

from onesend_plugin import analytics, broadcast
from onesend_plugin.accounts import onboarding
from onesend_plugin.broadcast import runner
from onesend_plugin.broadcast.transitions import CampaignError
from onesend_plugin.messenger.client import ManagedPage
from onesend_plugin.meta import client_for
from onesend_plugin.models import Campaign, Delivery, MessengerPage, RateLimitState

from .conftest import AD_ACCOUNT
from .factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)


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


def message_elsewhere(page, subscriber):
    """Another tool of the business sends ``subscriber`` a paid message; returns when (UTC)."""
    client = client_for(page)
    elsewhere = client.create_marketing_campaign(
        ad_account_id=AD_ACCOUNT, name="Elsewhere", page_id=page.page_id
    )
    token = subscriber.tokens.get().token
    client.send_marketing_message(
        ad_account_id=AD_ACCOUNT, message_id=elsewhere, subscription_token=token, message={"text": "Hi"}
    )
    return client.get_token(token=token).eligible_at


def test_a_person_meta_took_a_paid_message_from_in_12_hours_is_skipped_with_the_time(
    simulator, paid_page, make_subscribers
):
    messaged, other = make_subscribers(paid_page, 2)
    eligible_at = message_elsewhere(paid_page, messaged)
    assert timedelta(hours=11, minutes=59) < eligible_at - timezone.now() <= timedelta(hours=12)
    campaign = CampaignFactory(page=paid_page, expires_at=timezone.now() + timedelta(hours=1))
    broadcast.start(campaign)
    outcome = {d.psid: (d.state, d.reason, d.error) for d in campaign.deliveries.all()}
    assert outcome == {
        messaged.psid: (
            "skipped",
            "not_eligible_yet",
            f"Meta takes their next paid message from {eligible_at:%Y-%m-%d %H:%M} UTC.",
        ),
        other.psid: ("sent", "", ""),
    }
    assert analytics.stats(campaign)["skipped:not_eligible_yet"] == 1


def test_without_an_expiry_the_person_is_deferred_then_sent_once_eligible(
    simulator, paid_page, make_subscribers
):
    [messaged] = make_subscribers(paid_page, 1)
    eligible_at = message_elsewhere(paid_page, messaged)
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    row = campaign.deliveries.get()
    assert (row.state, row.not_before) == ("pending", eligible_at)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    simulator.configure(paid_cooldown_seconds=0)  # twelve hours later
    Delivery.objects.filter(pk=row.pk).update(not_before=timezone.now())
    runner.run(campaign.pk)
    row.refresh_from_db()
    assert (row.state, row.reason) == ("sent", "")
    assert paid_sends(simulator, paid_page) == {messaged.psid: 2}  # ours and the other tool's


class Crash(Exception):
    """The worker dies once Meta has answered, before it records anything."""


def test_a_retried_unknown_row_meta_refuses_is_skipped_as_probably_delivered_never_sent_again(
    simulator, paid_page, make_subscribers, settings, monkeypatch
):
    """A crash hid whether Meta took the first batch (the row became ``unknown``); the
    operator's retry finds Meta refusing under its 12 h rule: the person got it, and must not
    get it again 12 h later. A person never attempted but messaged elsewhere still waits."""
    reached, elsewhere = make_subscribers(paid_page, 2)
    eligible_at = message_elsewhere(paid_page, elsewhere)
    settings.ONESEND = {**settings.ONESEND, "BATCH_SIZE": 1}
    campaign = CampaignFactory(page=paid_page)
    with monkeypatch.context() as patch:
        patch.setattr(runner, "launch", lambda *args, **kwargs: None)
        broadcast.start(campaign)

        def crash(*args, **kwargs):
            raise Crash

        patch.setattr(broadcast.Sender, "_record", crash)
        with pytest.raises(Crash):
            runner.run(campaign.pk)
    settings.ONESEND = {**settings.ONESEND, "CLAIM_LEASE_SECONDS": 0}
    broadcast.recover(campaign)
    assert campaign.deliveries.get(psid=reached.psid).state == "unknown"
    assert paid_sends(simulator, paid_page) == {reached.psid: 1, elsewhere.psid: 1}

    assert broadcast.retry_unknown(campaign) == 1
    outcome = {d.psid: (d.state, d.reason, d.not_before) for d in campaign.deliveries.all()}
    assert outcome == {
        reached.psid: ("skipped", "probably_already_delivered", None),
        elsewhere.psid: ("pending", "", eligible_at),
    }
    assert analytics.stats(campaign)["skipped:probably_already_delivered"] == 1
    assert paid_sends(simulator, paid_page) == {reached.psid: 1, elsewhere.psid: 1}


PAID_FIELDS = [
    "marketing_message_echoes",
    "marketing_message_deliveries",
    "marketing_message_reads",
    "marketing_message_clicks",
    "marketing_message_delivery_failed",
    "marketing_messages_subscriber_upload_status",
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


def test_a_campaign_warms_up_then_sends(simulator, paid_page, make_subscribers, settings):
    settings.ONESEND = {**settings.ONESEND, "PAID_WARM_UP_RETRY_SECONDS": 300}
    people = make_subscribers(paid_page, 2)
    simulator.configure(campaign_warmup_seconds=3600)  # Meta: about an hour after creation
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert set(campaign.deliveries.values_list("state", flat=True)) == {"pending"}
    assert "2300003" in campaign.last_error
    shown = broadcast.progress(campaign)
    assert (shown["phase"], shown["last_error"], shown["throttled_until"]) == ("warming_up", "", None)
    assert campaign.throttled_until > timezone.now() + timedelta(minutes=4)  # the setting's 300 s
    simulator.configure(campaign_warmup_seconds=0)  # an hour later
    RateLimitState.objects.all().delete()
    assert runner.run(campaign.pk) == "finished"
    assert paid_sends(simulator, paid_page) == {p.psid: 1 for p in people}
    campaign.refresh_from_db()
    assert (campaign.phase, campaign.last_error) == ("finished", "")  # no error left from warming up


def test_a_warming_up_campaign_is_asked_again_after_the_setting(
    simulator, paid_page, make_subscribers, settings
):
    settings.ONESEND = {**settings.ONESEND, "PAID_WARM_UP_RETRY_SECONDS": 20}
    make_subscribers(paid_page, 1)
    simulator.configure(campaign_warmup_seconds=3600)
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert timezone.now() < campaign.throttled_until <= timezone.now() + timedelta(seconds=20)


@pytest.mark.parametrize(
    ("code", "advice"), [(2300011, "payment method"), (2300019, "App Dashboard"), (2300030, "region")]
)
def test_an_ad_account_meta_refuses_stops_the_campaign_with_what_to_do(
    simulator, paid_page, make_subscribers, code, advice
):
    make_subscribers(paid_page, 1)
    simulator.configure(paid_account_error=code)
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and advice in campaign.last_error
    assert not campaign.deliveries.exists()


@pytest.mark.parametrize(("code", "advice"), [(2300011, "payment method"), (2300013, "terms")])
def test_an_ad_account_meta_refuses_while_sending_pauses_the_page_with_what_to_do(
    simulator, paid_page, make_subscribers, monkeypatch, code, advice
):
    make_subscribers(paid_page, 2)
    monkeypatch.setattr(runner, "launch", lambda *args, **kwargs: None)
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)  # the message campaign is created, nothing sent yet
    simulator.configure(paid_account_error=code)  # then the account lost its payment method, terms…
    runner.run(campaign.pk)
    paid_page.refresh_from_db()
    campaign.refresh_from_db()
    assert paid_page.status == MessengerPage.Status.PAUSED and advice in paid_page.status_reason
    assert campaign.status == Campaign.Status.PAUSED and str(code) in campaign.last_error
    assert set(campaign.deliveries.values_list("state", flat=True)) == {"pending"}
    assert paid_sends(simulator, paid_page) == {}


def test_connecting_a_paid_page_subscribes_its_receipts_and_the_health_check_asks_for_them(
    simulator, paid_page
):
    simulator.create_page(
        page_id=paid_page.page_id, app_id=paid_page.app.app_id, subscribed_fields=["messages"]
    )
    simulator.configure(app_secret=paid_page.app.app_secret)
    assert set(onboarding.check_health(paid_page)["fields_missing"]) >= set(PAID_FIELDS)
    managed = ManagedPage(page_id=paid_page.page_id, name=paid_page.name, access_token=paid_page.access_token)
    page = onboarding.connect(paid_page.account, paid_page.app, managed)
    [shown] = [p for p in simulator.pages() if p["page_id"] == paid_page.page_id]
    assert shown["subscribed_fields"] == [*onboarding.WEBHOOK_FIELDS, *PAID_FIELDS]
    assert page.health["fields_missing"] == [] and onboarding.is_healthy(page.health)


@pytest.mark.parametrize("envelope", ["changes", "messaging"])
def test_a_message_meta_drops_after_accepting_it_becomes_failed_once(
    simulator, live_server, paid_page, make_subscribers, envelope
):
    dropped, kept = make_subscribers(paid_page, 2)
    send_paid_webhooks(simulator, live_server, paid_page)
    simulator.configure(paid_webhook_envelope=envelope, duplicate_rate=1)
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    simulator.fail_paid_delivery(dropped.psid, "Unknown Error")
    wait_for(lambda: campaign.deliveries.filter(state="failed").exists(), what="the failure")
    simulator.wait_webhooks_drained()
    rows = {d.psid: (d.state, d.reason, d.error) for d in campaign.deliveries.all()}
    assert rows == {dropped.psid: ("failed", "undelivered", "Unknown Error"), kept.psid: ("sent", "", "")}
    counters = analytics.stats(campaign)
    assert (counters["sent"], counters["failed:undelivered"]) == (1, 1)


def test_a_conversation_gap_skips_people_who_just_talked_with_the_page(
    simulator, paid_page, make_subscribers, settings
):
    people = make_subscribers(paid_page, 2)  # they opened the Page's link a moment ago
    settings.ONESEND = {**settings.ONESEND, "PAID_MIN_CONVERSATION_GAP_SECONDS": 3600}
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    assert {d.psid: (d.state, d.reason) for d in campaign.deliveries.all()} == {
        p.psid: ("skipped", "recipient_unavailable") for p in people
    }
    assert paid_sends(simulator, paid_page) == {}


def test_a_spent_budget_pauses_the_campaign_and_keeps_the_rest_queued(simulator, paid_page, make_subscribers):
    make_subscribers(paid_page, 3)
    simulator.configure(paid_price_cents=100)
    campaign = CampaignFactory(page=paid_page, budget=250, budget_period=Campaign.BudgetPeriod.LIFETIME)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and "budget is spent" in campaign.last_error
    assert Counter(campaign.deliveries.values_list("state", flat=True)) == {"sent": 2, "pending": 1}


def test_a_spent_daily_budget_waits_for_the_next_day(simulator, paid_page, make_subscribers):
    make_subscribers(paid_page, 3)
    simulator.configure(paid_price_cents=100)
    campaign = CampaignFactory(page=paid_page, budget=250)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING and "2300054" in campaign.last_error
    assert campaign.throttled_until > timezone.now() + timedelta(minutes=59)
    assert Counter(campaign.deliveries.values_list("state", flat=True)) == {"sent": 2, "pending": 1}
