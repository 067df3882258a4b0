"""The paid channel's receipts (``marketing_message_*`` webhooks) as Meta redelivers them: each
POST several times and in any order (Webhooks: "Meta retries; the receiver must de-duplicate").
Every field comes in both envelopes Meta might use (its pages document none). The bodies are the
simulator's own, signed by it; the test replays them to the site over HTTP."""

import random
from collections import Counter
from datetime import timedelta

import pytest
import requests

from onesend_plugin import analytics, broadcast
from onesend_plugin.broadcast.ledger import mark_sent
from onesend_plugin.messenger.events import PAID_KINDS
from onesend_plugin.models import CampaignButton, Delivery, WebhookDelivery, WebhookEvent

from .factories import CampaignFactory
from .simulator.helpers import WebhookReceiver

pytestmark = pytest.mark.django_db(transaction=True)

#: Times each POST reaches the site.
REPLAYS = 3


@pytest.fixture
def receiver():
    """Stands in for the site while the simulator emits: keeps each signed POST to replay it."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def paid_field(body: dict) -> str:
    """The ``marketing_message_*`` field of a one-event POST, in either envelope (the delivery
    failure's flat sample has no ``field``)."""
    [entry] = body["entry"]
    [item] = entry.get("changes") or entry["messaging"]
    return item.get("field", "marketing_message_delivery_failed")


def post_to_site(live_server, app_id: str, posts: list) -> None:
    """Replay the simulator's signed POSTs to the site, as Meta would have sent them."""
    url = f"{live_server.url}/onesend/webhook/{app_id}/"
    for headers, body in posts:
        signature = {k: v for k, v in headers.items() if k.lower() in ("content-type", "x-hub-signature-256")}
        assert requests.post(url, data=body, headers=signature, timeout=30).status_code == 200


def replayed(posts: list, newest_first: bool) -> list:
    """Each POST ``REPLAYS`` times: first all of them, newest first (a read before its delivery,
    a click or a failure before the echo) or as sent (the failure after the delivery), then the
    other copies shuffled."""
    first = list(reversed(posts) if newest_first else posts)
    return [*first, *random.Random(len(posts)).sample(posts * (REPLAYS - 1), len(posts) * (REPLAYS - 1))]


@pytest.mark.parametrize("newest_first", [True, False], ids=["newest-first", "as-sent"])
@pytest.mark.parametrize("envelope", ["changes", "messaging"])
def test_every_paid_receipt_replayed_and_reordered_counts_once(
    simulator, live_server, paid_page, make_subscribers, receiver, envelope, newest_first
):
    clicker, reader, receiver_only, dropped = people = make_subscribers(paid_page, 4)
    simulator.create_page(
        page_id=paid_page.page_id, app_id=paid_page.app.app_id, subscribed_fields=list(PAID_KINDS)
    )
    simulator.configure(
        webhook_url=receiver.url, app_secret=paid_page.app.app_secret, paid_webhook_envelope=envelope
    )
    campaign = CampaignFactory(page=paid_page)
    CampaignButton.objects.create(campaign=campaign, title="Shop", url="https://shop.example/sale")
    broadcast.start(campaign)
    for person in (clicker, reader):
        simulator.read(person.psid)
    simulator.click_paid(clicker.psid)
    simulator.fail_paid_delivery(dropped.psid, "Unknown Error")
    simulator.wait_webhooks_drained()

    posts = [(headers, body) for headers, body in receiver.posts]
    fields = Counter(paid_field(body) for body in receiver.bodies())
    assert fields == {
        "marketing_message_echoes": 4,
        "marketing_message_deliveries": 4,
        "marketing_message_reads": 2,
        "marketing_message_clicks": 1,
        "marketing_message_delivery_failed": 1,
    }
    post_to_site(live_server, paid_page.app.app_id, replayed(posts, newest_first))

    assert WebhookDelivery.objects.count() == len(posts) * REPLAYS
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"processed"}
    assert Counter(WebhookEvent.objects.values_list("kind", "state")) == {
        ("paid_sent", "processed"): 4,
        ("paid_delivery", "processed"): 4,
        ("paid_read", "processed"): 2,
        ("paid_click", "processed"): 1,
        ("paid_failed", "processed"): 1,
    }
    rows = {
        row.psid: (row.state, row.reason, bool(row.delivered_at), bool(row.read_at), bool(row.clicked_at))
        for row in campaign.deliveries.all()
    }
    assert rows == {
        clicker.psid: ("sent", "", True, True, True),
        reader.psid: ("sent", "", True, True, False),
        receiver_only.psid: ("sent", "", True, False, False),
        dropped.psid: ("failed", "undelivered", False, False, False),
    }
    counters = analytics.stats(campaign)
    assert {name: counters.get(name, 0) for name in ("sent", "delivered", "read", "unique_clicks")} == {
        "sent": 3,
        "delivered": 3,
        "read": 2,
        "unique_clicks": 1,
    }
    assert counters["failed:undelivered"] == 1
    assert len(people) == campaign.deliveries.count()


@pytest.mark.parametrize("paid", [False, True], ids=["token", "paid"])
def test_a_receipt_that_comes_before_metas_answer_is_recorded_counts(
    simulator, live_server, sim_page, make_subscribers, receiver, request, paid
):
    """Meta sends the delivery webhook as it delivers: a worker may apply it while the sending
    worker still waits for Meta's answer, its row still ``sending``. The receipt must count all
    the same, and recording the answer must keep it."""
    page = request.getfixturevalue("paid_page") if paid else sim_page
    make_subscribers(page, 3)
    fields = list(PAID_KINDS) if paid else ["messages", "message_deliveries", "message_reads"]
    simulator.create_page(page_id=page.page_id, app_id=page.app.app_id, subscribed_fields=fields)
    simulator.configure(webhook_url=receiver.url, app_secret=page.app.app_secret, read_probability=0)
    campaign = CampaignFactory(page=page)
    broadcast.start(campaign)
    simulator.wait_webhooks_drained()
    answered = list(campaign.deliveries.filter(state=Delivery.State.SENT))
    assert len(answered) == 3
    # Back to what the sending worker had written before Meta answered: the attempt's start.
    for row in answered:
        Delivery.objects.filter(pk=row.pk).update(
            state=Delivery.State.SENDING, message_id="", sent_at=row.sent_at - timedelta(seconds=2)
        )
    post_to_site(live_server, page.app.app_id, receiver.posts)
    assert Counter(WebhookEvent.objects.values_list("state", flat=True)) == {"processed": len(receiver.posts)}

    assert mark_sent(answered[0].claimed_at, answered, answered[0].sent_at) == 3
    assert campaign.deliveries.filter(state="sent", delivered_at__isnull=False).count() == 3
    assert analytics.stats(campaign).get("delivered") == 3
