"""Store events that can't hurt: attributed only inside their own account, counted once however
often they are sent, refused with the field named when the database or the worker couldn't take
them, and marked failed (never left pending) when processing them fails anyway.

Run on both databases: PostgreSQL enforces column lengths and refuses NUL, SQLite does neither."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from onesend_plugin import analytics, store
from onesend_plugin.models import CampaignStat, Click, Conversion, Delivery, StoreEvent
from onesend_plugin.store.views import sign

from .factories import AccountFactory, CampaignFactory, MessengerPageFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def post_event(client, django_capture_on_commit_callbacks):
    """POST a signed store event; its processing (a task queued on commit) runs before this
    returns."""

    def post(account, payload, *, timestamp=None, **headers):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/onesend/events/{account.slug}/",
                data=body,
                content_type="application/json",
                HTTP_X_ONESEND_SIGNATURE=sign(body, account.events_secret, timestamp),
                **headers,
            )

    return post


@pytest.fixture
def bloom(db):
    return AccountFactory(name="Bloom", slug="bloom", shopify_secret="shpss_bloom")


@pytest.fixture
def acme(db):
    return AccountFactory(name="Acme", slug="acme", shopify_secret="shpss_acme")


def post_shopify(client, account, body: bytes, topic="orders/create"):
    digest = base64.b64encode(hmac.new(account.shopify_secret.encode(), body, hashlib.sha256).digest())
    return client.post(
        f"/onesend/shopify/{account.slug}/",
        data=body,
        content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256=digest.decode(),
        HTTP_X_SHOPIFY_TOPIC=topic,
    )


def order(order_id="1001", customer_ref="c-7", **properties):
    return {
        "event": "order_placed",
        "customer_ref": customer_ref,
        "properties": {"order_id": order_id, "value": "25.00", "currency": "EUR", **properties},
    }


def clicked_campaign(account, customer_ref):
    """A campaign of ``account`` whose link the customer clicked an hour ago."""
    page = MessengerPageFactory(account=account)
    subscriber = SubscriberFactory(page=page, customer_ref=customer_ref)
    campaign = CampaignFactory(page=page)
    at = timezone.now() - timedelta(hours=1)
    delivery = Delivery.objects.create(
        campaign=campaign, subscriber=subscriber, page=page, psid=subscriber.psid, state="sent", sent_at=at
    )
    Click.objects.create(delivery=delivery, campaign=campaign, subscriber=subscriber, button=0, at=at)
    return campaign


# -- case 2: an order counts only in its own account -----------------------------------------------


def test_an_order_is_never_credited_to_another_accounts_campaign(post_event, bloom, acme):
    acme_campaign = clicked_campaign(acme, "c-7")  # Acme's customer c-7 clicked Acme's campaign
    assert post_event(bloom, order()).status_code == 200  # Bloom's shop: its own c-7
    conversion = Conversion.objects.get()
    assert conversion.account == bloom
    assert (conversion.campaign, conversion.subscriber, conversion.via) == (None, None, "")
    assert not CampaignStat.objects.filter(campaign=acme_campaign).exists()

    # the same order on Acme's own endpoint is Acme's revenue
    assert post_event(acme, order()).status_code == 200
    conversion = Conversion.objects.get(account=acme)
    assert (conversion.campaign, conversion.via) == (acme_campaign, "click")


def test_record_conversion_needs_the_account_and_its_own_subscriber(bloom, acme):
    subscriber = SubscriberFactory(page=MessengerPageFactory(account=acme), customer_ref="c-7")
    with pytest.raises(TypeError):
        analytics.record_conversion(order_id="1", value="1", currency="EUR", customer_ref="c-7")
    with pytest.raises(ValueError, match="not of account"):
        analytics.record_conversion(
            account=bloom, order_id="1", value="1", currency="EUR", subscriber=subscriber
        )
    assert not Conversion.objects.exists()


# -- case 5: replays count once ----------------------------------------------------------------------


def test_five_copies_of_one_order_count_once(post_event, acme):
    campaign = clicked_campaign(acme, "c-7")
    payload = json.dumps(order(order_id=None)).encode()  # no order id, no idempotency key
    now = int(timezone.now().timestamp())
    # a captured request replayed as is, and client retries signed anew
    answers = [post_event(acme, payload, timestamp=now - seconds) for seconds in (0, 0, 0, 10, 20)]
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.json()["id"] for answer in answers}) == 1
    event = StoreEvent.objects.get()
    assert event.idempotency_key == f"body:{hashlib.sha256(payload).hexdigest()}"
    assert Conversion.objects.count() == 1
    assert CampaignStat.objects.get(campaign=campaign, name="conversions").value == 1


def test_events_that_differ_are_different_events(post_event, acme):
    assert post_event(acme, order("1001")).status_code == 200
    assert post_event(acme, order("1002")).status_code == 200
    assert Conversion.objects.count() == 2


# -- case 6: order ids are the shop's own --------------------------------------------------------------


def test_the_same_order_id_in_two_accounts_is_two_orders(post_event, bloom, acme):
    assert post_event(bloom, order("1001", customer_ref="b-1")).status_code == 200
    assert post_event(acme, order("1001", customer_ref="a-1")).status_code == 200
    assert set(Conversion.objects.values_list("account__slug", "order_id", "customer_ref")) == {
        ("bloom", "1001", "b-1"),
        ("acme", "1001", "a-1"),
    }
    assert set(StoreEvent.objects.values_list("state", flat=True)) == {"processed"}


# -- cases 11 and 12: bad input is a 400 naming the field, before anything is stored -------------------


@pytest.mark.parametrize(
    "payload, field",
    [
        ({**order(), "properties": ["order_id", "1001"]}, "properties"),
        ({**order(), "properties": "1001"}, "properties"),
        (order("9" * 256), "order_id"),
        ({**order(), "event": "e" * 51}, "name"),
        (order(customer_ref="c" * 256), "customer_ref"),
        ({**order(), "idempotency_key": "k" * 256}, "idempotency_key"),
        (order(value="lots"), "value"),
        (order(value="1e20"), "value"),
        (order(currency="EURO"), "currency"),
    ],
    ids=[
        "properties-list",
        "properties-string",
        "long-order-id",
        "long-event-name",
        "long-customer-ref",
        "long-key",
        "value-not-a-number",
        "value-too-large",
        "currency-too-long",
    ],
)
def test_bad_events_are_refused_with_the_field_named(post_event, acme, payload, field):
    response = post_event(acme, payload)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]
    assert not StoreEvent.objects.exists()


def test_nul_characters_are_replaced_over_http_and_refused_from_python(post_event, acme):
    assert post_event(acme, order(customer_ref="c\u00007", note="a\u0000b")).status_code == 200
    event = StoreEvent.objects.get()
    assert (event.customer_ref, event.properties["note"]) == ("c\ufffd7", "a\ufffdb")
    with pytest.raises(store.StoreEventError, match="customer_ref: must not contain a NUL"):
        store.track("x", customer_ref="c\x007", account=acme)


def test_a_nul_in_the_idempotency_key_header_is_replaced_like_the_bodys(post_event, acme):
    assert post_event(acme, order(), HTTP_IDEMPOTENCY_KEY="k\x001").status_code == 200
    assert StoreEvent.objects.get().idempotency_key == "k\ufffd1"
    assert post_event(acme, order(), HTTP_IDEMPOTENCY_KEY="k\x001").status_code == 200  # the same
    assert StoreEvent.objects.count() == 1


def deep(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def test_deeply_nested_json_is_refused_on_both_endpoints(post_event, client, acme):
    answer = post_event(acme, deep(100_000))  # too deep for the parser
    assert answer.status_code == 400 and "nested deeper" in answer.json()["error"]
    answer = post_event(acme, b'{"event":"x","customer_ref":"c","properties":' + deep(60) + b"}")
    assert answer.status_code == 400 and "properties: nested deeper" in answer.json()["error"]

    answer = post_shopify(client, acme, deep(100_000))
    assert answer.status_code == 400 and "nested deeper" in answer.json()["error"]
    items = b'[{"title":' + deep(60) + b"}]"
    body = b'{"id":1,"total_price":"1","customer":{"id":5},"line_items":' + items + b"}"
    answer = post_shopify(client, acme, body)
    assert answer.status_code == 400 and "properties: nested deeper" in answer.json()["error"]
    assert not StoreEvent.objects.exists()


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_moment_outside_utcs_years_is_refused_on_both_endpoints(post_event, client, acme, moment):
    """A valid ISO timestamp that is before year 1 or after 9999 in UTC was a 500 (OverflowError)."""
    answer = post_event(acme, {**order(), "occurred_at": moment})
    assert answer.status_code == 400 and "occurred_at" in answer.json()["error"]
    body = json.dumps({"id": 1, "total_price": "1", "customer": {"id": 5}, "created_at": moment}).encode()
    answer = post_shopify(client, acme, body)
    assert answer.status_code == 400 and "occurred_at" in answer.json()["error"]
    assert not StoreEvent.objects.exists()


def test_a_too_long_shopify_order_id_is_refused(client, acme):
    body = json.dumps({"id": "9" * 256, "total_price": "1", "customer": {"id": 5}}).encode()
    answer = post_shopify(client, acme, body)
    assert answer.status_code == 400 and "order_id" in answer.json()["error"]
    assert not StoreEvent.objects.exists()


# -- case 12: a failure in the worker is visible, and can be run again -----------------------------------


def stuck_event(account, **properties):
    """An event stored before the endpoint checked it (as older versions accepted them)."""
    return StoreEvent.objects.create(
        account=account,
        name="order_placed",
        customer_ref="c-7",
        properties={"order_id": "1001", "value": "25", **properties},
        idempotency_key="order:1001",
    )


def test_a_failing_event_is_marked_failed_with_its_error_and_rolled_back(acme, monkeypatch):
    flow = CampaignFactory(page=MessengerPageFactory(account=acme), trigger_event="order_placed")
    flow.status = flow.Status.RUNNING
    flow.save()
    SubscriberFactory(page=flow.page, customer_ref="c-7")
    event = stuck_event(acme)

    def broken(*args, **kwargs):
        raise RuntimeError("the flow could not be queued")

    monkeypatch.setattr(store.flows, "queue_flow_message", broken)
    assert store.process(event.pk) is False
    event.refresh_from_db()
    assert event.state == StoreEvent.State.FAILED
    assert event.error == "RuntimeError: the flow could not be queued"
    assert not Conversion.objects.exists()  # all or nothing: the order waits for the retry

    monkeypatch.undo()
    call_command("onesend_reprocess", stdout=open("/dev/null", "w"))
    event.refresh_from_db()
    assert (event.state, event.error) == (StoreEvent.State.PROCESSED, "")
    assert Conversion.objects.count() == 1 and flow.deliveries.count() == 1


def test_an_event_the_worker_cannot_read_is_failed_not_pending(acme):
    event = stuck_event(acme, value="lots")
    assert store.reprocess() == (0, 1)
    event.refresh_from_db()
    assert event.state == StoreEvent.State.FAILED and "value: 'lots' is not a number" in event.error


# -- the migration keeps existing conversions, now with their account ------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_conversions_their_account(bloom, acme):
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    [target] = [
        key for key in graph.nodes if key[0] == "onesend" and key[1].endswith("_conversion_per_account")
    ]
    before, latest = graph.node_map[target].parents, graph.leaf_nodes("onesend")
    executor.migrate([parent.key for parent in before])
    before = [parent.key for parent in before]
    try:
        apps = executor.loader.project_state(before).apps
        Old = apps.get_model("onesend", "Conversion")
        OldEvent = apps.get_model("onesend", "StoreEvent")
        OldCampaign = apps.get_model("onesend", "Campaign")
        # Made with the model of that time: today's has columns its table doesn't have yet.
        app = apps.get_model("onesend", "MetaApp").objects.create(
            app_id="880000000000009", app_secret="s", verify_token="v"
        )
        acme_page = apps.get_model("onesend", "MessengerPage").objects.create(
            account_id=acme.pk, app=app, page_id="1000000000000999", name="Acme", access_token="t"
        )
        acme_campaign = OldCampaign.objects.create(name="Summer sale", page_id=acme_page.pk)
        OldEvent.objects.create(
            account_id=bloom.pk,
            name="order_placed",
            customer_ref="b",
            properties={"order_id": "1"},
            idempotency_key="k",
        )
        OldEvent.objects.create(
            account_id=acme.pk, name="order_placed", customer_ref="a", idempotency_key="2"
        )
        for order_id, campaign in (("1", None), ("2", None), ("3", acme_campaign), ("4", None)):
            Old.objects.create(order_id=order_id, value=1, currency="EUR", campaign=campaign)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    assert dict(Conversion.objects.values_list("order_id", "account__slug")) == {
        "1": "bloom",  # its store event's properties
        "2": "acme",  # its store event's key
        "3": "acme",  # its campaign
    }  # "4": nothing leads to an account (it was deleted): gone with it
