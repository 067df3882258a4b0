"""The shop's signed orders are recorded for the customer who subscribed, and carry their first
name to the greeting; forged and guest orders record nothing."""

import json
from decimal import Decimal

from django.urls import reverse

from onesend_plugin.models import Conversion, StoreEvent
from onesend_plugin.store import sign

ORDER = {"id": 727, "total": "59.90", "currency": "EUR", "customer_id": 25, "billing": {"first_name": "Ann"}}


def post(client, account, order, secret=None):
    body = json.dumps(order).encode()
    return client.post(
        reverse("onesend:plugins:example_orders:order_created", args=[account.slug]),
        data=body,
        content_type="application/json",
        headers={"X-Onesend-Signature": sign(body, secret or account.events_secret)},
    )


def test_a_signed_order_counts_for_the_subscriber_and_their_first_name_greets_them(
    client, onesend_account, onesend_subscribe, onesend_send
):
    ann = onesend_subscribe(customer_ref="25")  # subscribed from the shop, as customer 25
    assert post(client, onesend_account, ORDER).json() == {"received": 727}
    conversion = Conversion.objects.get(order_id="727")
    assert (conversion.subscriber, conversion.value, conversion.currency) == (ann, Decimal("59.90"), "EUR")
    sent = onesend_send("{first_name}, your next order ships free")
    assert [message["text"] for message in sent.threads[ann.psid]] == ["Ann, your next order ships free"]


def test_forged_and_guest_orders_record_nothing(client, onesend_account):
    assert post(client, onesend_account, ORDER, secret="not-the-secret").status_code == 403
    assert post(client, onesend_account, {**ORDER, "customer_id": 0}).json() == {"skipped": 727}
    assert post(client, onesend_account, {"id": 728}).status_code == 400
    assert not StoreEvent.objects.exists()
