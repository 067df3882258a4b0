"""A segment editors can pick for a campaign: "Repeat buyers", the subscribers with at least two
orders reported by the shop (by ``orders.py``, or any other way)."""

from django.db.models import Count

from onesend_plugin.hooks import Segment, hookimpl

MIN_ORDERS = 2


def repeat_buyers(queryset):
    """Those of the campaign's audience (``queryset``) with MIN_ORDERS orders or more."""
    return queryset.annotate(orders=Count("conversions")).filter(orders__gte=MIN_ORDERS)


@hookimpl
def audience_segments():
    return [
        Segment(name="repeat_buyers", label=f"Repeat buyers ({MIN_ORDERS}+ orders)", select=repeat_buyers)
    ]
