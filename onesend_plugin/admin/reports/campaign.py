"""One campaign's report: an A/B test's variants side by side, funnel, revenue, what a paid campaign cost, outcomes and cost per
channel (a Page sending per person), hourly reads and clicks, clicks per button; and its CSV."""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal

from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.functional import cached_property
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import TemplateView
from wagtail.admin.admin_url_finder import AdminURLFinder
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.widgets import HeaderButton

from ... import analytics, conf
from ...accounts import scoping
from ...analytics.counters import Kind
from ...analytics.per_channel import per_channel
from ...analytics.reports import ButtonClicks, button_clicks, funnel, hourly, rate
from ...analytics.spend import Cost
from ...analytics.variants import variant_results
from ...broadcast import abtest, segments
from ...models import Campaign, Channel
from .. import charts
from ..exports import spreadsheet_safe
from .base import CSS, NAMESPACE, CampaignReportPermissionMixin, comparison_crumb


def hourly_chart(campaign: Campaign, series: dict, chart_id: str = "onesend-hourly") -> str:
    start = series["start"]
    reads, clicks = series["reads"], series["clicks"]
    hours, tick_every = charts.hour_span(len(reads))

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
        "hours": hours,
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
        buckets=hours,
        x_tick_every=tick_every,
        x_tick_label=lambda h: f"{h} h",
        point_label=lambda i: _("Hour %(n)s (%(at)s)") % {"n": i + 1, "at": at(i)},
        x_axis_label=_("Hours after sending started"),
    )


def buttons_chart(campaign: Campaign, buttons: list[ButtonClicks], chart_id: str = "onesend-buttons") -> str:
    return charts.bar_chart(
        [(f"{b.number}. {b.title}", b.clicks) for b in buttons],
        chart_id=chart_id,
        title=_("Clicks per button: %(name)s") % {"name": campaign.name},
        desc="; ".join(f"{b.title}: {b.clicks:,}" for b in buttons),
    )


# -- One campaign: what it cost (paid Marketing Messages API) ---------------------------------------

COST_LABELS = {
    "delivered": _("Delivered messages"),
    "clicked": _("People who clicked"),
    "converted": _("Conversions"),
}


def amount(value: Decimal | None, currency: str, *, each: bool = False) -> str:
    """Money in the ad account's currency, in cents; a cost ``each`` below a dime to four places
    (Meta's cost per delivered message is around a cent)."""
    if value is None:
        return "—"
    places = 4 if each and Decimal(0) < value < Decimal("0.1") else 2
    text = number_format(value.quantize(Decimal(1).scaleb(-places)), places, force_grouping=True)
    return f"{text} {currency}".strip()


def cost_context(cost: Cost) -> dict:
    """The cost panel's figures, as shown."""
    spend = cost.spend
    roas = cost.return_on_spend
    return {
        "currency": cost.currency,
        "insights": cost.insights,
        "known": spend is not None,
        "spend": amount(spend, cost.currency),
        "lines": [
            {
                "key": line.key,
                "label": COST_LABELS[line.key],
                "ours": line.ours,
                "each": amount(line.each(spend), cost.currency, each=True) if spend is not None else "—",
                "meta": line.meta,
            }
            for line in cost.lines
        ],
        "revenue": amount(cost.revenue, cost.currency),
        "return_on_spend": "—" if roas is None else f"{number_format(roas.quantize(Decimal('0.01')), 2)}×",
        "other_currencies": ", ".join(cost.other_currencies),
    }


def channel_context(campaign: Campaign, cost: Cost | None) -> list[dict]:
    """A per-person campaign's outcomes and cost per channel (``analytics.per_channel``), as the
    report's "By channel" panel shows them: the free channels cost nothing, the paid one Meta's
    spend (— until Meta reports it)."""
    spend, currency = (cost.spend, cost.currency) if cost else (None, campaign.page.ad_account_currency)
    return [
        {
            "line": line,
            "cost": amount(spend if line.paid else Decimal(0), currency),
            "each": amount(line.cost_each(spend), currency, each=True),
        }
        for line in per_channel(campaign)
    ]


def cost_rows(cost: Cost | None) -> list[list]:
    """The cost panel as spreadsheet rows (metric, value), amounts as plain numbers."""
    if cost is None:
        return []
    currency = cost.currency or "?"
    if cost.spend is None:
        return [[f"Spend ({currency})", "Meta has reported no figures yet"]]
    rows = [[f"Spend ({currency})", f"{cost.spend:f}"]]
    for line in cost.lines:
        each = line.each(cost.spend)
        rows.append([f"Cost per {line.key} ({currency})", "" if each is None else f"{each:.4f}"])
        if line.meta is not None:
            rows.append([f"Meta: {line.key}", line.meta])
    roas = cost.return_on_spend
    rows.append(["Return on spend", "" if roas is None else f"{roas:.2f}"])
    return rows


# -- One campaign: CSV ---------------------------------------------------------------------------


def csv_number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def funnel_rows(campaign: Campaign, counters: dict[str, int]) -> list[list]:
    """The funnel as spreadsheet rows: metric, value, % of sent, % of previous step; then a
    paid campaign's cost."""
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
    rows.extend([*row, "", ""] for row in cost_rows(analytics.cost_of(campaign, counters)))
    rows.extend(variant_rows(campaign))
    return [[spreadsheet_safe(cell) for cell in row] for row in rows]


def variant_rows(campaign: Campaign) -> list[list]:
    """An A/B test's variants (those drawn for the test) and its decision, as funnel rows."""
    if not campaign.ab_decide_at:
        return []
    rows = []
    for variant in variant_results(campaign):
        name = f"Variant {variant.label}"
        rows += [
            [f"{name}: sent", variant.sent, "", ""],
            [f"{name}: delivered", variant.delivered, csv_number(rate(variant.delivered, variant.sent)), ""],
            [f"{name}: read", variant.read, csv_number(rate(variant.read, variant.sent)), ""],
            [f"{name}: clicked (people)", variant.clicked, csv_number(variant.click_rate), ""],
            [f"{name}: converted", variant.conversions, csv_number(variant.conversion_rate), ""],
        ]
    return [*rows, ["A/B test", abtest.outcome(campaign) or "Testing: no winner yet", "", ""]]


class CampaignReportView(CampaignReportPermissionMixin, WagtailAdminTemplateMixin, TemplateView):
    """One campaign's report: the segment it was sent to, funnel, revenue, what a paid campaign
    cost, hourly reads and clicks, clicks per button."""

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
        cost = analytics.cost_of(campaign, counters)
        variants = variant_results(campaign) if campaign.ab_decide_at else None
        context = super().get_context_data(**kwargs)
        context["not_sent_url"] = reverse(f"{NAMESPACE}:campaign_not_sent", args=[campaign.pk])
        context.update(
            campaign=campaign,
            # The segment stored on the campaign is the one its audience was frozen with at start.
            segment=segments.label(campaign.segment) if campaign.segment else "",
            funnel=funnel(campaign, counters),
            variants=variants,
            ab_rest=bool(variants) and sum(v.drawn for v in variants) < campaign.audience_size,
            ab_outcome=abtest.outcome(campaign),
            cost=cost_context(cost) if cost else None,
            channels=channel_context(campaign, cost) if campaign.page.channel == Channel.PER_PERSON else None,
            insights_minutes=conf.get("PAID_INSIGHTS_MINUTES"),
            series=series,
            series_rows=[
                {"hour": i + 1, "at": series["start"] + timedelta(hours=i), "reads": r, "clicks": c}
                for i, (r, c) in enumerate(zip(series["reads"], series["clicks"], strict=True))
                if r or c
            ],
            series_hours=charts.hour_span(len(series["reads"]))[0],
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
