"""Listing filters. Every choice they offer (Pages, tags, sources) comes from the rows the user
may see (``scoping.narrow``): a filter must not list another client's Pages, tags or sources."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet

from ..accounts import scoping
from ..models import Subscriber, SubscriberTag


def source_ref_choices(subscribers) -> list[tuple[str, str]]:
    """The sources these subscribers actually came through (read when the form is shown)."""
    refs = subscribers.exclude(source_ref="").order_by("source_ref").values_list("source_ref", flat=True)
    return [(ref, ref) for ref in refs.distinct()]


def visible_tags(request):
    """The tags on subscribers the user may see: one ``EXISTS`` per tag, which stops at its first
    such subscriber (joining every tagged subscriber took over a second at a million). Someone
    who sees every subscriber (agency staff, no account chosen) needs no subscriber at all."""
    subscribers = scoping.narrow(Subscriber.objects.all(), request)
    used = SubscriberTag.objects.filter(tag=OuterRef("pk"))
    if subscribers.query.has_filters():
        used = used.filter(content_object__in=subscribers)
    return SubscriberTag.tag_model().objects.filter(Exists(used)).order_by("name")


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
