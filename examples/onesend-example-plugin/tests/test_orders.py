"""The shop's signed orders are recorded for the customer who subscribed, and carry their first
name to the greeting; forged and guest orders record nothing."""

from decimal import Decimal

from django.urls import reverse

from onesend_plugin.models import Conversion, StoreEvent

ORDER = {"id": 727, "total": "59.90", "currency": "EUR", "customer_id": 25, "billing": {"first_name": "Ann"}}


def orders_url(account):
    return reverse("onesend:plugins:example_orders:order_created", args=[account.slug])


def test_a_signed_order_counts_for_the_subscriber_and_their_first_name_greets_them(
    onesend_post, onesend_account, onesend_subscribe, onesend_send
):
    ann = onesend_subscribe(customer_ref="25")  # subscribed from the shop, as customer 25
    assert onesend_post(orders_url(onesend_account), ORDER).json() == {"received": 727}
    conversion = Conversion.objects.get(order_id="727")
    assert (conversion.subscriber, conversion.value, conversion.currency) == (ann, Decimal("59.90"), "EUR")
    sent = onesend_send("{first_name}, your next order ships free")
    assert [message["text"] for message in sent.threads[ann.psid]] == ["Ann, your next order ships free"]


def test_forged_and_guest_orders_record_nothing(onesend_post, onesend_account):
    url = orders_url(onesend_account)
    assert onesend_post(url, ORDER, secret="not-the-secret").status_code == 403
    assert onesend_post(url, {**ORDER, "customer_id": 0}).json() == {"skipped": 727}
    assert onesend_post(url, {"id": 728}).status_code == 400
    assert not StoreEvent.objects.exists()
