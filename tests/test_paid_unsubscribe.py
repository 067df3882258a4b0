"""A person who unsubscribes from a Page on the paid channel is unsubscribed at Meta too (Meta's
Unsubscribe API), so Meta refuses paid sends to them; legacy-channel Pages make no such call."""

import pytest
from django_q.models import Task
from onesend_simulator.remote import wait_for

from onesend_plugin.messages import UNSUBSCRIBE_PAYLOAD
from onesend_plugin.models import Channel, MessengerPage, Subscriber
from onesend_plugin.subscribe import subscriptions

pytestmark = pytest.mark.django_db(transaction=True)

TASK = "onesend_plugin.tasks.unsubscribe_at_meta"


def subscribed_person(simulator, page) -> str:
    """A person who opened the Page's link and accepted its opt-in request; their PSID."""
    psid = simulator.create_person(page.page_id)["psid"]
    simulator.open_link(psid)
    wait_for(
        lambda: any(i["type"] == "optin" for i in simulator.person(psid)["thread"]), what="the opt-in card"
    )
    simulator.accept_optin(psid)
    wait_for(lambda: Subscriber.objects.filter(psid=psid, status="subscribed").exists(), what="subscription")
    return psid


def tap_unsubscribe_quick_reply(simulator, psid):
    simulator.send_text(psid, "Unsubscribe", quick_reply_payload=UNSUBSCRIBE_PAYLOAD)


def unsubscribe_in_admin(simulator, psid):
    subscriptions.unsubscribe(Subscriber.objects.get(psid=psid), source="admin")


@pytest.mark.parametrize(
    ("unsubscribe", "source"),
    [
        (lambda simulator, psid: simulator.send_text(psid, "STOP"), "keyword"),
        (tap_unsubscribe_quick_reply, "quick_reply"),
        (lambda simulator, psid: simulator.tap(psid, UNSUBSCRIBE_PAYLOAD), "unsubscribe_button"),
        (lambda simulator, psid: simulator.stop_notifications(psid), "meta_control"),
        (unsubscribe_in_admin, "admin"),
    ],
    ids=["STOP", "quick reply", "button", "Meta's stop", "admin"],
)
def test_an_unsubscribe_on_a_paid_page_unsubscribes_at_meta(simulator, connected_page, unsubscribe, source):
    MessengerPage.objects.filter(pk=connected_page.pk).update(channel=Channel.MARKETING_API)
    psid = subscribed_person(simulator, connected_page)

    unsubscribe(simulator, psid)
    wait_for(lambda: Task.objects.filter(func=TASK).exists(), what="the call to Meta")
    simulator.wait_webhooks_drained()  # the confirmation's receipts: nothing writes at teardown
    assert Subscriber.objects.get(psid=psid).consent_records.filter(entry_point=source).exists()
    assert [t["stopped"] for t in simulator.person(psid)["tokens"]] == [True]
    assert Task.objects.get(func=TASK).result == 0  # Meta knew the person: no invalid row


def test_a_legacy_channel_page_makes_no_call(simulator, connected_page):
    psid = subscribed_person(simulator, connected_page)
    simulator.send_text(psid, "STOP")
    wait_for(lambda: Subscriber.objects.get(psid=psid).status == "unsubscribed", what="the unsubscribe")
    simulator.wait_webhooks_drained()
    assert not Task.objects.filter(func=TASK).exists()
    assert [t["stopped"] for t in simulator.person(psid)["tokens"]] == [False]


def test_a_failed_call_to_meta_is_logged_and_keeps_the_unsubscribe(simulator, connected_page, caplog):
    MessengerPage.objects.filter(pk=connected_page.pk).update(channel=Channel.MARKETING_API)
    psid = subscribed_person(simulator, connected_page)
    simulator.revoke_token(connected_page.access_token)

    simulator.send_text(psid, "STOP")
    wait_for(lambda: Task.objects.filter(func=TASK).exists(), what="the call to Meta")
    simulator.wait_webhooks_drained()  # the confirmation's receipts: nothing writes at teardown
    assert Subscriber.objects.get(psid=psid).status == "unsubscribed"
    assert any("at Meta failed" in record.getMessage() for record in caplog.records)
