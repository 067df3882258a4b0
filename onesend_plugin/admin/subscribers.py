"""Subscribers in the admin: the listing shows each person by name and picture (or by where and
when they came), and their page, the subscriber view, shows who they are, their consent history
in words and their tags, editable beside it. Their PSID is a detail of that page only."""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count
from django.forms import modelform_factory
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.ui.tables import Column, DateColumn, Table, TitleColumn
from wagtail.admin.views.generic import DeleteView, EditView, IndexView
from wagtail.admin.views.generic.base import BaseOperationView
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.admin.views.mixins import SpreadsheetExportMixin
from wagtail.log_actions import log

from ..models import Subscriber
from ..subscribe import erasure, history, subscriptions
from .inspect import InspectView
from .views import ObjectDownloadView, ScopedObjectMixin


def tag_names(tags) -> str:
    """A subscriber's tags (the related manager, prefetched by the listing) as one cell."""
    return ", ".join(sorted(tag.name for tag in tags.all()))


TagsForm = modelform_factory(Subscriber, form=WagtailAdminModelForm, fields=["tags"])


class PersonColumn(TitleColumn):
    """The person by name and picture, or by where and when they came; links to their page."""

    cell_template_name = "onesend_plugin/admin/person_cell.html"

    def __init__(self):
        super().__init__(
            "label",
            label=_("Person"),
            accessor="label",
            get_url=lambda subscriber: reverse("onesend_subscribers:inspect", args=[subscriber.pk]),
        )


class SubscriberIndexView(IndexView):
    results_template_name = "onesend_plugin/admin/subscriber_index_results.html"
    custom_field_preprocess = {"tags": dict.fromkeys(SpreadsheetExportMixin.FORMATS, tag_names)}

    def get_base_queryset(self):
        return super().get_base_queryset().select_related("page").prefetch_related("tags")

    @cached_property
    def status_counts(self) -> dict[str, int]:
        """The listing's subscribers (filtered, searched) per status: one ``GROUP BY``."""
        return dict(self.object_list.order_by().values_list("status").annotate(Count("pk")))

    def get_paginator(self, queryset, *args, **kwargs):
        """The count of pages is the sum of :attr:`status_counts`: counting the same rows again
        was a second scan of them (a third of the listing's time at a million subscribers)."""
        paginator = super().get_paginator(queryset, *args, **kwargs)
        paginator.count = sum(self.status_counts.values())
        return paginator

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        counts = self.status_counts
        context["status_counts"] = [
            (label, counts[value]) for value, label in Subscriber.Status.choices if value in counts
        ]
        return context


class SubscriberInspectView(InspectView):
    """The subscriber, their topics (never the token itself), their consent history, and the
    actions an admin may take on a person's data."""

    template_name = "onesend_plugin/admin/subscriber_inspect.html"
    unsubscribe_url_name = None
    export_url_name = None
    erase_url_name = None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        subscriber, args = self.object, [self.object.pk]
        context["topics"] = Table(
            [
                Column("topic"),
                Column("status", accessor="get_status_display"),
                DateColumn("since", label=_("Since")),
                DateColumn("expires_at", label=_("Expires")),
            ],
            subscriber.tokens.all(),
        )
        context["consent"] = Table(
            [
                DateColumn("at", label=_("When")),
                Column("what", label=_("What happened"), accessor=history.happened),
                Column("where", label=_("Where"), accessor=history.where),
                Column("shown", label=_("What was shown"), accessor=history.shown),
            ],
            subscriber.consent_records.all(),
        )
        if self.permission_policy.user_has_permission_for_instance(self.request.user, "change", subscriber):
            context["tags_form"] = TagsForm(instance=subscriber, prefix="")
            context["tags_url"] = self.get_edit_url()
        context["export_url"] = reverse(self.export_url_name, args=args)
        can = self.permission_policy.user_has_permission_for_instance
        if can(self.request.user, "change", subscriber) and subscriber.status == Subscriber.Status.SUBSCRIBED:
            context["unsubscribe_url"] = reverse(self.unsubscribe_url_name, args=args)
        if can(self.request.user, "erase", subscriber):
            context["erase_url"] = reverse(self.erase_url_name, args=args)
        return context


class SubscriberEditView(EditView):
    """The tags, saved from the subscriber's page: back to it."""

    def get_success_url(self):
        return reverse("onesend_subscribers:inspect", args=[self.object.pk])


class SubscriberUnsubscribeView(PermissionCheckedMixin, ScopedObjectMixin, BaseOperationView):
    """Stop marketing messages to a person, as if they had sent STOP (POST only)."""

    permission_required = "change"
    success_message = _("Unsubscribed. They will get no more marketing messages.")

    @transaction.atomic
    def perform_operation(self):
        if subscriptions.unsubscribe(self.object, source="admin"):
            log(self.object, "onesend.unsubscribe", user=self.request.user)


class SubscriberExportView(ObjectDownloadView):
    """Everything onesend holds about a person, as JSON (GDPR access request)."""

    def get_file(self):
        data = json.dumps(
            subscriptions.export(self.object), cls=DjangoJSONEncoder, indent=2, ensure_ascii=False
        )
        return f"subscriber-{self.object.pk}.json", "application/json", data


class SubscriberEraseView(DeleteView):
    """Erase a person's data after confirmation (GDPR erasure). Needs ``erase_subscriber``."""

    permission_required = "erase"
    template_name = "onesend_plugin/admin/subscriber_erase.html"
    page_title = _("Erase")
    confirmation_message = _(
        "Erase everything onesend holds about this person? Their tags, topics and messages are "
        "deleted; their consent history is kept without personal data. This cannot be undone."
    )
    success_message = _("Subscriber erased.")

    @transaction.atomic
    def delete_action(self):
        subscriber, pk, page = self.object, self.object.pk, self.object.page
        erasure.erase(subscriber, by=f"user {self.request.user.pk}")
        log(page, "onesend.erase", user=self.request.user, data={"subscriber": pk})
