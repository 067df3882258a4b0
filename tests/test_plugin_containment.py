"""A plugin that raises is contained: the recipient it failed for is recorded as failed with the
plugin's name, everyone else is sent once, and the campaign finishes (or never starts)."""

import logging
from collections import Counter

import pytest

from onesend_plugin import broadcast
from onesend_plugin.hooks import PluginError, hookimpl, plugins
from onesend_plugin.models import Campaign, CampaignButton, Delivery

from .factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/messenger/campaigns/"


def sends_per_person(simulator, page):
    return Counter(m["psid"] for m in simulator.messages(page.page_id) if m.get("type") != "optin")


class BrokenBuild:
    def __init__(self, victim):
        self.victim = victim

    @hookimpl
    def build_message(self, subscriber):
        if subscriber.pk == self.victim.pk:
            raise ValueError("no first name")


class BrokenVeto(BrokenBuild):
    @hookimpl
    def before_send(self, subscriber):
        if subscriber.pk == self.victim.pk:
            raise ValueError("no first name")


@pytest.mark.parametrize("plugin_class", [BrokenBuild, BrokenVeto])
def test_a_plugin_failing_for_one_recipient_fails_that_row_only(
    simulator, sim_page, make_subscribers, register_plugin, plugin_class, caplog
):
    victim, *others = make_subscribers(sim_page, 4)
    register_plugin(plugin_class(victim), name="greeting")
    campaign = CampaignFactory(page=sim_page)
    with caplog.at_level(logging.ERROR):
        broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED
    row = campaign.deliveries.get(subscriber=victim)
    assert (row.state, row.reason) == ("failed", "plugin_error")
    assert "'greeting'" in row.error and "no first name" in row.error
    assert sends_per_person(simulator, sim_page) == {p.psid: 1 for p in others}
    assert not campaign.deliveries.filter(state__in=broadcast.OPEN_STATES).exists()
    assert "'greeting'" in campaign.last_error
    assert broadcast.progress(campaign)["failed"] == {"A plugin failed": 1}
    tracebacks = [r for r in caplog.records if r.exc_info and "no first name" in r.getMessage()]
    assert len(tracebacks) == 1
    broadcast.run(campaign.pk)  # again: nothing is sent twice
    assert sends_per_person(simulator, sim_page) == {p.psid: 1 for p in others}


@pytest.mark.parametrize(
    "returned, problem",
    [
        ("Hi Ann", "returned a str, not a message"),
        ([{"text": "Hi Ann"}], "returned a list, not a message"),
        ({}, "returned a dict with neither 'text' nor 'attachment'"),
        ({"quick_replies": []}, "returned a dict with neither 'text' nor 'attachment'"),
    ],
    ids=["str", "list", "empty dict", "no content"],
)
def test_a_build_message_returning_no_message_fails_that_row_naming_the_plugin(
    simulator, sim_page, make_subscribers, register_plugin, returned, problem
):
    victim, *others = make_subscribers(sim_page, 3)

    class Garbage:
        @hookimpl
        def build_message(self, subscriber):
            if subscriber.pk == victim.pk:
                return returned

    class Reader:
        @hookimpl
        def before_send(self, message):
            assert message["text"]

    register_plugin(Reader(), name="reader")
    register_plugin(Garbage(), name="garbage")
    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    row = campaign.deliveries.get(subscriber=victim)
    assert (row.state, row.reason) == ("failed", "plugin_error")
    assert "The plugin 'garbage' failed in build_message" in row.error and problem in row.error
    assert sends_per_person(simulator, sim_page) == {p.psid: 1 for p in others}


@pytest.mark.parametrize(
    "returned", [{"attachment": "image"}, {"attachment": {"type": "template", "payload": {"buttons": [1]}}}]
)
def test_a_malformed_message_fails_its_row_before_onesend_reads_it(
    simulator, sim_page, make_subscribers, register_plugin, returned
):
    victim, *others = make_subscribers(sim_page, 3)

    class Malformed:
        @hookimpl
        def build_message(self, subscriber):
            return returned if subscriber.pk == victim.pk else None

    register_plugin(Malformed(), name="malformed")
    campaign = CampaignFactory(page=sim_page)
    CampaignButton.objects.create(campaign=campaign, title="Shop", url="https://shop.example.com/")
    broadcast.start(campaign)  # the buttons' links are tracked: every message's are rewritten
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED
    row = campaign.deliveries.get(subscriber=victim)
    assert (row.state, row.reason) == ("failed", "plugin_error")
    assert "'malformed' failed in build_message" in row.error and "malformed message" in row.error
    assert sends_per_person(simulator, sim_page) == {p.psid: 1 for p in others}


def test_a_message_meta_refuses_fails_its_row_with_metas_message(
    simulator, sim_page, make_subscribers, register_plugin
):
    victim, other = make_subscribers(sim_page, 2)

    class Both:
        @hookimpl
        def build_message(self, subscriber):
            if subscriber.pk == victim.pk:
                return {
                    "text": "Hi",
                    "attachment": {"type": "file", "payload": {"url": "https://x.example/"}},
                }

    register_plugin(Both(), name="both")
    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    row = campaign.deliveries.get(subscriber=victim)
    assert (row.state, row.reason) == ("failed", "error_100")
    assert "exactly one of text or attachment" in row.error and "code=100" in row.error
    assert campaign.deliveries.get(subscriber=other).error == ""


SIZES = {"content_type": "text", "title": "Sizes", "payload": "SIZES"}
UNSUBSCRIBE = {"content_type": "text", "title": "Unsubscribe", "payload": "ONESEND_UNSUBSCRIBE"}


@pytest.mark.parametrize("unsubscribe_quick_reply", [True, False])
def test_the_unsubscribe_quick_reply_is_on_every_message_whatever_plugins_make_of_it(
    simulator, sim_page, make_subscribers, register_plugin, unsubscribe_quick_reply
):
    fresh, added, twice, removed = make_subscribers(sim_page, 4)
    built = {
        fresh.pk: {"text": "brand new"},
        added.pk: {"text": "sizes?", "quick_replies": [SIZES]},
        twice.pk: {"text": "twice", "quick_replies": [UNSUBSCRIBE, SIZES, {**UNSUBSCRIBE, "title": "Stay"}]},
    }

    class Rebuild:
        @hookimpl
        def build_message(self, subscriber):
            return built.get(subscriber.pk)

        @hookimpl
        def before_send(self, subscriber, message):
            if subscriber.pk == removed.pk:
                message.pop("quick_replies", None)

    register_plugin(Rebuild(), name="rebuild")
    campaign = CampaignFactory(page=sim_page, unsubscribe_quick_reply=unsubscribe_quick_reply)
    broadcast.start(campaign)
    sent = [m for m in simulator.messages(sim_page.page_id) if m.get("type") != "optin"]
    replies = {m["psid"]: m.get("quick_replies", []) for m in sent}
    unsubscribe = [UNSUBSCRIBE] if unsubscribe_quick_reply else []
    assert replies == {
        fresh.psid: unsubscribe,
        added.psid: [SIZES, *unsubscribe],
        twice.psid: [SIZES, *unsubscribe] if unsubscribe_quick_reply else built[twice.pk]["quick_replies"],
        removed.psid: unsubscribe,
    }


def test_after_send_sees_saved_outcomes_and_its_failure_changes_none(
    simulator, sim_page, make_subscribers, register_plugin
):
    people = make_subscribers(sim_page, 3)
    seen = []

    class Broken:
        @hookimpl
        def after_send(self, outcomes):
            seen.extend(Delivery.objects.filter(pk__in=[row.pk for row, _ in outcomes]).values_list("state"))
            raise RuntimeError("CRM is down")

    register_plugin(Broken(), name="crm")
    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert seen == [("sent",)] * 3  # committed before the hook ran
    assert campaign.status == Campaign.Status.FINISHED
    assert set(campaign.deliveries.values_list("state", flat=True)) == {"sent"}
    assert "'crm'" in campaign.last_error and "CRM is down" in campaign.last_error
    assert broadcast.retry_unknown(campaign) == 0
    assert sends_per_person(simulator, sim_page) == {p.psid: 1 for p in people}


def test_a_failing_audience_filter_refuses_to_start(sim_page, make_subscribers, register_plugin):
    make_subscribers(sim_page, 2)

    class Broken:
        @hookimpl
        def audience_filter(self, queryset):
            raise LookupError("segment table missing")

    register_plugin(Broken(), name="segments")
    campaign = CampaignFactory(page=sim_page)
    with pytest.raises(broadcast.CampaignError, match="'segments'.*segment table missing"):
        broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not campaign.deliveries.exists()


def test_an_audience_filter_failing_once_started_puts_the_campaign_back_to_draft(
    simulator, sim_page, make_subscribers, register_plugin
):
    make_subscribers(sim_page, 2)

    class FailsSecondTime:
        calls = 0

        @hookimpl
        def audience_filter(self, queryset):
            self.calls += 1
            if self.calls > 1:
                raise LookupError("segment table missing")

    register_plugin(FailsSecondTime(), name="segments")
    campaign = CampaignFactory(page=sim_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert "'segments'" in campaign.last_error and "not started" in campaign.last_error
    assert not campaign.deliveries.exists()
    assert sends_per_person(simulator, sim_page) == {}


def test_the_admin_shows_a_failing_audience_filter(admin_client, sim_page, register_plugin):
    class Broken:
        @hookimpl
        def audience_filter(self, queryset):
            raise LookupError("segment table missing")

    register_plugin(Broken(), name="segments")
    campaign = CampaignFactory(page=sim_page)
    html = admin_client.get(f"{URL}send/{campaign.pk}/").content.decode()
    assert "segments" in html and "segment table missing" in html
    response = admin_client.post(f"{URL}send/{campaign.pk}/", follow=True)
    [message] = [str(m) for m in response.context["messages"]]
    assert "segments" in message and "not started" in message
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_a_plugin_changing_the_message_in_place_changes_its_recipients_only(
    simulator, sim_page, make_subscribers, register_plugin
):
    victim, *others = make_subscribers(sim_page, 3)

    class Retitle:
        @hookimpl
        def build_message(self, subscriber, message):
            if subscriber.pk == victim.pk:
                message["attachment"]["payload"]["buttons"][0]["title"] = "Just for you"

    register_plugin(Retitle(), name="retitle")
    campaign = CampaignFactory(page=sim_page)
    CampaignButton.objects.create(campaign=campaign, title="Shop now", url="https://shop.example.com/")
    broadcast.start(campaign)
    titles = {
        m["psid"]: m["buttons"][0]["title"]
        for m in simulator.messages(sim_page.page_id)
        if m.get("type") == "button"
    }
    assert titles == {victim.psid: "Just for you", **{p.psid: "Shop now" for p in others}}


def test_the_error_rate_pause_names_the_plugin_and_counts_the_whole_batch(
    simulator, sim_page, make_subscribers, register_plugin, settings, caplog
):
    settings.ONESEND = {**settings.ONESEND, "ERROR_RATE_MIN_SAMPLE": 4}
    lucky, *people = make_subscribers(sim_page, 5)

    class Broken:
        @hookimpl
        def build_message(self, subscriber):
            if subscriber.pk != lucky.pk:
                raise ValueError("no first name")

    register_plugin(Broken(), name="greeting")
    campaign = CampaignFactory(page=sim_page)
    with caplog.at_level(logging.WARNING):
        broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.last_error.startswith("Paused automatically: 4 of 5 messages failed.")
    assert "the plugin 'greeting'" in campaign.last_error
    assert Counter(campaign.deliveries.values_list("state", flat=True)) == {"failed": 4, "sent": 1}
    logged = [r.getMessage() for r in caplog.records if "Paused automatically" in r.getMessage()]
    assert logged == [f"Campaign {campaign.pk}: {campaign.last_error}"]
    assert not campaign.deliveries.filter(state__in=("claimed", "sending")).exists()


def test_contained_calls_keep_pluggys_order_and_name_the_failing_plugin(register_plugin):
    class Answer:
        def __init__(self, text):
            self.text = text

        @hookimpl
        def build_message(self):
            return {"text": self.text}

        @hookimpl
        def before_send(self):
            if self.text == "broken":
                raise ValueError(self.text)
            return False

    register_plugin(Answer("older"), name="older")
    register_plugin(Answer("newer"), name="newer")
    assert plugins.call_contained("build_message", campaign=None, subscriber=None, message={}) == {
        "text": "newer"
    }
    register_plugin(Answer("broken"), name="broken")
    with pytest.raises(PluginError) as raised:
        plugins.call_contained("before_send", campaign=None, subscriber=None, message={})
    assert (raised.value.plugin, raised.value.hook) == ("broken", "before_send")
    assert isinstance(raised.value.__cause__, ValueError)
