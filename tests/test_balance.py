"""The dashboard's marketing-to-organic balance: each Page's marketing messages per message people
sent it, over the last 24 hours and 7 days, against Meta's frequency caps (changelog 2026-04-10);
the wall once Meta's caps refused someone; a client's users see their own Pages only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.utils import timezone
from wagtail.models import Locale
from wagtail.models import Page as WagtailPage

from onesend_plugin import analytics, broadcast
from onesend_plugin.analytics.balance import Window, balances, count_organic
from onesend_plugin.analytics.counters import Kind, per_minute
from onesend_plugin.models import Campaign, InboxCount, MessengerPage

from . import payloads
from .factories import CampaignFactory
from .fixtures.tenants import assert_no_leak, body


def ms(at) -> int:
    return int(at.timestamp() * 1000)


def write(post_webhook, page, n: int, at) -> None:
    """``n`` people's messages to the Page at ``at``, through the webhook endpoint."""
    events = []
    for i in range(n):
        event = payloads.message(page.page_id, f"90{i}", "Do you ship to Lyon?")
        event["timestamp"] = ms(at)
        events.append(event)
    post_webhook(page.app, payloads.body(payloads.entry(page.page_id, *events)))


def campaign_sent(page, **minutes_ago: int) -> Campaign:
    """A campaign of ``page`` whose ledger rows became sent at these times (its ``sent@``
    counters, as the sender bumps them)."""
    now = timezone.now()
    campaign = CampaignFactory(page=page, status=Campaign.Status.RUNNING, started_at=now - timedelta(days=9))
    analytics.bump(
        campaign.pk,
        {per_minute(Kind.SENT, now - timedelta(minutes=int(k[1:]))): n for k, n in minutes_ago.items()},
    )
    return campaign


def balance_rows(response) -> dict[str, dict[str, str]]:
    assert response.status_code == 200
    rows = BeautifulSoup(response.content, "html.parser").select(".onesend-dashboard__balance tbody tr")
    return {
        row.select_one("td.title").contents[0].strip(): {
            cell["data-balance"]: cell.get_text(" ", strip=True) for cell in row.select("[data-balance]")
        }
        for row in rows
    }


@pytest.mark.django_db
def test_the_panel_shows_each_window_against_metas_caps(admin_client, page, post_webhook, sent):
    now = timezone.now()
    campaign_sent(page, m30=10, m4320=20, m11520=500)  # 30 min, 3 days and 8 days ago (outside the week)
    write(post_webhook, page, 20, now - timedelta(hours=1))
    write(post_webhook, page, 180, now - timedelta(days=2))
    write(post_webhook, page, 50, now - timedelta(days=10))
    assert sum(InboxCount.objects.values_list("messages", flat=True)) == 250

    [found] = balances(MessengerPage.objects.all())
    assert found.day == Window(marketing=10, organic=20)
    assert found.week == Window(marketing=30, organic=200)
    assert [d.marketing for d in found.days] == [0, 0, 0, 20, 0, 0, 10]
    assert found.day.over(0.40) and not found.week.over(0.20)

    row = balance_rows(admin_client.get("/admin/"))[page.name]
    assert row == {
        "over": "Above Meta's frequency caps on average: expect refusals.",
        "day-counts": "10 / 20",
        "day-share": "50.0%",
        "week-counts": "30 / 200",
        "week-share": "15.0%",
        "refused": "0 / 0",
    }
    html = body(admin_client.get("/admin/"))
    assert "exceed 40% of their organic conversations over a day, or 20% over 7 days" in html
    bars = BeautifulSoup(html, "html.parser").select(f"#onesend-balance-{page.pk} rect")
    assert [bar["data-value"] for bar in bars] == ["0", "0", "0", "2000", "0", "0", "50"]


@pytest.mark.django_db
def test_a_page_without_activity_this_week_is_not_listed(admin_client, page):
    campaign_sent(page, m11520=500)
    count_organic(page.pk, timezone.now() - timedelta(days=8))
    html = body(admin_client.get("/admin/"))
    assert balance_rows(admin_client.get("/admin/")) == {}
    assert "No Page sent a marketing message or received a message in the last 7 days." in html


@pytest.fixture
def wagtail_root(db):
    """Transactional tests flush the database, Wagtail's root page too; its dashboard needs one."""
    if WagtailPage.get_first_root_node() is None:
        locale, _ = Locale.objects.get_or_create(language_code="en")
        WagtailPage.add_root(instance=WagtailPage(title="Root", slug="root", locale=locale))


@pytest.mark.django_db(transaction=True)
def test_a_refusal_by_metas_frequency_caps_shows_the_wall(
    admin_client, wagtail_root, simulator, paid_page, make_subscribers
):
    """The paid API's frequency caps (API References 2300042-2300044) refuse one person: the row
    is skipped ``meta_frequency_cap`` and the Page's row on the dashboard shows the wall."""
    capped, fine = make_subscribers(paid_page, 2)
    simulator.refuse_sends(capped.psid, 2300043, count=3)
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    assert campaign.deliveries.get(subscriber=capped).reason == "meta_frequency_cap"

    response = admin_client.get("/admin/")
    row = balance_rows(response)[paid_page.name]
    assert (
        row["wall"]
        == "Meta refused 1 person for frequency in the last 7 days: this Page has hit Meta's frequency caps."
    )
    assert (row["refused"], row["day-counts"], row["day-share"]) == ("1 / 1", "1 / 0", "—")


@pytest.mark.django_db
def test_a_client_sees_the_balance_of_its_own_pages_only(client_a, alpha, bravo):
    for client in (alpha, bravo):
        campaign_sent(client.page, m5=3)
        count_organic(client.page.pk, timezone.now())
    response = client_a.get("/admin/")
    assert list(balance_rows(response)) == [alpha.page.name]
    assert_no_leak(response, bravo, "dashboard balance")
