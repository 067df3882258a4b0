"""Listing filters. Every choice they offer (Pages, tags, sources) comes from the rows the user
may see (``scoping.narrow``): a filter must not list another client's Pages, tags or sources."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet

from ..accounts import scoping
from ..models import Subscriber, SubscriberTag


def source_ref_choices(subscribers) -> list[tuple[str, str]]:
    """The sources these subscribers actually came through (read when the form is shown)."""
    refs = subscribers.exclude(source_ref="").order_by("source_ref").values_list("source_ref", flat=True)
    return [(ref, ref) for ref in refs.distinct()]


def visible_tags(request):
    subscribers = scoping.narrow(Subscriber.objects.all(), request)
    return SubscriberTag.tags_for(
        Subscriber, **{f"{SubscriberTag.tag_relname()}__content_object__in": subscribers}
    ).order_by("name")


class SubscriberFilterSet(WagtailFilterSet):
    tag = django_filters.ModelChoiceFilter(
        label=_("Tag"), field_name="tags", to_field_name="name", queryset=visible_tags
    )
    source_ref = django_filters.ChoiceFilter(label=_("Source"), choices=[])
    opted_in_at = django_filters.DateFromToRangeFilter(label=_("Opted in"), widget=DateRangePickerWidget)

    class Meta:
        model = Subscriber
        fields = ["page", "status", "tag", "source_ref", "opted_in_at"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        subscribers = (
            scoping.narrow(Subscriber.objects.all(), request) if request else Subscriber.objects.none()
        )
        self.filters["source_ref"].extra["choices"] = source_ref_choices(subscribers)
