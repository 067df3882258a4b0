"""The Messenger panel on the Wagtail dashboard: subscriber growth, the latest campaigns and each
Page's marketing-to-organic balance against Meta's frequency caps.

Shown only to users who may view campaigns (the same permission as the reports); the
subscriber part also needs the permission to view subscribers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from wagtail.admin.ui.components import Component
from wagtail.permissions import policy_registry

from ..accounts import scoping
from ..analytics import balance
from ..analytics.reports import percent, revenue_text, with_counters
from ..models import Campaign, MessengerPage, Subscriber
from . import charts
from .reports.base import CSS, NAMESPACE, can_view_reports

GROWTH_DAYS = 30
LATEST_CAMPAIGNS = 5


def subscribers(request=None):
    """The subscribers the panel counts: the user's accounts (the active one, if chosen); every
    account without a request (code outside a request, e.g. a management command)."""
    if request is None:
        return Subscriber.objects.all()
    return scoping.narrow(Subscriber.objects.all(), request)


def subscriber_growth(request=None, days: int = GROWTH_DAYS) -> list[tuple]:
    """New opt-ins per local day for the last ``days`` days, today included, zeros filled in:
    one GROUP BY on the indexed ``opted_in_at``."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, time.min))
    counts = dict(
        subscribers(request)
        .filter(opted_in_at__gte=since)
        .annotate(day=TruncDate("opted_in_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    return [(day, counts.get(day, 0)) for day in (first + timedelta(days=i) for i in range(days))]


def subscriber_totals(request=None) -> dict[str, int]:
    return dict(
        subscribers(request).order_by().values("status").annotate(n=Count("id")).values_list("status", "n")
    )


def latest_campaigns(request=None, limit: int = LATEST_CAMPAIGNS) -> list[Campaign]:
    campaigns = Campaign.objects.filter(started_at__isnull=False)
    if request is not None:
        campaigns = scoping.narrow(campaigns, request)
    return list(with_counters(campaigns.select_related("page")).order_by("-started_at", "-pk")[:limit])


def balance_rows(request) -> list[dict[str, Any]]:
    """Each of the user's Pages active in the last 7 days: its marketing-to-organic balance
    beside Meta's frequency caps (``analytics.balance``), and its trend as one column per day."""
    rows = []
    for found in balance.balances(scoping.narrow(MessengerPage.objects.all(), request)):
        # a day nobody wrote counts as one organic message, so marketing alone still stands out
        shares = [round(100 * day.marketing / max(day.organic, 1)) for day in found.days]
        rows.append(
            {
                "page": found.page,
                "day": _window(found.day, balance.DAILY_CAP),
                "week": _window(found.week, balance.WEEKLY_CAP),
                "wall": found.hit_the_wall,
                "trend": charts.column_sparkline(
                    [(_("day %(n)s of 7") % {"n": n}, share) for n, share in enumerate(shares, 1)],
                    chart_id=f"onesend-balance-{found.page.pk}",
                    title=_("Marketing messages per 100 organic messages, each of the last 7 days"),
                    desc=_("Oldest day first (a day without organic messages counts one); at most %(max)s.")
                    % {"max": max(shares)},
                    unit=_("per 100 organic messages"),
                    width=140,
                    height=40,
                ),
            }
        )
    return rows


def _window(window: balance.Window, cap: float) -> dict[str, Any]:
    share = window.share()
    return {
        "marketing": window.marketing,
        "organic": window.organic,
        "refused": window.refused,
        "share": percent(None if share is None else share * 100),
        "cap": percent(cap * 100),
        "over": window.over(cap),
    }


class MessengerDashboardPanel(Component):
    name = "onesend_messenger"
    template_name = "onesend_plugin/reports/dashboard_panel.html"
    order = 150  # after Wagtail's summary, before the lists of pages

    class Media:
        css = {"all": [CSS]}

    def get_context_data(self, parent_context: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        request = parent_context["request"]
        context: dict[str, Any] = {"request": request}
        if policy_registry.get_by_type(Subscriber).user_has_permission(request.user, "view"):
            growth = subscriber_growth(request)
            totals = subscriber_totals(request)
            new = sum(n for _, n in growth)
            context["growth"] = {
                "new": new,
                "subscribed": totals.get(Subscriber.Status.SUBSCRIBED, 0),
                "unsubscribed": totals.get(Subscriber.Status.UNSUBSCRIBED, 0),
                "chart": charts.column_sparkline(
                    [(date_format(day, "D j M"), n) for day, n in growth],
                    chart_id="onesend-growth",
                    title=_("New subscribers per day, last %(days)s days") % {"days": GROWTH_DAYS},
                    desc=_("%(new)s new subscribers in the last %(days)s days, at most %(max)s in a day.")
                    % {"new": f"{new:,}", "days": GROWTH_DAYS, "max": f"{max(n for _, n in growth):,}"},
                    unit=_("new subscribers"),
                ),
                "days": GROWTH_DAYS,
            }
        context["campaigns"] = [
            {
                "campaign": campaign,
                "report_url": reverse(f"{NAMESPACE}:campaign", args=[campaign.pk]),
                "read_rate": percent(campaign.read_rate),
                "click_rate": percent(campaign.click_rate),
                "revenue": revenue_text(campaign),
            }
            for campaign in latest_campaigns(request)
        ]
        context["all_url"] = reverse(f"{NAMESPACE}:campaigns")
        context["balance"] = balance_rows(request)
        context["balance_caps"] = {
            "day": round(balance.DAILY_CAP * 100),
            "week": round(balance.WEEKLY_CAP * 100),
        }
        return context


def add_panel(request, panels: list) -> None:
    """For ``construct_homepage_panels``."""
    if can_view_reports(request.user):
        panels.append(MessengerDashboardPanel())
