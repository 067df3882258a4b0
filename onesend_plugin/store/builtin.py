"""onesend's own implementations of the store hooks, registered like any plugin (so others can
wrap or block them by name: ``onesend_plugin.store.builtin``; the app's ``ready()`` names them).
They only record the event: processing (conversions, flows) happens in a worker."""

from __future__ import annotations

from ..hooks import hookimpl
from .tracking import track


def _track(name, *, customer_ref, account, at, properties, idempotency_key):
    track(
        name,
        customer_ref=customer_ref,
        account=account,
        at=at,
        properties=properties or {},
        idempotency_key=idempotency_key,
    )


@hookimpl
def order_placed(order_id, value, currency, customer_ref, account, at, properties):
    details = {**(properties or {}), "order_id": str(order_id), "value": str(value), "currency": currency}
    _track(
        "order_placed",
        customer_ref=customer_ref,
        account=account,
        at=at,
        properties=details,
        idempotency_key=f"order:{order_id}",
    )


@hookimpl
def order_fulfilled(order_id, customer_ref, account, at, properties):
    details = {**(properties or {}), "order_id": str(order_id)}
    _track(
        "order_fulfilled",
        customer_ref=customer_ref,
        account=account,
        at=at,
        properties=details,
        idempotency_key=f"fulfilled:{order_id}",
    )


@hookimpl
def cart_abandoned(cart_id, value, currency, customer_ref, account, at, properties):
    details = {**(properties or {}), "cart_id": str(cart_id), "value": str(value), "currency": currency}
    _track(
        "cart_abandoned",
        customer_ref=customer_ref,
        account=account,
        at=at,
        properties=details,
        idempotency_key=f"cart:{cart_id}",
    )


@hookimpl
def customer_event(name, customer_ref, account, at, properties, idempotency_key):
    _track(
        name,
        customer_ref=customer_ref,
        account=account,
        at=at,
        properties=properties,
        idempotency_key=idempotency_key,
    )
