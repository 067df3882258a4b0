"""Erasure that erases: a person who subscribed through the real loop, wrote to the Page, got a
campaign, bought in the shop and has tasks queued leaves none of their values in any column of
any table once erased (onesend's, django-q's, Wagtail's, Django's)."""

import pytest
from django.apps import apps
from django_q.models import OrmQ, Task
from django_q.tasks import async_task
from onesend_simulator.remote import wait_for

import onesend_plugin
from onesend_plugin import broadcast, tasks
from onesend_plugin.models import (
    ConsentRecord,
    Conversion,
    Delivery,
    StoreEvent,
    Subscriber,
    WebhookDelivery,
    WebhookEvent,
)
from onesend_plugin.subscribe import erasure, refs

from .factories import CampaignFactory, SubscriberFactory

pytestmark = pytest.mark.django_db(transaction=True)

NAME, PHONE, CUSTOMER = "Ada Lovelace", "+44 20 7946 0958", "cust-ada-4711"
URL = "/admin/messenger/subscribers/"


def stored_values():
    """(table, column, value) of every column of every row of every table, with django-q's
    queued tasks decoded (their payload is signed and compressed)."""
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        columns = [field.attname for field in meta.concrete_fields]
        for row in model._base_manager.values_list(*columns):
            yield from ((meta.db_table, column, value) for column, value in zip(columns, row, strict=True))
    for queued in OrmQ.objects.all():
        yield OrmQ._meta.db_table, "task", queued.task


def holding(needle: str) -> set[tuple[str, str]]:
    """The (table, column) pairs where ``needle`` is stored."""
    found = set()
    for table, column, value in stored_values():
        text = (
            bytes(value).decode("utf-8", "replace") if isinstance(value, bytes | memoryview) else repr(value)
        )
        if needle in text:
            found.add((table, column))
    return found


def thread_items(simulator, psid, type_):
    return [item for item in simulator.person(psid)["thread"] if item["type"] == type_]


def subscribe(simulator, page, link_ref):
    """Through the simulator: open the link, accept the opt-in request; every webhook is
    delivered twice (Meta's redeliveries)."""
    simulator.configure(duplicate_rate=1.0)
    psid = simulator.create_person(page.page_id, NAME)["psid"]
    simulator.open_link(psid, ref=link_ref)
    wait_for(lambda: thread_items(simulator, psid, "optin"), what="the opt-in card")
    token = simulator.accept_optin(psid)["token"]
    subscriber = wait_for(
        lambda: Subscriber.objects.filter(psid=psid, status="subscribed").first(), what="the subscription"
    )
    return subscriber, token


def test_an_erased_person_leaves_no_value_in_any_table(simulator, connected_page, admin_client):
    link_ref = refs.encode("footer", ("vip",), CUSTOMER)
    person, token = subscribe(simulator, connected_page, link_ref)
    psid = person.psid
    simulator.send_text(psid, f"Hi, {NAME} here, call me on {PHONE}")
    wait_for(lambda: WebhookEvent.objects.filter(psid=psid, kind="message").exists(), what="the text")

    campaign = CampaignFactory(page=connected_page)
    broadcast.start(campaign)
    simulator.read(psid)
    wait_for(lambda: Delivery.objects.filter(campaign=campaign, read_at__isnull=False).exists(), what="read")
    flow = CampaignFactory(page=connected_page, trigger_event="order_placed", delay_minutes=60 * 24)
    broadcast.start(flow)
    onesend_plugin.track(  # no order id, no idempotency key: both derive from the customer
        "order_placed",
        customer_ref=CUSTOMER,
        properties={"value": "25.00", "note": f"for {CUSTOMER}"},
        account=connected_page.account,
    )
    assert flow.deliveries.get().trigger_key.count(CUSTOMER) == 1
    # Tasks as earlier versions queued them (the link's ref in their arguments), one already run.
    async_task("onesend_plugin.tasks.send_optin_request", person.pk, link_ref, "footer", sync=False)
    async_task("onesend_plugin.tasks.send_optin_request", person.pk, link_ref, "footer", sync=True)
    async_task("onesend_plugin.tasks.send_text", person.pk, "Hello", sync=False)
    other = SubscriberFactory(page=connected_page)
    async_task("onesend_plugin.tasks.send_text", other.pk, "Hello", sync=False)
    admin_client.post(f"{URL}unsubscribe/{person.pk}/")  # an audit entry titled with the PSID
    simulator.wait_webhooks_drained()

    values = (psid, token, NAME, PHONE, CUSTOMER, link_ref)
    assert [value for value in values if not holding(value)] == []  # found before erasure
    unlinked = [d for d in WebhookDelivery.objects.filter(events=None) if psid.encode() in bytes(d.body)]
    assert unlinked, "a redelivered copy linked to no event"

    assert admin_client.post(f"{URL}erase/{person.pk}/").status_code == 302

    assert {value: holding(value) for value in values} == {value: set() for value in values}
    assert not Subscriber.objects.filter(pk=person.pk).exists()
    # What is kept holds no identity but still counts.
    assert ConsentRecord.objects.filter(action="erased", subscriber=None).exists()
    assert campaign.deliveries.get().state == "sent" and flow.deliveries.count() == 1
    order = Conversion.objects.get()
    assert (order.customer_ref, order.value) == (f"erased-{person.pk}", 25)
    assert StoreEvent.objects.get().properties == {"value": "25.00", "note": f"for erased-{person.pk}"}
    redacted = WebhookDelivery.objects.filter(pk__in=[d.pk for d in unlinked])
    assert all(b'"erased":true' in bytes(d.body) for d in redacted)
    assert [task.task["args"][0] for task in OrmQ.objects.all()] == [other.pk]
    assert all(task.args[0] != person.pk for task in Task.objects.filter(func__in=erasure.SUBSCRIBER_TASKS))


def test_tasks_queued_by_earlier_versions_still_run_and_skip_erased_people(simulator, sim_page):
    psid = simulator.create_person(sim_page.page_id)["psid"]
    simulator.open_link(psid)
    person = SubscriberFactory(page=sim_page, psid=psid, status="pending")
    assert tasks.send_optin_request(person.pk, refs.encode("footer", (), "cust-1"), "SHORTLINK")
    erasure.erase(person, by="user 1")
    assert tasks.send_optin_request(person.pk, "", "SHORTLINK") is None
    assert tasks.send_text(person.pk, "Hello") is None


def test_a_body_that_is_not_json_loses_the_psid_too(page):
    person = SubscriberFactory(page=page, psid="5550001112223334")
    WebhookDelivery.objects.create(app=page.app, body=b"not json 5550001112223334", state="malformed")
    erasure.erase(person, by="user 1")
    assert bytes(WebhookDelivery.objects.get().body) == b"not json erased"


def test_only_the_persons_account_loses_their_customer_reference():
    """Customer references are the shop's own: Bloom's customer "c-1" is another person."""
    ada = SubscriberFactory(page__account__slug="acme", customer_ref="c-1")
    namesake = SubscriberFactory(page__account__slug="bloom", customer_ref="c-1")
    acme, bloom = ada.page.account, namesake.page.account
    for account in (acme, bloom):  # an order each, not attributed to anyone (the same order id)
        Conversion.objects.create(
            account=account, order_id="o-c-1", customer_ref="c-1", value=5, currency="EUR"
        )
        StoreEvent.objects.create(
            account=account, name="order_placed", customer_ref="c-1", idempotency_key="order_placed:c-1:1",
            properties={"order_id": "o-c-1", "customer": "c-1"},
        )  # fmt: skip
    pseudonym = f"erased-{ada.pk}"
    erasure.erase(ada, by="user 1")
    order, event = Conversion.objects.get(account=acme), StoreEvent.objects.get(account=acme)
    assert (order.customer_ref, order.order_id, event.customer_ref) == (
        pseudonym,
        f"o-{pseudonym}",
        pseudonym,
    )
    order, event = Conversion.objects.get(account=bloom), StoreEvent.objects.get(account=bloom)
    assert (order.customer_ref, order.order_id) == ("c-1", "o-c-1")
    assert (event.customer_ref, event.idempotency_key, event.properties["customer"]) == (
        "c-1", "order_placed:c-1:1", "c-1",
    )  # fmt: skip
    assert Subscriber.objects.get() == namesake
