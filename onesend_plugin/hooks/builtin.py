"""onesend's own hook implementations, registered like any plugin (so others can wrap or
block them by name: ``onesend_plugin.hooks.builtin``)."""

from __future__ import annotations

import pluggy

hookimpl = pluggy.HookimplMarker("onesend")


@hookimpl
def order_placed(order_id, value, currency, customer_ref, subscriber, at) -> None:
    from .. import analytics

    analytics.record_conversion(
        order_id=str(order_id),
        value=value,
        currency=currency,
        customer_ref=customer_ref or "",
        subscriber=subscriber,
        at=at,
    )
