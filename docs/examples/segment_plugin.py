"""A onesend plugin: the "Big spenders" segment, subscribers whose orders total €500 or more."""

from django.db.models import Q, Sum

from onesend_plugin.hooks import Segment, hookimpl

THRESHOLD = 500
CURRENCY = "EUR"  # orders in other currencies don't count towards it


def big_spenders(queryset):
    """Those of the campaign's audience (``queryset``) whose orders add up to THRESHOLD."""
    spent = Sum("conversions__value", filter=Q(conversions__currency=CURRENCY))
    return queryset.annotate(spent=spent).filter(spent__gte=THRESHOLD)


@hookimpl
def audience_segments():
    return [Segment(name="big_spenders", label="Big spenders (€500+)", select=big_spenders)]
