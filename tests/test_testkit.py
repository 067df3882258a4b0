"""The test kit plugin authors get (onesend_plugin.testing): its fixtures run a plugin's hooks in
a real broadcast against the simulator, with people subscribed through the real opt-in flow, and
report store events processed, listeners included. Loaded through its pytest11 entry point."""

import re
from pathlib import Path

import pytest

from onesend_plugin.hooks import hookimpl
from onesend_plugin.models import ConsentRecord, Conversion
from onesend_plugin.testing import pytest_plugin
from onesend_plugin.testing.pytest_plugin import Outcome


class Greeting:
    """Prefixes each text with the customer's reference; vetoes the customer "zoe"."""

    @hookimpl
    def build_message(self, subscriber, message):
        if subscriber.customer_ref and "text" in message:
            return {**message, "text": f"{subscriber.customer_ref}, {message['text']}"}
        return None

    @hookimpl
    def before_send(self, subscriber):
        return subscriber.customer_ref != "zoe"


def test_the_kit_is_a_pytest_plugin_that_touches_nothing_unless_asked(pytestconfig):
    assert pytestconfig.pluginmanager.get_plugin("onesend") is pytest_plugin  # the entry point
    source = Path(pytest_plugin.__file__).read_text()
    fixtures = re.findall(r"^@pytest\.fixture(.*)\ndef (\w+)\(", source, re.M)
    assert len(fixtures) == 7
    assert [name for args, name in fixtures if not name.startswith("onesend_") or "autouse" in args] == []


def test_people_subscribe_through_the_opt_in_flow(onesend_subscribe, onesend_register, simulator):
    opted_in = []

    class Spy:
        @hookimpl
        def subscriber_opted_in(self, subscriber, source, customer_ref):
            opted_in.append((subscriber.psid, source, customer_ref))

    onesend_register(Spy())
    ann = onesend_subscribe(customer_ref="ann", tags=["vip"], source="footer")
    assert (ann.status, ann.customer_ref, sorted(ann.tags.names())) == ("subscribed", "ann", ["vip"])
    assert ann.tokens.exists()
    assert ConsentRecord.objects.filter(subscriber=ann, action="opted_in", entry_point="footer").exists()
    assert opted_in == [(ann.psid, "footer", "ann")]
    assert "Welcome" in simulator.messages(psid=ann.psid)[-1]["text"]


def test_a_sent_campaign_gives_each_persons_outcome_and_thread(
    onesend_subscribe, onesend_register, onesend_send
):
    ann, zoe, anon = (
        onesend_subscribe(customer_ref="ann"),
        onesend_subscribe(customer_ref="zoe"),
        onesend_subscribe(),
    )
    onesend_register(Greeting(), name="greeting")
    sent = onesend_send("Sale today")
    assert sent.campaign.status == "finished"
    assert sent.outcomes == {
        ann.psid: Outcome("sent"),
        zoe.psid: Outcome("skipped", "vetoed"),
        anon.psid: Outcome("sent"),
    }
    assert set(sent.threads) == {ann.psid, anon.psid}  # the welcome is not part of it
    assert [m["text"] for m in sent.threads[ann.psid]] == ["ann, Sale today"]
    assert [m["text"] for m in sent.threads[anon.psid]] == ["Sale today"]


def test_campaign_fields_choose_the_audience(onesend_subscribe, onesend_send):
    vip = onesend_subscribe(tags=["vip"])
    onesend_subscribe()
    sent = onesend_send("Just for you", buttons=[("Shop", "https://shop.example/")], include_tags="vip")
    assert list(sent.outcomes) == [vip.psid]
    assert list(onesend_send("Again", include_tags=["vip", "gold"]).outcomes) == [vip.psid]
    [message] = sent.threads[vip.psid]
    assert (message["type"], message["text"]) == ("button", "Just for you")
    assert [button["title"] for button in message["buttons"]] == ["Shop"]


def test_a_failing_plugin_shows_in_the_outcomes(onesend_subscribe, onesend_register, onesend_send):
    class Broken:
        @hookimpl
        def build_message(self):
            raise ValueError("no first name")

    ann = onesend_subscribe()
    onesend_register(Broken())  # named after its class
    sent = onesend_send()
    outcome = sent.outcomes[ann.psid]
    assert (outcome.state, outcome.reason) == ("failed", "plugin_error")
    assert "'Broken'" in outcome.error and "no first name" in outcome.error
    assert sent.threads == {}


@pytest.mark.django_db
def test_a_tracked_event_is_processed_and_heard_by_listeners(onesend_track, onesend_register):
    orders = []

    class Crm:
        @hookimpl
        def order_placed(self, order_id, value, customer_ref):
            orders.append((order_id, str(value), customer_ref))

    onesend_register(Crm())
    event = onesend_track(
        "order_placed",
        customer_ref="c-42",
        properties={"order_id": "1001", "value": "59.90", "currency": "EUR"},
        idempotency_key="order:1001",
    )
    assert (event.state, event.listener_errors) == ("processed", "")
    assert orders == [("1001", "59.90", "c-42")]


@pytest.mark.django_db
def test_a_signed_post_is_processed_when_it_returns(onesend_post, onesend_account):
    url = f"/onesend/events/{onesend_account.slug}/"
    order = {"event": "order_placed", "customer_ref": "c-42", "idempotency_key": "order:1002"}
    order["properties"] = {"order_id": "1002", "value": "10.00", "currency": "EUR"}
    assert onesend_post(url, order, secret="forged").status_code == 403
    assert onesend_post(url, order).status_code < 300
    assert Conversion.objects.get().order_id == "1002"  # processed in a plain db test
