"""onesend: consent-first Facebook Messenger marketing for Wagtail sites."""

__version__ = "0.1.0"


def track(name: str, *, customer_ref: str, properties=None, account=None, idempotency_key=None, at=None):
    """Report a store event (an order, an abandoned cart, anything a flow may react to).

    One line for store code: ``onesend_plugin.track("order_placed", customer_ref="c-42",
    properties={"order_id": "1001", "value": "59.90", "currency": "EUR"})``. See ``store.tracking.track``.
    """
    from .store import track as store_track

    return store_track(
        name,
        customer_ref=customer_ref,
        properties=properties,
        account=account,
        idempotency_key=idempotency_key,
        at=at,
    )
