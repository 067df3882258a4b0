"""A onesend plugin: the shop posts each new order to it, signed with the account's events secret."""

import json

from django.http import JsonResponse
from django.urls import path

from onesend_plugin.hooks import hookimpl, plugins
from onesend_plugin.store import StoreEventError, signed_request


@signed_request  # POST only; a bad or stale signature is refused before the view runs
def order_created(request, account):
    try:
        order = json.loads(request.body)
        plugins.order_placed(
            order_id=order["id"],
            value=order["total"],
            currency=order["currency"],
            customer_ref=str(order["customer_id"]),
            account=account,
        )
    except (ValueError, KeyError, TypeError, StoreEventError) as exc:
        return JsonResponse({"error": repr(exc)}, status=400)
    return JsonResponse({"received": order["id"]})


@hookimpl
def register_urls():
    return [path("<slug:account_slug>/orders/", order_created, name="order_created")]
