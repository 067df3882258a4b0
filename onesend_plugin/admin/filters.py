"""Listing filters."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet

from ..models import Subscriber, SubscriberTag


def source_ref_choices() -> list[tuple[str, str]]:
    """The sources subscribers actually came through (read when the form is shown)."""
    refs = (
        Subscriber.objects.exclude(source_ref="").order_by("source_ref").values_list("source_ref", flat=True)
    )
    return [(ref, ref) for ref in refs.distinct()]


class SubscriberFilterSet(WagtailFilterSet):
    tag = django_filters.ModelChoiceFilter(
        label=_("Tag"),
        field_name="tags",
        to_field_name="name",
        queryset=lambda request: SubscriberTag.tags_for(Subscriber).order_by("name"),
    )
    source_ref = django_filters.ChoiceFilter(label=_("Source"), choices=source_ref_choices)
    opted_in_at = django_filters.DateFromToRangeFilter(label=_("Opted in"), widget=DateRangePickerWidget)

    class Meta:
        model = Subscriber
        fields = ["page", "status", "tag", "source_ref", "opted_in_at"]
