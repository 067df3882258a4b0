"""Admin views beyond Wagtail's generic ones: subscriber actions and subscription-link sharing."""

from __future__ import annotations

import io
import json

import segno
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views import View
from wagtail.admin.ui.tables import Column, DateColumn, Table
from wagtail.admin.views.generic import DeleteView, IndexView, InspectView
from wagtail.admin.views.generic.base import BaseObjectMixin, BaseOperationView
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.admin.views.mixins import SpreadsheetExportMixin
from wagtail.log_actions import log
from wagtail.log_actions import registry as log_registry

from .. import links, subscriptions
from ..models import Subscriber, SubscriptionLink


def tag_names(tags) -> str:
    """A subscriber's tags (the related manager, prefetched by the listing) as one cell."""
    return ", ".join(sorted(tag.name for tag in tags.all()))


class ObjectDownloadView(PermissionCheckedMixin, BaseObjectMixin, View):
    """A file about one object, for anyone who may look at the object."""

    any_permission_required = ["view", "change"]

    def get_file(self) -> tuple[str, str, bytes | str]:
        """``(filename, content_type, content)``."""
        raise NotImplementedError

    def get(self, request, *args, **kwargs):
        filename, content_type, content = self.get_file()
        return HttpResponse(
            content,
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


# -- Subscribers ---------------------------------------------------------------------------------


class SubscriberIndexView(IndexView):
    results_template_name = "onesend_plugin/admin/subscriber_index_results.html"
    custom_field_preprocess = {"tags": dict.fromkeys(SpreadsheetExportMixin.FORMATS, tag_names)}

    def get_base_queryset(self):
        return super().get_base_queryset().select_related("page").prefetch_related("tags")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        counts = dict(self.object_list.order_by().values_list("status").annotate(Count("pk")))
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
                DateColumn("created_at", label=_("Since")),
                DateColumn("expires_at", label=_("Expires")),
            ],
            subscriber.tokens.all(),
        )
        context["consent"] = Table(
            [
                DateColumn("at", label=_("When")),
                Column("action", accessor="get_action_display"),
                Column("entry_point"),
                Column("ref"),
                Column("shown", label=_("What was shown"), accessor=lambda record: json.dumps(record.shown)),
                Column("detail"),
            ],
            subscriber.consent_records.all(),
        )
        context["export_url"] = reverse(self.export_url_name, args=args)
        if self.user_has_permission("change") and subscriber.status == Subscriber.Status.SUBSCRIBED:
            context["unsubscribe_url"] = reverse(self.unsubscribe_url_name, args=args)
        if self.user_has_permission("erase"):
            context["erase_url"] = reverse(self.erase_url_name, args=args)
        return context


class SubscriberUnsubscribeView(PermissionCheckedMixin, BaseOperationView):
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
        # Earlier audit entries (edits, unsubscribe) are titled with the PSID: keep them, without it.
        log_registry.get_logs_for_instance(subscriber).update(label=f"Subscriber {pk} (erased)")
        subscriptions.erase(subscriber, by=f"user {self.request.user.pk}")
        log(page, "onesend.erase", user=self.request.user, data={"subscriber": pk})


# -- Subscription links ----------------------------------------------------------------------------


QR_KINDS = {"png": "image/png", "svg": "image/svg+xml"}


def public_url(request, link: SubscriptionLink) -> str:
    """The link as people get it, shared or printed: absolute, with the link's source and tags."""
    return request.build_absolute_uri(links.click_url(link.page, link.ref, link.tag_list))


class SubscriptionLinkIndexView(IndexView):
    def get_base_queryset(self):
        subscribers = (
            Subscriber.objects.filter(page=OuterRef("page"), source_ref=OuterRef("ref"))
            .order_by()
            .values("page")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_base_queryset()
            .select_related("page")
            .annotate(subscriber_count=Coalesce(Subquery(subscribers), 0))
        )


class SubscriptionLinkInspectView(InspectView):
    """The link to copy and its QR code, with downloads for print."""

    template_name = "onesend_plugin/admin/subscriptionlink_inspect.html"
    qr_url_name = None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        url = public_url(self.request, self.object)
        context["public_url"] = url
        context["qr_svg"] = mark_safe(segno.make(url, error="m").svg_inline(scale=5))
        context["qr_downloads"] = [
            (kind.upper(), reverse(self.qr_url_name, args=[self.object.pk, kind])) for kind in QR_KINDS
        ]
        return context


class SubscriptionLinkQRCodeView(ObjectDownloadView):
    """The link's QR code as a print-quality PNG or SVG file."""

    def get_file(self):
        kind = self.kwargs["kind"]
        if kind not in QR_KINDS:
            raise Http404
        out = io.BytesIO()
        segno.make(public_url(self.request, self.object), error="m").save(out, kind=kind, scale=20)
        return f"{self.object.ref}-qr.{kind}", QR_KINDS[kind], out.getvalue()
