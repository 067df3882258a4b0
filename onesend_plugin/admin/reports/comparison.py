"""All campaigns side by side: the comparison report, sortable, filterable and exportable."""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django.db.models import F
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.ui.tables import Column, DateColumn, TitleColumn
from wagtail.admin.views.reports import ReportView
from wagtail.coreutils import multigetattr

from ...accounts import scoping
from ...analytics.reports import percent, revenue_currencies, revenue_of, revenue_text, with_counters
from ...models import Campaign, MessengerPage
from ..exports import SafeSpreadsheetExportMixin
from .base import CSS, NAMESPACE, CampaignReportPermissionMixin


class CountColumn(Column):
    """A right-aligned, digit-grouped count."""

    def __init__(self, name, **kwargs):
        super().__init__(name, classname="onesend-report__number", **kwargs)

    def get_cell_context_data(self, instance, parent_context):
        context = super().get_cell_context_data(instance, parent_context)
        value = context["raw_value"]
        context["value"] = "—" if value is None else number_format(value, force_grouping=True)
        return context


class RateColumn(CountColumn):
    def get_cell_context_data(self, instance, parent_context):
        context = super().get_cell_context_data(instance, parent_context)
        context["value"] = percent(context["raw_value"])
        return context


class CampaignReportFilterSet(WagtailFilterSet):
    page = django_filters.ModelChoiceFilter(
        label=_("Page"), queryset=MessengerPage.objects.order_by("name"), empty_label=_("All Pages")
    )
    status = django_filters.ChoiceFilter(label=_("Status"), choices=Campaign.Status.choices)
    started_at = django_filters.DateFromToRangeFilter(label=_("Started"), widget=DateRangePickerWidget)

    class Meta:
        model = Campaign
        fields = ["page", "status", "started_at"]


def rounded(value):
    return None if value is None else round(value, 1)


class CampaignsReportView(CampaignReportPermissionMixin, SafeSpreadsheetExportMixin, ReportView):
    """Every campaign that has started, side by side: delivered, read and click rates (each a
    share of messages sent), conversions, revenue and unsubscribes. Sortable, filterable by Page,
    status and start date, exportable as CSV or XLSX (one revenue column per currency)."""

    page_title = _("Campaign performance")
    header_icon = "mail"
    template_name = "onesend_plugin/reports/campaigns.html"
    results_template_name = "onesend_plugin/reports/campaigns_results.html"
    index_url_name = f"{NAMESPACE}:campaigns"
    index_results_url_name = f"{NAMESPACE}:campaigns_results"
    filterset_class = CampaignReportFilterSet
    default_ordering = "-started_at"
    paginate_by = 50
    export_filename = "campaign-performance"
    show_export_buttons = True  # without computing ``list_export`` (it reads the currencies in use)
    columns = [
        TitleColumn("name", label=_("Campaign"), url_name=f"{NAMESPACE}:campaign", sort_key="name"),
        Column("page", label=_("Page"), sort_key="page__name"),
        Column("status", label=_("Status"), accessor="get_phase_display", sort_key="status"),
        DateColumn("started_at", label=_("Started"), sort_key="started_at"),
        CountColumn("sent", label=_("Sent"), accessor="sent_count", sort_key="sent_count"),
        RateColumn("delivered_rate", label=_("Delivered"), sort_key="delivered_rate"),
        RateColumn("read_rate", label=_("Read"), sort_key="read_rate"),
        RateColumn("click_rate", label=_("Clicked"), sort_key="click_rate"),
        CountColumn(
            "conversions", label=_("Conversions"), accessor="conversions_count", sort_key="conversions_count"
        ),
        Column("revenue", label=_("Revenue"), accessor=revenue_text, classname="onesend-report__number"),
        CountColumn(
            "unsubscribed",
            label=_("Unsubscribed"),
            accessor="unsubscribed_count",
            sort_key="unsubscribed_count",
        ),
    ]
    base_export = [
        "name",
        "page.name",
        "get_phase_display",
        "started_at",
        "audience_size",
        "sent_count",
        "delivered_count",
        "delivered_rate",
        "read_count",
        "read_rate",
        "clicked_count",
        "click_rate",
        "conversions_count",
        "unsubscribed_count",
    ]
    base_export_headings = {
        "name": _("Campaign"),
        "page.name": _("Page"),
        "get_phase_display": _("Status"),
        "started_at": _("Started"),
        "audience_size": _("Audience"),
        "sent_count": _("Sent"),
        "delivered_count": _("Delivered"),
        "delivered_rate": _("Delivered (% of sent)"),
        "read_count": _("Read"),
        "read_rate": _("Read (% of sent)"),
        "clicked_count": _("Clicked (people)"),
        "click_rate": _("Clicked (% of sent)"),
        "conversions_count": _("Conversions"),
        "unsubscribed_count": _("Unsubscribed"),
    }
    custom_field_preprocess = {
        name: {ReportView.FORMAT_CSV: rounded, ReportView.FORMAT_XLSX: rounded}
        for name in ("delivered_rate", "read_rate", "click_rate")
    }

    def get_base_queryset(self):
        campaigns = scoping.narrow(Campaign.objects.filter(started_at__isnull=False), self.request)
        return with_counters(campaigns.select_related("page"))

    @cached_property
    def filters(self):
        filterset = super().filters
        if filterset is not None:
            account = scoping.active_account(self.request)  # only the user's Pages
            scoping.scope_fields(filterset.form.fields, self.request.user, account=account)
        return filterset

    def order_queryset(self, queryset):
        """Campaigns without a rate (nothing sent) go last either way; ties newest first."""
        if not self.ordering:
            return queryset
        name = self.ordering.lstrip("-")
        expression = (
            F(name).desc(nulls_last=True) if self.ordering.startswith("-") else F(name).asc(nulls_last=True)
        )
        return queryset.order_by(expression, "-pk")

    @cached_property
    def currencies(self) -> list[str]:
        return revenue_currencies(
            scoping.narrow(Campaign.objects.filter(started_at__isnull=False), self.request)
        )

    @cached_property
    def list_export(self):
        return self.base_export + [f"revenue:{currency}" for currency in self.currencies]

    @cached_property
    def export_headings(self):
        return {
            **self.base_export_headings,
            **{f"revenue:{c}": _("Revenue (%(currency)s)") % {"currency": c} for c in self.currencies},
        }

    def to_row_dict(self, item):
        revenue = {r.currency: r.amount for r in revenue_of(item)}
        return {
            name: revenue.get(name.split(":", 1)[1], Decimal("0.00"))
            if name.startswith("revenue:")
            else multigetattr(item, name)
            for name in self.list_export
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["css"] = CSS
        return context
