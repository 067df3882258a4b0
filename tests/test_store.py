"""Store events and automated flows: one-line tracking, signed endpoints, Shopify, flows that
fire once per event, wait, exit, and respect the frequency cap."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone

import onesend_plugin
from onesend_plugin import broadcast, store
from onesend_plugin.hooks import plugins
from onesend_plugin.models import Campaign, Conversion, StoreEvent
from onesend_plugin.store.views import sign

from .factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def customer(sim_page, make_subscribers):
    [person] = make_subscribers(sim_page, 1, customer_ref="cust-1")
    return person


def flow(page, event="order_placed", **fields):
    campaign = CampaignFactory(
        page=page, trigger_event=event, text="Thanks! 10% off your next order", **fields
    )
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    return campaign


def run_due(campaign):
    broadcast.run(campaign.pk)
    return dict(campaign.deliveries.values_list("psid", "state"))


def test_track_is_one_line_and_idempotent(sim_page, customer):
    first = onesend_plugin.track(
        "order_placed", customer_ref="cust-1", properties={"order_id": "1", "value": 10}, idempotency_key="k1"
    )
    again = onesend_plugin.track(
        "order_placed", customer_ref="cust-1", properties={"order_id": "1", "value": 10}, idempotency_key="k1"
    )
    assert first.pk == again.pk and StoreEvent.objects.count() == 1
    assert StoreEvent.objects.get().state == "processed"
    assert Conversion.objects.get().order_id == "1"


def test_an_order_queues_the_flow_message_after_its_delay(simulator, sim_page, customer, time_machine):
    thanks = flow(sim_page, delay_minutes=3 * 24 * 60)
    plugins.order_placed(order_id="1001", value="59.90", currency="EUR", customer_ref="cust-1")
    row = thanks.deliveries.get()
    assert row.state == "pending" and row.not_before > timezone.now() + timedelta(days=2)
    assert run_due(thanks) == {customer.psid: "pending"}  # not due yet
    time_machine.move_to(timezone.now() + timedelta(days=3, minutes=1))
    assert run_due(thanks) == {customer.psid: "sent"}
    assert [m["psid"] for m in simulator.messages(sim_page.page_id) if m["type"] != "optin"] == [
        customer.psid
    ]
    thanks.refresh_from_db()
    assert thanks.status == Campaign.Status.RUNNING  # a flow stays on, waiting for the next event


def test_the_same_event_twice_sends_once(simulator, sim_page, customer):
    thanks = flow(sim_page)
    for _ in range(3):
        plugins.order_placed(order_id="1001", value="59.90", currency="EUR", customer_ref="cust-1")
    assert thanks.deliveries.count() == 1
    run_due(thanks)
    assert len([m for m in simulator.messages(sim_page.page_id) if m["type"] != "optin"]) == 1


def test_conditions_on_event_properties(sim_page, customer):
    big = flow(sim_page, trigger_conditions=[{"property": "value", "op": ">=", "value": 50}])
    plugins.order_placed(order_id="small", value="20", currency="EUR", customer_ref="cust-1")
    assert not big.deliveries.exists()
    plugins.order_placed(order_id="big", value="75", currency="EUR", customer_ref="cust-1")
    assert big.deliveries.count() == 1


@pytest.mark.parametrize(
    "conditions, props, expected",
    [
        ([], {}, True),
        ([{"property": "value", "op": ">", "value": 10}], {"value": "10.5"}, True),
        ([{"property": "value", "op": ">", "value": 10}], {"value": "abc"}, False),
        ([{"property": "country", "op": "=", "value": "FR"}], {"country": "FR"}, True),
        ([{"property": "items", "op": "contains", "value": "anvil"}], {"items": ["anvil", "seed"]}, True),
        ([{"property": "missing", "op": "=", "value": 1}], {}, False),
        ([{"property": "value", "op": "~", "value": 1}], {"value": 1}, False),
    ],
)
def test_condition_matching(conditions, props, expected):
    assert store.matches(conditions, props) is expected


def test_exit_event_cancels_the_reminder(simulator, sim_page, customer, time_machine):
    reminder = flow(sim_page, event="cart_abandoned", delay_minutes=60, exit_events="order_placed")
    plugins.cart_abandoned(cart_id="c1", value="30", currency="EUR", customer_ref="cust-1")
    time_machine.move_to(timezone.now() + timedelta(minutes=30))
    plugins.order_placed(order_id="2001", value="30", currency="EUR", customer_ref="cust-1")
    time_machine.move_to(timezone.now() + timedelta(minutes=31))
    assert run_due(reminder) == {customer.psid: "skipped"}
    assert reminder.deliveries.get().reason == "exited"
    assert [m for m in simulator.messages(sim_page.page_id) if m["type"] != "optin"] == []


def test_flows_respect_the_cap_shared_with_campaigns(simulator, sim_page, customer):
    broadcast.start(CampaignFactory(page=sim_page))  # the broadcast reaches them first
    thanks = flow(sim_page)
    plugins.order_placed(order_id="3001", value="10", currency="EUR", customer_ref="cust-1")
    assert run_due(thanks) == {customer.psid: "skipped"}
    assert thanks.deliveries.get().reason == "frequency_cap"
    assert len([m for m in simulator.messages(sim_page.page_id) if m["type"] != "optin"]) == 1


def test_local_send_time_waits_for_the_persons_morning(sim_page, customer):
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    customer.timezone = "Asia/Tokyo"
    customer.save()
    morning = CampaignFactory(
        page=sim_page, trigger_event="order_placed", local_send_time=time(10), delay_minutes=0
    )
    occurred = datetime(2030, 1, 1, 12, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert store.send_time(morning, customer, occurred) == datetime(
        2030, 1, 2, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo")
    )


# -- the signed endpoint -------------------------------------------------------------------------


def post_event(client, account, payload, *, secret=None, timestamp=None, headers=None):
    body = json.dumps(payload).encode()
    signature = sign(body, secret or account.events_secret, timestamp)
    return client.post(
        f"/onesend/events/{account.slug}/",
        data=body,
        content_type="application/json",
        **({"HTTP_X_ONESEND_SIGNATURE": signature} if headers is None else headers),
    )


def test_signed_http_events(client, sim_page, customer):
    account = sim_page.account
    payload = {
        "event": "order_placed",
        "customer_ref": "cust-1",
        "properties": {"order_id": "9", "value": "12.5", "currency": "USD"},
        "idempotency_key": "order:9",
    }
    response = post_event(client, account, payload)
    assert response.status_code == 200 and response.json()["event"] == "order_placed"
    assert (
        post_event(client, account, payload).json()["id"] == response.json()["id"]
    )  # a retry is the same event
    assert StoreEvent.objects.count() == 1
    assert Conversion.objects.get().value == 12.5


@pytest.mark.parametrize(
    "kind",
    ["wrong secret", "stale", "future", "missing", "garbled"],
)
def test_forged_or_replayed_events_are_refused(client, sim_page, kind):
    account = sim_page.account
    payload = {"event": "order_placed", "customer_ref": "c", "properties": {}}
    now = int(timezone.now().timestamp())
    options = {
        "wrong secret": {"secret": "nope"},
        "stale": {"timestamp": now - 600},
        "future": {"timestamp": now + 600},
        "missing": {"headers": {}},
        "garbled": {"headers": {"HTTP_X_ONESEND_SIGNATURE": "t=abc,v1=zz"}},
    }[kind]
    assert post_event(client, account, payload, **options).status_code == 403
    assert not StoreEvent.objects.exists()


def test_bad_events_get_a_clear_error(client, sim_page):
    response = post_event(client, sim_page.account, {"customer_ref": "c"})
    assert response.status_code == 400 and "name" in response.json()["error"]


# -- Shopify ----------------------------------------------------------------------------------------

SHOPIFY_ORDER = {
    "id": 820982911946154508,
    "email": "jon@example.com",
    "created_at": "2026-11-20T12:15:47-05:00",
    "currency": "USD",
    "total_price": "598.94",
    "customer": {"id": 115310627314723954, "email": "john@example.com"},
    "line_items": [{"id": 866550311766439020, "title": "IPod Nano - 8GB", "quantity": 1, "price": "199.00"}],
}
SHOPIFY_CHECKOUT = {
    "token": "f9e8d7c6b5a4",
    "created_at": "2026-11-20T12:00:00-05:00",
    "completed_at": None,
    "currency": "USD",
    "total_price": "149.00",
    "abandoned_checkout_url": "https://shop.example.com/checkouts/f9e8",
    "customer": {"id": 115310627314723954},
}


def post_shopify(client, account, topic, payload, secret=None):
    body = json.dumps(payload).encode()
    digest = base64.b64encode(
        hmac.new((secret or account.shopify_secret).encode(), body, hashlib.sha256).digest()
    )
    return client.post(
        f"/onesend/shopify/{account.slug}/",
        data=body,
        content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256=digest.decode(),
        HTTP_X_SHOPIFY_TOPIC=topic,
    )


@pytest.fixture
def shopify_account(sim_page):
    account = sim_page.account
    account.shopify_secret = "shpss_test_secret"
    account.save()
    return account


def test_shopify_orders_and_abandoned_checkouts(client, shopify_account):
    assert post_shopify(client, shopify_account, "orders/create", SHOPIFY_ORDER).status_code == 200
    assert (
        post_shopify(client, shopify_account, "orders/create", SHOPIFY_ORDER).status_code == 200
    )  # Shopify retries
    assert post_shopify(client, shopify_account, "checkouts/update", SHOPIFY_CHECKOUT).status_code == 200
    completed = {**SHOPIFY_CHECKOUT, "token": "done", "completed_at": "2026-11-20T12:30:00-05:00"}
    assert post_shopify(client, shopify_account, "checkouts/update", completed).json() == {
        "ignored": "checkouts/update"
    }
    events = {e.name: e for e in StoreEvent.objects.all()}
    assert set(events) == {"order_placed", "cart_abandoned"}
    assert events["order_placed"].customer_ref == "115310627314723954"
    assert events["order_placed"].properties["value"] == "598.94"
    assert Conversion.objects.get().order_id == "820982911946154508"


def test_shopify_signatures_are_checked(client, shopify_account):
    assert (
        post_shopify(client, shopify_account, "orders/create", SHOPIFY_ORDER, secret="wrong").status_code
        == 401
    )
    assert not StoreEvent.objects.exists()


def test_hooks_and_shopify_share_idempotency(client, shopify_account):
    post_shopify(client, shopify_account, "orders/create", SHOPIFY_ORDER)
    plugins.order_placed(order_id=SHOPIFY_ORDER["id"], value="598.94", currency="USD", customer_ref="x")
    assert StoreEvent.objects.count() == 1


def test_sign_is_still_importable_from_its_first_documented_path():
    from onesend_plugin import store_views
    from onesend_plugin.store import views

    assert store_views.sign is views.sign
