"""Plugins hear about every store event once, whatever its source (Python, the signed endpoint,
Shopify), after onesend has recorded and processed it; a listener that raises can't lose the
order, and doesn't keep the other listeners from hearing about it."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from onesend_plugin import store
from onesend_plugin.hooks import hookimpl, plugins
from onesend_plugin.models import Conversion, StoreEvent
from onesend_plugin.store import listeners
from onesend_plugin.store.views import sign

from .factories import AccountFactory
from .test_store_safety import clicked_campaign, order, post_shopify

pytestmark = pytest.mark.django_db

SHOPIFY_ORDER = {"id": 5001, "total_price": "25.00", "currency": "EUR", "customer": {"id": "c-7"}}


class Listener:
    """Remembers what it was told; raises when told to."""

    def __init__(self, fail=False):
        self.orders, self.events, self.fail = [], [], fail

    @hookimpl
    def order_placed(self, order_id, value, currency, customer_ref, account):
        self.orders.append((order_id, value, currency, customer_ref, account.slug))
        if self.fail:
            raise RuntimeError("CRM down")

    @hookimpl
    def store_event_recorded(self, event):
        self.events.append((event.name, event.state))


@pytest.fixture
def acme(db):
    return AccountFactory(name="Acme", slug="acme", shopify_secret="shpss_acme")


@pytest.fixture
def listener(register_plugin):
    return register_plugin(Listener(), name="shop.crm")


@pytest.fixture
def report(client, django_capture_on_commit_callbacks):
    """Report the order ``5001`` of c-7 in Acme's shop from one source; the work deferred to
    commit (processing, then the listeners) runs before it returns."""

    def send(acme, source):
        with django_capture_on_commit_callbacks(execute=True):
            if source == "python":
                plugins.order_placed(
                    order_id=5001, value="25.00", currency="EUR", customer_ref="c-7", account=acme
                )
            elif source == "http":
                body = json.dumps(order("5001")).encode()
                signature = sign(body, acme.events_secret)
                answer = client.post(
                    "/onesend/events/acme/",
                    data=body,
                    content_type="application/json",
                    HTTP_X_ONESEND_SIGNATURE=signature,
                )
                assert answer.status_code == 200
            else:
                assert post_shopify(client, acme, json.dumps(SHOPIFY_ORDER).encode()).status_code == 200

    return send


@pytest.mark.parametrize("source", ["python", "http", "shopify"])
def test_every_source_reaches_the_listeners_once(report, acme, listener, source):
    report(acme, source)
    report(acme, source)  # a retry is the same event: nobody is told twice
    assert listener.orders == [("5001", Decimal("25.00"), "EUR", "c-7", "acme")]
    assert listener.events == [("order_placed", "processed")]
    assert StoreEvent.objects.get().listener_errors == ""


def test_a_listener_that_raises_loses_nothing(report, acme, listener, register_plugin, admin_client):
    campaign = clicked_campaign(acme, "c-7")
    broken = register_plugin(Listener(fail=True), name="shop.broken")  # called first: newest
    report(acme, "python")
    event = StoreEvent.objects.get()
    assert event.state == "processed"
    assert event.listener_errors == "shop.broken in order_placed: RuntimeError('CRM down')"
    conversion = Conversion.objects.get()
    assert (conversion.order_id, conversion.campaign, conversion.via) == ("5001", campaign, "click")
    assert len(broken.orders) == len(listener.orders) == len(listener.events) == 1
    listing = admin_client.get("/admin/messenger/store-events/").content.decode()
    assert "shop.broken in order_placed" in listing  # in the list, not only on the event's page


def test_a_cart_and_another_event_reach_their_typed_hooks(
    acme, register_plugin, django_capture_on_commit_callbacks
):
    heard = []

    class Typed:
        @hookimpl
        def cart_abandoned(self, cart_id, value, currency):
            heard.append(("cart", cart_id, value, currency))

        @hookimpl
        def customer_event(self, name, idempotency_key):
            heard.append((name, idempotency_key))

    register_plugin(Typed())
    with django_capture_on_commit_callbacks(execute=True):
        plugins.cart_abandoned(cart_id="k9", value="30", currency="EUR", customer_ref="c-7", account=acme)
        plugins.customer_event(name="review_posted", customer_ref="c-7", account=acme, idempotency_key="r1")
    assert heard == [("cart", "k9", "30", "EUR"), ("review_posted", "r1")]


def test_a_failed_listener_alone_is_called_again_after_a_pause_that_doubles(
    report, acme, listener, register_plugin, time_machine
):
    broken = register_plugin(Listener(fail=True), name="shop.broken")
    report(acme, "http")
    event = StoreEvent.objects.get()
    assert event.listeners_retry == [["shop.broken", "order_placed"]] and event.listener_attempts == 1
    assert event.listeners_next_attempt_at == pytest.approx(
        timezone.now() + timedelta(seconds=60), abs=timedelta(seconds=5)
    )

    assert store.retry_listeners() == 0  # not yet due
    time_machine.move_to(timezone.now() + timedelta(seconds=61))
    assert store.retry_listeners() == 1
    event.refresh_from_db()
    assert event.listener_attempts == 2
    assert event.listeners_next_attempt_at == pytest.approx(
        timezone.now() + timedelta(seconds=120), abs=timedelta(seconds=5)
    )

    broken.fail = False
    time_machine.move_to(timezone.now() + timedelta(seconds=121))
    assert store.retry_listeners() == 1
    event.refresh_from_db()
    assert (event.listener_errors, event.listeners_retry, event.listeners_next_attempt_at) == ("", [], None)
    assert len(broken.orders) == 3 and len(listener.orders) == len(listener.events) == 1


def test_a_listener_that_keeps_failing_is_given_up_with_its_error(
    report, acme, register_plugin, time_machine
):
    register_plugin(Listener(fail=True), name="shop.broken")
    report(acme, "shopify")
    for _ in range(listeners.MAX_ATTEMPTS - 1):
        time_machine.move_to(timezone.now() + timedelta(days=1))
        assert store.retry_listeners() == 1
    event = StoreEvent.objects.get()
    assert (event.listener_attempts, event.listeners_retry, event.listeners_next_attempt_at) == (5, [], None)
    assert "shop.broken in order_placed" in event.listener_errors
    assert store.retry_listeners() == 0


def test_the_event_stays_processed_whatever_goes_wrong_telling_the_plugins(
    report, acme, listener, monkeypatch
):
    def broken(event):
        raise RuntimeError("database gone")

    monkeypatch.setattr(listeners, "typed_call", broken)
    report(acme, "python")
    assert StoreEvent.objects.get().state == "processed" and Conversion.objects.count() == 1
