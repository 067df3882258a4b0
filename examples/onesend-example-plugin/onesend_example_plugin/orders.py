"""An order receiver: the shop posts each new order (WooCommerce's order JSON) to
``/onesend/plugins/example_orders/<account slug>/orders/``, signed with the account's events
secret as for onesend's own endpoint. It is recorded with ``plugins.order_placed``, so it is
attributed, counts for ``segments.py`` and triggers flows; the customer's first name goes with it
for ``greeting.py``."""

import json

from django.http import JsonResponse
from django.urls import path

from onesend_plugin.hooks import hookimpl, plugins
from onesend_plugin.store import StoreEventError, signed_request


@signed_request  # POST only; a bad or stale signature is refused before the view runs
def order_created(request, account):
    try:
        order = json.loads(request.body)
        if not order["customer_id"]:  # a guest checkout: nobody to attribute it to
            return JsonResponse({"skipped": order["id"]})
        plugins.order_placed(
            order_id=order["id"],
            value=order["total"],
            currency=order["currency"],
            customer_ref=str(order["customer_id"]),
            account=account,
            properties={"first_name": order["billing"]["first_name"]},
        )
    except (ValueError, KeyError, TypeError, StoreEventError) as exc:
        return JsonResponse({"error": repr(exc)}, status=400)
    return JsonResponse({"received": order["id"]})


@hookimpl
def register_urls():
    return [path("<slug:account_slug>/orders/", order_created, name="order_created")]
