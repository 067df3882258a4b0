"""Campaign reports: one campaign's funnel, hourly reads and clicks and clicks per button, and a
comparison of all campaigns (a Wagtail report with CSV/XLSX export).

Every number is read from the maintained counters (``CampaignStat``), never by counting ledger
rows, so a report costs the same few queries for a hundred recipients or a million.

Only users who may view campaigns (``onesend.view_campaign``, or superusers) see the reports, their
menu item and their exports; everyone else gets Wagtail's permission-denied behaviour.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import django_filters
from django.db.models import BigIntegerField, Case, F, FloatField, OuterRef, Prefetch, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce
from django.http import HttpResponse
from django.urls import include, path, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.functional import cached_property
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import TemplateView
from wagtail.admin.admin_url_finder import AdminURLFinder
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.menu import MenuItem
from wagtail.admin.ui.tables import Column, DateColumn, TitleColumn
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.admin.views.reports import ReportView
from wagtail.admin.widgets import HeaderButton
from wagtail.coreutils import multigetattr
from wagtail.permissions import policy_registry

from .. import analytics, scoping
from ..counters import Kind, breakdown, key_of, prefix, series
from ..messenger import builders
from ..models import Campaign, CampaignStat, MessengerPage
from . import charts
from .exports import SafeSpreadsheetExportMixin, spreadsheet_safe

#: The URL namespace of the reports (``onesend_reports:<name>``).
NAMESPACE = "onesend_reports"
#: The time series covers this many hours from the hour sending started.
SERIES_HOURS = 72
CSS = "onesend_plugin/css/reports.css"


def can_view_reports(user) -> bool:
    """Reports and their exports need the permission to view campaigns (superusers have it)."""
    return bool(user and user.is_authenticated) and policy_registry.get_by_type(Campaign).user_has_permission(
        user, "view"
    )


def rate(numerator: int, denominator: int) -> float | None:
    """A percentage, or None when there is nothing to divide by."""
    return 100 * numerator / denominator if denominator else None


def percent(value: float | None) -> str:
    return "—" if value is None else f"{number_format(round(value, 1), 1)}%"


def money(minor: int, currency: str) -> str:
    """Revenue counters are hundredths of the currency (``analytics.record_conversion``)."""
    amount = (Decimal(minor) / 100).quantize(Decimal("0.01"))
    return f"{number_format(amount, 2, force_grouping=True)} {currency}"


def reason_label(reason: str) -> str:
    return reason.replace("_", " ").replace("-", " ").capitalize() or str(_("No reason given"))


# -- One campaign: the funnel --------------------------------------------------------------------


@dataclass
class Step:
    key: str
    label: str
    value: int
    of_sent: float | None = None
    of_previous: float | None = None
    note: str = ""

    @property
    def of_sent_display(self) -> str:
        return percent(self.of_sent)

    @property
    def of_previous_display(self) -> str:
        return percent(self.of_previous)

    @property
    def bar_width(self) -> float:
        """The step's share of sent, for the funnel bar (0–100)."""
        return max(0.0, min(100.0, self.of_sent or 0.0))


@dataclass
class Revenue:
    currency: str
    minor: int

    @property
    def amount(self) -> Decimal:
        return (Decimal(self.minor) / 100).quantize(Decimal("0.01"))

    @property
    def display(self) -> str:
        return money(self.minor, self.currency)


@dataclass
class Outcome:
    """Messages that were not sent, by kind and reason, as a share of the audience."""

    kind: str  # failed | skipped | unknown
    reason: str
    value: int
    of_audience: float | None

    @property
    def label(self) -> str:
        return reason_label(self.reason) if self.reason else ""

    @property
    def of_audience_display(self) -> str:
        return percent(self.of_audience)


@dataclass
class Funnel:
    audience: int
    steps: list[Step]
    clicks: int
    revenue: list[Revenue]
    unsubscribed: Step
    not_sent: list[Outcome] = field(default_factory=list)

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)


def funnel(campaign: Campaign, counters: dict[str, int]) -> Funnel:
    """The campaign's funnel from its counters: each step with its share of sent and of the step
    before it. A step can exceed the previous one (a click without a read receipt, a conversion
    attributed to a read), so step rates above 100% are possible and shown as they are."""
    audience = campaign.audience_size
    sent = counters.get(Kind.SENT, 0)
    values = [
        ("sent", _("Sent"), sent),
        ("delivered", _("Delivered"), counters.get(Kind.DELIVERED, 0)),
        ("read", _("Read"), counters.get(Kind.READ, 0)),
        ("clicked", _("Clicked (people)"), counters.get(Kind.UNIQUE_CLICKS, 0)),
        ("converted", _("Converted"), counters.get(Kind.CONVERSIONS, 0)),
    ]
    steps = [Step("audience", _("Audience"), audience)]
    for key, label, value in values:
        previous = steps[-1]
        steps.append(
            Step(
                key,
                label,
                value,
                of_sent=rate(value, audience) if key == "sent" else rate(value, sent),
                of_previous=rate(value, previous.value),
            )
        )
    clicks = counters.get(Kind.CLICKS, 0)
    if clicks:
        next(s for s in steps if s.key == "clicked").note = _("%(clicks)s clicks in all") % {
            "clicks": f"{clicks:,}"
        }
    unsubscribed = counters.get(Kind.UNSUBSCRIBED, 0)
    not_sent = [
        Outcome(kind.value, reason, value, rate(value, audience))
        for kind in (Kind.FAILED, Kind.SKIPPED)
        for reason, value in breakdown(counters, kind).items()
    ]
    if unknown := counters.get(Kind.UNKNOWN):
        not_sent.append(Outcome("unknown", "", unknown, rate(unknown, audience)))
    return Funnel(
        audience=audience,
        steps=steps,
        clicks=clicks,
        revenue=[Revenue(currency, value) for currency, value in breakdown(counters, Kind.REVENUE).items()],
        unsubscribed=Step(
            "unsubscribed", _("Unsubscribed after it"), unsubscribed, of_sent=rate(unsubscribed, sent)
        ),
        not_sent=not_sent,
    )


# -- One campaign: reads and clicks per hour, clicks per button -----------------------------------


def series_start(campaign: Campaign) -> datetime | None:
    """The UTC hour sending started in: the first bucket of the time series."""
    if not campaign.started_at:
        return None
    return campaign.started_at.astimezone(dt_timezone.utc).replace(minute=0, second=0, microsecond=0)


def hourly(campaign: Campaign, counters: dict[str, int], hours: int = SERIES_HOURS) -> dict:
    """Reads and clicks per hour from ``read@<hour>`` / ``click@<hour>``, for the hours that have
    begun (a campaign sent an hour ago has one or two buckets, not 72 zeros)."""
    start = series_start(campaign)
    if start is None:
        return {"start": None, "reads": [], "clicks": []}
    elapsed = int((timezone.now() - start).total_seconds() // 3600) + 1
    buckets = [start + timedelta(hours=i) for i in range(max(0, min(hours, elapsed)))]
    return {
        "start": start,
        "reads": series(counters, Kind.READ, buckets),
        "clicks": series(counters, Kind.CLICKS, buckets),
    }


def hourly_chart(campaign: Campaign, series: dict, chart_id: str = "onesend-hourly") -> str:
    start = series["start"]
    reads, clicks = series["reads"], series["clicks"]

    def at(i: int) -> str:
        return date_format(timezone.localtime(start + timedelta(hours=i)), "D j M, H:i")

    def peak(values: list[int]) -> str:
        if not any(values):
            return ""
        i = max(range(len(values)), key=values.__getitem__)
        return str(_("peak %(n)s in hour %(h)s")) % {"n": f"{values[i]:,}", "h": i + 1}

    desc = _(
        "Reads and clicks per hour over the first %(hours)s hours after sending started (%(start)s). "
        "%(reads)s reads%(read_peak)s; %(clicks)s clicks%(click_peak)s."
    ) % {
        "hours": SERIES_HOURS,
        "start": at(0),
        "reads": f"{sum(reads):,}",
        "read_peak": f", {peak(reads)}" if any(reads) else "",
        "clicks": f"{sum(clicks):,}",
        "click_peak": f", {peak(clicks)}" if any(clicks) else "",
    }
    return charts.line_chart(
        [
            charts.Series("reads", _("Reads"), reads, charts.READS_COLOR),
            charts.Series("clicks", _("Clicks"), clicks, charts.CLICKS_COLOR, dashed=True),
        ],
        chart_id=chart_id,
        title=_("Reads and clicks per hour: %(name)s") % {"name": campaign.name},
        desc=desc,
        buckets=SERIES_HOURS,
        x_tick_every=12,
        x_tick_label=lambda h: f"{h} h",
        point_label=lambda i: _("Hour %(n)s (%(at)s)") % {"n": i + 1, "at": at(i)},
        x_axis_label=_("Hours after sending started"),
    )


def url_buttons(message: dict) -> list[dict]:
    """A message's URL buttons in the order ``analytics.tracked_buttons`` numbers them."""
    return list(builders.url_buttons(message))


@dataclass
class ButtonClicks:
    number: int  # 1-based, as editors count them
    title: str
    url: str
    clicks: int
    share: float | None

    @property
    def share_display(self) -> str:
        return percent(self.share)


def button_clicks(campaign: Campaign, counters: dict[str, int]) -> list[ButtonClicks]:
    """Clicks per URL button (``button:<n>``), titled as sent (``campaign.message``)."""
    buttons = url_buttons(((campaign.message or {}).get("body")) or {})
    counted = {int(n): value for n, value in breakdown(counters, Kind.BUTTON).items() if n.isdigit()}
    total = sum(counted.values())
    numbers = sorted(set(range(len(buttons))) | set(counted))
    return [
        ButtonClicks(
            number=n + 1,
            title=buttons[n].get("title", "") if n < len(buttons) else str(_("Button %(n)s") % {"n": n + 1}),
            url=buttons[n].get("url", "") if n < len(buttons) else "",
            clicks=counted.get(n, 0),
            share=rate(counted.get(n, 0), total),
        )
        for n in numbers
    ]


def buttons_chart(campaign: Campaign, buttons: list[ButtonClicks], chart_id: str = "onesend-buttons") -> str:
    return charts.bar_chart(
        [(f"{b.number}. {b.title}", b.clicks) for b in buttons],
        chart_id=chart_id,
        title=_("Clicks per button: %(name)s") % {"name": campaign.name},
        desc="; ".join(f"{b.title}: {b.clicks:,}" for b in buttons),
    )


# -- One campaign: CSV ---------------------------------------------------------------------------


def csv_number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def funnel_rows(campaign: Campaign, counters: dict[str, int]) -> list[list]:
    """The funnel as spreadsheet rows: metric, value, % of sent, % of previous step."""
    data = funnel(campaign, counters)
    rows = [["Metric", "Value", "% of sent", "% of previous step"]]
    for step in data.steps:
        rows.append([str(step.label), step.value, csv_number(step.of_sent), csv_number(step.of_previous)])
    rows.append(["Clicks (all)", data.clicks, csv_number(rate(data.clicks, counters.get(Kind.SENT, 0))), ""])
    for revenue in data.revenue:
        rows.append([f"Revenue ({revenue.currency})", f"{revenue.amount:.2f}", "", ""])
    rows.append(
        [str(data.unsubscribed.label), data.unsubscribed.value, csv_number(data.unsubscribed.of_sent), ""]
    )
    for outcome in data.not_sent:
        label = (
            f"{outcome.kind.capitalize()}: {outcome.label}" if outcome.reason else "Unknown (lost in a crash)"
        )
        rows.append([label, outcome.value, "", ""])
    for button in button_clicks(campaign, counters):
        rows.append([f"Clicks on button {button.number} ({button.title})", button.clicks, "", ""])
    return [[spreadsheet_safe(cell) for cell in row] for row in rows]


# -- Views -----------------------------------------------------------------------------------------


class CampaignReportPermissionMixin(PermissionCheckedMixin):
    """``view`` on campaigns, through the campaign permission policy (``onesend.view_campaign``)."""

    model = Campaign
    permission_required = "view"


def comparison_crumb() -> dict:
    return {"url": reverse(f"{NAMESPACE}:campaigns"), "label": _("Campaign performance")}


class CampaignReportView(CampaignReportPermissionMixin, WagtailAdminTemplateMixin, TemplateView):
    """One campaign's report: funnel, revenue, hourly reads and clicks, clicks per button."""

    template_name = "onesend_plugin/reports/campaign.html"
    page_title = _("Campaign report")
    header_icon = "mail"

    def get(self, request, *args, **kwargs):
        # Looked up after the permission check, so the report says nothing about which ids exist;
        # another client's campaign is as missing as one that never existed.
        self.object = scoping.get_or_404(Campaign.objects.select_related("page"), kwargs["pk"], request.user)
        return super().get(request, *args, **kwargs)

    def get_page_subtitle(self):
        return self.object.name

    def get_breadcrumbs_items(self):
        return self.breadcrumbs_items + [comparison_crumb(), {"url": "", "label": self.object.name}]

    @cached_property
    def header_buttons(self):
        buttons = [
            HeaderButton(
                _("Download CSV"),
                url=reverse(f"{NAMESPACE}:campaign_csv", args=[self.object.pk]),
                icon_name="download",
                attrs={"download": ""},
                priority=10,
            )
        ]
        if edit_url := AdminURLFinder(self.request.user).get_edit_url(self.object):
            buttons.append(HeaderButton(_("Edit campaign"), url=edit_url, icon_name="edit", priority=20))
        return buttons

    def get_context_data(self, **kwargs):
        campaign = self.object
        counters = analytics.stats(campaign)
        series = hourly(campaign, counters)
        buttons = button_clicks(campaign, counters)
        context = super().get_context_data(**kwargs)
        context.update(
            campaign=campaign,
            funnel=funnel(campaign, counters),
            series=series,
            series_rows=[
                {"hour": i + 1, "at": series["start"] + timedelta(hours=i), "reads": r, "clicks": c}
                for i, (r, c) in enumerate(zip(series["reads"], series["clicks"], strict=True))
                if r or c
            ],
            series_hours=SERIES_HOURS,
            hourly_chart=hourly_chart(campaign, series) if series["start"] else None,
            buttons=buttons,
            buttons_chart=buttons_chart(campaign, buttons) if any(b.clicks for b in buttons) else None,
            css=CSS,
        )
        return context


class CampaignReportCSVView(CampaignReportPermissionMixin, View):
    """The funnel of one campaign as CSV."""

    def get(self, request, pk):
        campaign = scoping.get_or_404(Campaign, pk, request.user)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        filename = f"campaign-{campaign.pk}-{slugify(campaign.name) or 'report'}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        csv.writer(response).writerows(funnel_rows(campaign, analytics.stats(campaign)))
        return response


# -- All campaigns: the comparison report -----------------------------------------------------------

#: Counter → annotation (``…_count``: ``clicks`` and ``conversions`` are already relations).
COUNTERS = {
    Kind.SENT: "sent_count",
    Kind.DELIVERED: "delivered_count",
    Kind.READ: "read_count",
    Kind.UNIQUE_CLICKS: "clicked_count",
    Kind.CONVERSIONS: "conversions_count",
    Kind.UNSUBSCRIBED: "unsubscribed_count",
}


def counter(name: str):
    return Coalesce(
        Subquery(
            CampaignStat.objects.filter(campaign=OuterRef("pk"), name=name).values("value")[:1],
            output_field=BigIntegerField(),
        ),
        Value(0),
        output_field=BigIntegerField(),
    )


def share_of_sent(annotation: str):
    return Case(
        When(
            sent_count__gt=0,
            then=Cast(annotation, FloatField()) * Value(100.0) / Cast("sent_count", FloatField()),
        ),
        default=Value(None),
        output_field=FloatField(),
    )


def with_counters(queryset):
    """Campaigns annotated with their counters and rates (one subquery per counter on the
    ``(campaign, name)`` unique index), revenue counters prefetched as ``revenue_stats``."""
    return (
        queryset.annotate(**{annotation: counter(name) for name, annotation in COUNTERS.items()})
        .annotate(
            delivered_rate=share_of_sent("delivered_count"),
            read_rate=share_of_sent("read_count"),
            click_rate=share_of_sent("clicked_count"),
        )
        .prefetch_related(
            Prefetch(
                "stats",
                queryset=CampaignStat.objects.filter(name__startswith=prefix(Kind.REVENUE)).order_by("name"),
                to_attr="revenue_stats",
            )
        )
    )


def revenue_of(campaign) -> list[Revenue]:
    stats = {stat.name: stat.value for stat in getattr(campaign, "revenue_stats", [])}
    return [Revenue(currency, value) for currency, value in breakdown(stats, Kind.REVENUE).items()]


def revenue_text(campaign) -> str:
    return ", ".join(r.display for r in revenue_of(campaign)) or "—"


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
        Column("status", label=_("Status"), accessor="get_status_display", sort_key="status"),
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
        "get_status_display",
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
        "get_status_display": _("Status"),
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
        campaigns = scoping.narrow(Campaign.objects.filter(started_at__isnull=False), self.request)
        names = (
            CampaignStat.objects.filter(name__startswith=prefix(Kind.REVENUE), campaign__in=campaigns)
            .values_list("name", flat=True)
            .distinct()
        )
        return sorted({key_of(Kind.REVENUE, name) for name in names})

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


# -- Menu and URLs -----------------------------------------------------------------------------------


class CampaignReportsMenuItem(MenuItem):
    def is_shown(self, request):
        return can_view_reports(request.user)


def menu_item() -> MenuItem:
    return CampaignReportsMenuItem(
        _("Campaign performance"),
        reverse(f"{NAMESPACE}:campaigns"),
        name="onesend-campaign-performance",
        icon_name="mail",
        order=700,
    )


urlpatterns = [
    path("campaigns/", CampaignsReportView.as_view(), name="campaigns"),
    path("campaigns/results/", CampaignsReportView.as_view(results_only=True), name="campaigns_results"),
    path("campaign/<int:pk>/", CampaignReportView.as_view(), name="campaign"),
    path("campaign/<int:pk>/csv/", CampaignReportCSVView.as_view(), name="campaign_csv"),
]


def admin_urls() -> list:
    """For ``register_admin_urls``: the reports under ``/admin/messenger/reports/``."""
    return [path("messenger/reports/", include((urlpatterns, NAMESPACE), namespace=NAMESPACE))]
