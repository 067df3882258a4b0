"""The agency overview's figures: every client account on one page — subscribers and their
growth, campaigns in flight, recent errors, and the Pages that need attention.

Each figure is one grouped query over all accounts (maintained campaign counters for failed
sends), so it costs the same handful of queries for 3 clients or 300.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..analytics.counters import Kind, prefix
from ..models import Account, Campaign, CampaignStat, MessengerPage, Subscriber, WebhookEvent

#: Growth compares the subscribers who opted in during the last period with the one before.
GROWTH_PERIOD = timedelta(days=30)
#: Errors counted: failed sends of campaigns active, and failed webhook events, this recently.
ERROR_PERIOD = timedelta(days=7)
#: A connected Page that has sent us no webhook for this long may have lost its subscription.
WEBHOOK_SILENCE = timedelta(days=7)

IN_FLIGHT = (Campaign.Status.RUNNING, Campaign.Status.SCHEDULED, Campaign.Status.PAUSED)


def overview(now=None) -> list[dict]:
    """One row per account, the most urgent first (Pages needing attention, then errors)."""
    now = now or timezone.now()
    rows = {account.pk: _empty_row(account) for account in Account.objects.order_by("name")}
    _add_subscribers(rows, now)
    _add_campaigns_in_flight(rows)
    _add_errors(rows, now - ERROR_PERIOD)
    for page in pages_needing_attention(now):
        rows[page.account_id]["attention"].append((page, problem_of(page, now)))
    result = list(rows.values())
    for row in result:
        row["in_flight"] = [
            (label, row["in_flight"][value])
            for value, label in Campaign.Status.choices
            if row["in_flight"][value]
        ]
        row["growth"] = row["new"] - row["previous"]
    result.sort(key=lambda row: (not row["attention"], -(row["failed_sends"] + row["failed_events"])))
    return result


def _empty_row(account: Account) -> dict:
    return {
        "account": account,
        "subscribed": 0,
        "new": 0,
        "previous": 0,
        "in_flight": defaultdict(int),
        "failed_sends": 0,
        "failed_events": 0,
        "attention": [],
    }


def _add_subscribers(rows: dict[int, dict], now) -> None:
    """Subscribed now, and opted in during this growth period and the one before."""
    growth_start, previous_start = now - GROWTH_PERIOD, now - 2 * GROWTH_PERIOD
    subscribers = (
        Subscriber.objects.filter(opted_in_at__isnull=False)
        .values("page__account")
        .annotate(
            subscribed=Count("pk", filter=Q(status=Subscriber.Status.SUBSCRIBED)),
            new=Count("pk", filter=Q(opted_in_at__gte=growth_start)),
            previous=Count("pk", filter=Q(opted_in_at__gte=previous_start, opted_in_at__lt=growth_start)),
        )
        .order_by()
    )
    for row in subscribers:
        rows[row["page__account"]].update(
            subscribed=row["subscribed"], new=row["new"], previous=row["previous"]
        )


def _add_campaigns_in_flight(rows: dict[int, dict]) -> None:
    campaigns = (
        Campaign.objects.filter(status__in=IN_FLIGHT)
        .values("page__account", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in campaigns:
        rows[row["page__account"]]["in_flight"][row["status"]] = row["n"]


def _add_errors(rows: dict[int, dict], errors_since) -> None:
    """Failed sends (campaign counters) of campaigns active since, and failed webhook events."""
    failed_sends = (
        CampaignStat.objects.filter(name__startswith=prefix(Kind.FAILED))
        .filter(Q(campaign__status__in=IN_FLIGHT) | Q(campaign__finished_at__gte=errors_since))
        .values("campaign__page__account")
        .annotate(n=Sum("value"))
        .order_by()
    )
    for row in failed_sends:
        rows[row["campaign__page__account"]]["failed_sends"] = row["n"] or 0

    failed_events = (
        WebhookEvent.objects.filter(
            state=WebhookEvent.State.FAILED, received_at__gte=errors_since, page__isnull=False
        )
        .values("page__account")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in failed_events:
        rows[row["page__account"]]["failed_events"] = row["n"]


def pages_needing_attention(now):
    """Paused Pages (e.g. a revoked token), Pages whose last connection check found a problem
    (``onboarding.check_health``), and Pages Meta has not written to for long."""
    silent = now - WEBHOOK_SILENCE
    return MessengerPage.objects.filter(
        Q(status=MessengerPage.Status.PAUSED)
        | Q(health__token_valid=False)
        | Q(health__app_subscribed=False)
        | (Q(health__has_key="permissions_missing") & ~Q(health__permissions_missing=[]))
        | Q(last_webhook_at__lt=silent)
        | Q(last_webhook_at__isnull=True, created_at__lt=silent)
    ).order_by("name")


def problem_of(page: MessengerPage, now) -> str:
    if page.status == MessengerPage.Status.PAUSED:
        return _("Paused: %(reason)s") % {"reason": page.status_reason or _("no reason given")}
    if page.health.get("token_valid") is False:
        return _("The Page token no longer works")
    if page.health.get("permissions_missing"):
        return _("Permissions missing: %(names)s") % {"names": ", ".join(page.health["permissions_missing"])}
    if page.health.get("app_subscribed") is False:
        return _("The app is not subscribed to the Page's webhooks")
    if page.last_webhook_at is None:
        return _("No webhook received since it was connected")
    days = (now - page.last_webhook_at).days
    return _("No webhook for %(days)s days") % {"days": days}
