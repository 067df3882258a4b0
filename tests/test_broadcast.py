"""The broadcast engine against the Graph API simulator: ledger, cap, errors, schedules."""

from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from onesend_plugin import broadcast, conf
from onesend_plugin.broadcast import ledger, periodic, ratelimit, recipients, runner, timing
from onesend_plugin.messenger.errors import MIN_RETRY_AFTER
from onesend_plugin.models import Campaign, CampaignButton, Delivery, MessengerPage, Subscriber

from .factories import CampaignFactory, SubscriberFactory

pytestmark = pytest.mark.django_db(transaction=True)


def sends_per_person(simulator, page):
    """How many marketing messages each person received, as Meta (the simulator) saw it."""
    return Counter(m["psid"] for m in simulator.messages(page.page_id) if m.get("type") != "optin")


def states(campaign):
    return Counter(campaign.deliveries.values_list("state", flat=True))


def test_a_campaign_reaches_every_subscriber_once_and_finishes(simulator, sim_page, make_subscribers):
    people = make_subscribers(sim_page, 5)
    campaign = CampaignFactory(page=sim_page)
    CampaignButton.objects.create(campaign=campaign, title="Shop now", url="https://shop.example.com/")
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED
    assert states(campaign) == {"sent": 5}
    assert sends_per_person(simulator, sim_page) == {p.psid: 1 for p in people}
    assert all(d.message_id for d in campaign.deliveries.all())
    assert Subscriber.objects.filter(last_marketing_at__isnull=True).count() == 0
    progress = broadcast.progress(campaign)
    assert (progress["sent"], progress["queued"], progress["percent"]) == (5, 0, 100.0)


@pytest.fixture
def short_freeze_turns(monkeypatch):
    """Each freeze task writes one chunk of two rows, then hands over: as a million recipients
    outlast a task's time under django-q2's timeout."""
    freeze = recipients.freeze
    monkeypatch.setattr(recipients, "FREEZE_CHUNK", 2)
    monkeypatch.setattr(recipients, "freeze", lambda campaign, deadline=None: freeze(campaign, deadline=0.0))


def test_a_large_audience_is_frozen_over_several_tasks(
    simulator, sim_page, make_subscribers, short_freeze_turns, monkeypatch
):
    people = make_subscribers(sim_page, 7)
    turn, turns = runner.freeze_turn, []
    monkeypatch.setattr(
        runner, "freeze_turn", lambda campaign_id: turns.append(campaign_id) or turn(campaign_id)
    )
    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    assert len(turns) == 4  # 2 + 2 + 2 + 1 rows
    campaign.refresh_from_db()
    assert (campaign.status, campaign.audience_size, states(campaign)) == ("finished", 7, {"sent": 7})
    assert campaign.frozen_at is not None
    assert sends_per_person(simulator, sim_page) == {p.psid: 1 for p in people}


def test_a_campaign_finishes_only_once_its_whole_audience_is_in_even_if_a_freeze_task_died(
    simulator, sim_page, make_subscribers, short_freeze_turns, monkeypatch
):
    people = make_subscribers(sim_page, 3)
    queue = runner.async_task
    died = []

    def killed_worker(name, *args, **kwargs):  # the freeze's second task never runs
        if name == runner.FREEZE_TASK and Delivery.objects.exists() and not died:
            died.append(args)
            return None
        return queue(name, *args, **kwargs)

    monkeypatch.setattr(runner, "async_task", killed_worker)
    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    assert died and states(campaign) == {"pending": 2}  # the first chunk only; nobody launched workers
    assert runner.run(campaign.pk) == "freezing"  # a worker the tick put on it sends what is in...
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING and states(campaign) == {"sent": 2}  # ...and waits
    periodic.tick()  # the dead task still holds the freeze: nothing yet
    assert states(campaign) == {"sent": 2}
    Campaign.objects.filter(pk=campaign.pk).update(freezing_until=timezone.now() - timedelta(seconds=1))
    periodic.tick()  # its hold is over: a new freeze goes on after the last one written, then workers
    campaign.refresh_from_db()
    assert (campaign.status, campaign.audience_size, states(campaign)) == ("finished", 3, {"sent": 3})
    assert sends_per_person(simulator, sim_page) == {p.psid: 1 for p in people}


def test_overlapping_campaigns_inside_the_cooldown_send_one_message(simulator, sim_page, make_subscribers):
    people = make_subscribers(sim_page, 3)
    first, second = CampaignFactory(page=sim_page), CampaignFactory(page=sim_page)
    broadcast.start(first)
    broadcast.start(second)
    assert states(first) == {"sent": 3}
    assert states(second) == {"skipped": 3}
    assert set(second.deliveries.values_list("reason", flat=True)) == {"frequency_cap"}
    assert sends_per_person(simulator, sim_page) == {p.psid: 1 for p in people}


def test_audience_filters(sim_page, make_subscribers):
    a, b, c = make_subscribers(sim_page, 3)
    a.tags.add("vip")
    b.tags.add("vip", "churned")
    c.source_ref = "poster"
    c.save()
    campaign = CampaignFactory(page=sim_page, include_tags="vip", exclude_tags="churned")
    assert list(broadcast.audience(campaign)) == [a]
    campaign = CampaignFactory(page=sim_page, include_refs="poster")
    assert list(broadcast.audience(campaign)) == [c]
    Subscriber.objects.filter(pk=c.pk).update(status=Subscriber.Status.UNSUBSCRIBED)
    assert list(broadcast.audience(campaign)) == []


def test_meta_errors_are_classified(simulator, sim_page, make_subscribers):
    stopped, blocked, fine = make_subscribers(sim_page, 3)
    simulator.stop_notifications(stopped.psid)
    simulator.block(blocked.psid)
    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    outcome = {d.psid: (d.state, d.reason) for d in campaign.deliveries.all()}
    assert outcome == {
        stopped.psid: ("failed", "stopped"),
        blocked.psid: ("failed", "blocked"),
        fine.psid: ("sent", ""),
    }
    assert dict(Subscriber.objects.values_list("psid", "status")) == {
        stopped.psid: "unsubscribed",
        blocked.psid: "blocked",
        fine.psid: "subscribed",
    }
    # their cooldown was given back: nothing reached them
    assert Subscriber.objects.get(pk=stopped.pk).last_marketing_at is None


def test_a_revoked_token_pauses_the_page_and_its_campaigns(simulator, sim_page, make_subscribers):
    make_subscribers(sim_page, 2)
    MessengerPage.objects.filter(pk=sim_page.pk).update(access_token="revoked")
    campaign = CampaignFactory(page=MessengerPage.objects.get(pk=sim_page.pk))
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "paused" in campaign.last_error.lower()
    assert MessengerPage.objects.get(pk=sim_page.pk).status == MessengerPage.Status.PAUSED
    assert states(campaign) == {"pending": 2}  # nothing lost, nothing sent
    assert Subscriber.objects.filter(last_marketing_at__isnull=False).count() == 0


def test_rate_limit_errors_hold_the_page_and_requeue(simulator, sim_page, make_subscribers):
    people = make_subscribers(sim_page, 6)
    simulator.configure(text_rate=2)  # far below what the engine aims at: Meta will say 613
    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED
    assert states(campaign) == {"sent": 6}
    assert sends_per_person(simulator, sim_page) == {p.psid: 1 for p in people}
    assert campaign.deliveries.filter(attempts__gt=0).exists()  # some waited for the Page to cool down
    assert "rate limit" in campaign.last_error.lower()


def test_a_refused_batch_pauses_briefly_and_each_refusal_in_a_row_doubles_the_pause(
    simulator, sim_page, make_subscribers, monkeypatch
):
    people = make_subscribers(sim_page, 3)
    simulator.configure(text_rate=2)  # the first batch of 3: 2 accepted, 1 refused; then 613s for 1 s
    holds = []
    hold_page = ratelimit.hold_page
    monkeypatch.setattr(
        ratelimit, "hold_page", lambda page, seconds: holds.append(seconds) or hold_page(page, seconds)
    )
    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    assert states(campaign) == {"sent": 3}
    assert sends_per_person(simulator, sim_page) == {p.psid: 1 for p in people}
    # 0.25 s, then 0.5 s while the rolling second is still full (a machine stalling for most of a
    # second lets the retry through sooner, hence "at least one"), each twice the one before.
    assert holds[0] == MIN_RETRY_AFTER == 0.25
    assert holds == [MIN_RETRY_AFTER * 2**n for n in range(len(holds))]


def test_pause_resume_and_cancel(simulator, sim_page, make_subscribers, monkeypatch):
    make_subscribers(sim_page, 4)
    campaign = CampaignFactory(page=sim_page)
    monkeypatch.setattr(runner, "launch", lambda *args, **kwargs: None)  # we run it by hand
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert states(campaign) == {"pending": 4}
    broadcast.pause(campaign)
    assert broadcast.run(campaign.pk) == "stopped"
    assert states(campaign) == {"pending": 4}
    broadcast.resume(campaign)
    monkeypatch.setattr(conf, "get", _conf_with(BATCH_SIZE=2))
    broadcast.run(campaign.pk, budget=0.0001)  # one batch, then its time is up
    broadcast.cancel(campaign)
    assert states(campaign) == {"sent": 2, "skipped": 2}
    with pytest.raises(broadcast.CampaignError):
        broadcast.resume(campaign)


def _conf_with(**overrides):
    original = conf.get

    def get(name):
        return overrides.get(name, original(name))

    return get


def test_expired_campaigns_send_nothing_late(simulator, sim_page, make_subscribers):
    make_subscribers(sim_page, 2)
    campaign = CampaignFactory(page=sim_page, expires_at=timezone.now() - timedelta(minutes=1))
    broadcast.start(campaign)
    assert states(campaign) == {"skipped": 2}
    assert set(campaign.deliveries.values_list("reason", flat=True)) == {"expired"}
    assert sends_per_person(simulator, sim_page) == {}


def test_only_published_campaigns_start(sim_page):
    with pytest.raises(broadcast.CampaignError, match="Publish"):
        broadcast.start(CampaignFactory(page=sim_page, live=False))


@pytest.mark.parametrize("url", ["ftp://files.example/sale.pdf", "javascript:alert(1)", "shop/sale"])
def test_a_button_linking_outside_the_web_does_not_start_nor_go_as_a_test(sim_page, url):
    campaign = CampaignFactory(page=sim_page)
    CampaignButton.objects.create(campaign=campaign, title="Sale", url=url)
    campaign.save_revision().publish()
    with pytest.raises(broadcast.CampaignError, match="https://"):
        broadcast.start(campaign)
    with pytest.raises(broadcast.CampaignError, match="https://"):
        broadcast.send_test(campaign, SubscriberFactory(page=sim_page))
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT


def test_a_test_sent_by_marketing_message_takes_the_persons_frequency_cap(
    simulator, sim_page, make_subscribers
):
    """Meta counts a test like any marketing message: the campaign then skips its recipient, and
    the confirm step's count says so beforehand, instead of Meta refusing them mid-send."""
    tester, other = make_subscribers(sim_page, 2)
    campaign = CampaignFactory(page=sim_page)
    broadcast.send_test(campaign, tester)
    assert broadcast.in_cooldown(campaign) == 1
    broadcast.start(campaign)
    assert sends_per_person(simulator, sim_page) == {tester.psid: 1, other.psid: 1}  # the test; the campaign
    assert campaign.deliveries.get(subscriber=tester).reason == "frequency_cap"


def test_a_broadcast_with_nobody_to_send_to_does_not_start(sim_page, make_subscribers):
    make_subscribers(sim_page, 1)
    campaign = CampaignFactory(page=sim_page, include_tags="nobody-has-this")
    with pytest.raises(broadcast.CampaignError, match="Nobody would receive it"):
        broadcast.start(campaign)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.deliveries.count()) == (Campaign.Status.DRAFT, 0)


def test_content_meta_would_reject_does_not_start(sim_page):
    with pytest.raises(broadcast.CampaignError, match="2000|1999"):
        broadcast.start(CampaignFactory(page=sim_page, text="x" * 2000))


@pytest.mark.parametrize(
    "zone, now_local, quiet_until_local",
    [
        ("Europe/Paris", datetime(2026, 6, 1, 23, 30), datetime(2026, 6, 2, 8, 0)),
        ("Europe/Paris", datetime(2026, 6, 2, 7, 0), datetime(2026, 6, 2, 8, 0)),
        ("Europe/Paris", datetime(2026, 6, 2, 12, 0), None),
        # the night the clocks go forward: still 08:00 local, one hour fewer in UTC
        ("America/New_York", datetime(2026, 3, 8, 1, 30), datetime(2026, 3, 8, 8, 0)),
        ("America/New_York", datetime(2026, 11, 1, 1, 30), datetime(2026, 11, 1, 8, 0)),
    ],
)
def test_quiet_hours_in_the_subscribers_timezone(sim_page, zone, now_local, quiet_until_local):
    campaign = CampaignFactory(page=sim_page, quiet_hours_start=time(22), quiet_hours_end=time(8))
    subscriber = Subscriber(page=sim_page, psid="1", timezone=zone)
    now = now_local.replace(tzinfo=ZoneInfo(zone))
    until = timing.quiet_until(campaign, subscriber, now)
    if quiet_until_local is None:
        assert until is None
    else:
        assert until == quiet_until_local.replace(tzinfo=ZoneInfo(zone))
        assert until > now


def test_local_time_schedule_sends_at_each_subscribers_own_clock(sim_page, make_subscribers, monkeypatch):
    paris, tokyo = make_subscribers(sim_page, 2)
    Subscriber.objects.filter(pk=paris.pk).update(timezone="Europe/Paris")
    Subscriber.objects.filter(pk=tokyo.pk).update(timezone="Asia/Tokyo")
    monkeypatch.setattr(runner, "launch", lambda *args, **kwargs: None)
    wall = datetime(2030, 5, 1, 10, 0, tzinfo=ZoneInfo("UTC"))  # account timezone is UTC
    campaign = CampaignFactory(page=sim_page, schedule=Campaign.Schedule.LOCAL, send_at=wall)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.DRAFT)
    campaign.refresh_from_db()
    campaign.started_at = None
    campaign.status = Campaign.Status.RUNNING
    campaign.message = {"body": {"text": campaign.text}}
    campaign.save()
    broadcast.freeze(campaign)
    not_before = dict(Delivery.objects.values_list("psid", "not_before"))
    assert not_before[paris.psid] == datetime(2030, 5, 1, 8, 0, tzinfo=ZoneInfo("UTC"))
    assert not_before[tokyo.psid] == datetime(2030, 5, 1, 1, 0, tzinfo=ZoneInfo("UTC"))


def test_plugins_personalise_veto_and_segment(simulator, sim_page, make_subscribers, register_plugin):
    from onesend_plugin.hooks import hookimpl

    alice, bob, carol = make_subscribers(sim_page, 3)
    carol.tags.add("staff")

    class Plugin:
        outcomes = []

        @hookimpl
        def audience_filter(self, queryset):
            return queryset.exclude(tags__name="staff")

        @hookimpl
        def build_message(self, subscriber, message):
            return {**message, "text": f"{message['text']} (for {subscriber.psid})"}

        @hookimpl
        def before_send(self, subscriber):
            return subscriber.pk != bob.pk

        @hookimpl
        def after_send(self, outcomes):
            self.outcomes.extend(row.psid for row, _ in outcomes)

    plugin = register_plugin(Plugin())
    campaign = CampaignFactory(page=sim_page, unsubscribe_quick_reply=False)
    broadcast.start(campaign)
    assert dict(campaign.deliveries.values_list("psid", "state")) == {alice.psid: "sent", bob.psid: "skipped"}
    assert campaign.deliveries.get(psid=bob.psid).reason == "vetoed"
    [message] = [
        m for m in simulator.messages(sim_page.page_id) if m["psid"] == alice.psid and m["type"] == "text"
    ]
    assert message["text"].endswith(f"(for {alice.psid})")
    assert plugin.outcomes == [alice.psid]


def test_a_batch_loads_its_rows_field_by_field_as_saved(simulator, sim_page, make_subscribers):
    """``load_batch`` builds model instances from plain values: each field must get its own."""
    [person] = make_subscribers(sim_page, 1)
    Subscriber.objects.filter(pk=person.pk).update(timezone="Europe/Paris", customer_ref="C-1")
    campaign = CampaignFactory(page=sim_page)
    campaign.message = {"body": {"text": "hi"}}
    Delivery.objects.create(
        campaign=campaign, subscriber=person, page=sim_page, trigger_key="k", reason="r", attempts=2
    )
    claimed_at, ids = broadcast.claim(campaign, 10)
    [row] = ledger.load_batch(claimed_at, ids, sim_page)
    assert (row.subscriber_id, row.trigger_key, row.reason, row.attempts) == (person.pk, "k", "r", 2)
    subscriber = row.subscriber
    assert (subscriber.psid, subscriber.timezone, subscriber.customer_ref) == (
        person.psid,
        "Europe/Paris",
        "C-1",
    )
    assert [t.token for t in subscriber.active_tokens] == [person.tokens.get().token]


def test_a_page_held_longer_than_a_run_waits_gives_its_batch_back(
    simulator, sim_page, make_subscribers, monkeypatch
):
    make_subscribers(sim_page, 3)
    campaign = CampaignFactory(page=sim_page)
    monkeypatch.setattr(runner, "launch", lambda *args, **kwargs: None)
    broadcast.start(campaign)
    ratelimit.hold_page(sim_page, 3600)  # e.g. Meta said: back in an hour
    assert broadcast.run(campaign.pk) == "throttled"
    assert states(campaign) == {"pending": 3}
    assert not campaign.deliveries.filter(claimed_at__isnull=False).exists()
    assert not Subscriber.objects.filter(last_marketing_at__isnull=False).exists()  # cooldowns given back
    assert sends_per_person(simulator, sim_page) == {}
    campaign.refresh_from_db()
    assert campaign.throttled_until > timezone.now()
