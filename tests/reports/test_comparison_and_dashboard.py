"""Campaign reports side by side: the comparison report with its filters, sorting and exports;
the dashboard panel; who may see the reports; and that none of it counts ledger rows. One
campaign's report is in ``tests/reports/test_campaign_report.py``."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from onesend_plugin import analytics
from onesend_plugin.admin import dashboard
from onesend_plugin.models import Campaign, Delivery, Membership, Subscriber

from ..factories import CampaignFactory, MessengerPageFactory, SubscriberFactory
from .helpers import REPORTS, csv_rows, sent_campaign, soup

pytestmark = pytest.mark.django_db


def user_with(django_user_model, *codenames, username="analyst"):
    user = django_user_model.objects.create_user(username, password="pw")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["access_admin", *codenames]))
    return user


def listed(response) -> list[str]:
    """The campaign names in the comparison report's table, in order."""
    return [a.get_text(strip=True) for a in soup(response).select("table.listing tbody td.title a")]


# -- The comparison report -----------------------------------------------------------------------------


@pytest.fixture
def three(page):
    """Three sent campaigns on two Pages, and a draft that was never sent."""
    other_page = MessengerPageFactory(name="Other Page")
    older = sent_campaign(page, name="Older", days_ago=40)
    newer = sent_campaign(page, name="Newer", days_ago=2)
    elsewhere = sent_campaign(other_page, name="Elsewhere", days_ago=20)
    CampaignFactory(page=page, name="Just a draft")
    analytics.bump(
        older.pk, {"sent": 100, "delivered": 90, "read": 50, "unique_clicks": 10, "conversions": 2}
    )
    analytics.bump(older.pk, {"revenue:EUR": 4000, "unsubscribed": 1})
    analytics.bump(
        newer.pk, {"sent": 200, "delivered": 200, "read": 20, "unique_clicks": 5, "revenue:USD": 990}
    )
    analytics.bump(
        elsewhere.pk, {"sent": 50, "delivered": 40, "read": 40, "unique_clicks": 30, "unsubscribed": 3}
    )
    return older, newer, elsewhere


def test_comparison_report_lists_sent_campaigns_with_their_rates(admin_client, three):
    response = admin_client.get(REPORTS)
    assert listed(response) == ["Newer", "Elsewhere", "Older"]  # newest first; the draft is not there
    page = soup(response)
    headings = [th.get_text(" ", strip=True) for th in page.select("table.listing thead th")]
    assert headings[:4] == ["Campaign", "Page", "Status", "Started"]
    assert headings[4:] == ["Sent", "Delivered", "Read", "Clicked", "Conversions", "Revenue", "Unsubscribed"]
    cells = {
        tr.select_one("td.title a").get_text(strip=True): [
            td.get_text(" ", strip=True) for td in tr.select("td")
        ][4:]
        for tr in page.select("table.listing tbody tr")
    }
    assert cells == {
        "Newer": ["200", "100.0%", "10.0%", "2.5%", "0", "9.90 USD", "0"],
        "Elsewhere": ["50", "80.0%", "80.0%", "60.0%", "0", "—", "3"],
        "Older": ["100", "90.0%", "50.0%", "10.0%", "2", "40.00 EUR", "1"],
    }
    older = three[0]
    links = {a.get_text(strip=True): a["href"] for a in page.select("table.listing tbody td.title a")}
    assert links["Older"] == f"/admin/messenger/reports/campaign/{older.pk}/"


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("read_rate", ["Newer", "Older", "Elsewhere"]),
        ("-read_rate", ["Elsewhere", "Older", "Newer"]),
        ("-sent_count", ["Newer", "Older", "Elsewhere"]),
        ("-click_rate", ["Elsewhere", "Older", "Newer"]),
        ("name", ["Elsewhere", "Newer", "Older"]),
        ("unsubscribed_count", ["Newer", "Older", "Elsewhere"]),
        ("started_at", ["Older", "Elsewhere", "Newer"]),
    ],
)
def test_comparison_report_sorts_by_any_column(admin_client, three, ordering, expected):
    assert listed(admin_client.get(REPORTS, {"ordering": ordering})) == expected


def test_comparison_report_filters_by_page_and_start_date(admin_client, page, three):
    assert listed(admin_client.get(REPORTS, {"page": page.pk})) == ["Newer", "Older"]
    today = timezone.localdate()
    window = {
        "started_at_from": (today - timedelta(days=30)).isoformat(),
        "started_at_to": (today - timedelta(days=5)).isoformat(),
    }
    assert listed(admin_client.get(REPORTS, window)) == ["Elsewhere"]
    assert listed(admin_client.get(REPORTS, {**window, "page": page.pk})) == []
    # the results-only URL Wagtail's filters refresh the listing with
    results = admin_client.get(reverse("onesend_reports:campaigns_results"), {"page": page.pk})
    assert listed(results) == ["Newer", "Older"]


EXPORT_HEADINGS = [
    "Campaign",
    "Page",
    "Status",
    "Started",
    "Audience",
    "Sent",
    "Delivered",
    "Delivered (% of sent)",
    "Read",
    "Read (% of sent)",
    "Clicked (people)",
    "Clicked (% of sent)",
    "Conversions",
    "Unsubscribed",
    "Revenue (EUR)",
    "Revenue (USD)",
]


def test_comparison_report_exports_csv_with_the_filtered_rows(admin_client, page, three):
    response = admin_client.get(REPORTS, {"export": "csv", "page": page.pk, "ordering": "name"})
    assert response.status_code == 200
    assert 'filename="campaign-performance.csv"' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0] == EXPORT_HEADINGS
    assert [row[:3] for row in rows[1:]] == [
        ["Newer", page.name, "Finished"],
        ["Older", page.name, "Finished"],
    ]
    assert [row[4:] for row in rows[1:]] == [
        ["1000", "200", "200", "100.0", "20", "10.0", "5", "2.5", "0", "0", "0.00", "9.90"],
        ["1000", "100", "90", "90.0", "50", "50.0", "10", "10.0", "2", "1", "40.00", "0.00"],
    ]


def test_comparison_report_exports_xlsx(admin_client, three):
    response = admin_client.get(REPORTS, {"export": "xlsx", "ordering": "-sent_count"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == EXPORT_HEADINGS
    assert [row[0] for row in rows[1:]] == ["Newer", "Older", "Elsewhere"]
    newer = dict(zip(EXPORT_HEADINGS, rows[1], strict=True))
    assert newer["Sent"] == 200 and newer["Read (% of sent)"] == 10.0
    assert float(newer["Revenue (USD)"]) == 9.9 and float(newer["Revenue (EUR)"]) == 0
    assert isinstance(newer["Started"], datetime)


# -- Dashboard -------------------------------------------------------------------------------------------


def test_dashboard_panel_shows_growth_and_latest_campaigns(admin_client, page, three):
    now = timezone.now()
    for days_ago in (0, 0, 1, 3, 29, 45):
        SubscriberFactory(page=page, opted_in_at=now - timedelta(days=days_ago))
    SubscriberFactory(page=page, status=Subscriber.Status.UNSUBSCRIBED, opted_in_at=now - timedelta(days=50))

    growth = dashboard.subscriber_growth()
    assert len(growth) == 30 and growth[-1] == (timezone.localdate(), 2)
    assert sum(n for _, n in growth) == 5

    html = soup(admin_client.get("/admin/"))
    panel = html.select_one("#onesend-messenger-section")
    assert panel is not None
    facts = {dd["data-value"]: dd.get_text(strip=True) for dd in panel.select("dd[data-value]")}
    assert facts == {"subscribed": "6", "unsubscribed": "1", "new": "5"}
    bars = panel.select("svg.onesend-chart--sparkline rect")
    assert len(bars) == 30 and bars[-1]["data-value"] == "2"
    assert panel.select_one("svg title").get_text() == "New subscribers per day, last 30 days"
    rows = panel.select("tbody tr")
    assert [r.select_one("a").get_text() for r in rows] == ["Newer", "Elsewhere", "Older"]
    newer = three[1]
    assert rows[0].select_one("a")["href"] == f"/admin/messenger/reports/campaign/{newer.pk}/"
    headers = [th.get_text(strip=True) for th in panel.select("thead th")][2:]
    assert headers == ["Sent (messages)", "Read (% of sent)", "Clicked (% of sent)", "Revenue"]
    assert [td.get_text(strip=True) for td in rows[0].select("td")][2:] == [
        "200",
        "10.0%",
        "2.5%",
        "9.90 USD",
    ]
    assert rows[0].select("td")[4]["title"] == "5 people clicked"
    assert html.find("link", href=re.compile(r"onesend_plugin/css/reports\.css"))


def test_a_flow_reads_active_on_the_dashboard_and_the_reports_as_on_the_flows_list(admin_client, page):
    flow = sent_campaign(
        page, name="Cart reminder", status=Campaign.Status.RUNNING, trigger_event="cart_abandoned"
    )
    flows = soup(admin_client.get("/admin/messenger/campaigns/flows/"))
    dashboard_row = soup(admin_client.get("/admin/")).select_one(
        f'#onesend-messenger-section [data-campaign="{flow.pk}"]'
    )
    report_row = soup(admin_client.get(REPORTS)).select_one("tbody tr")
    for shown in (flows.select_one("tbody tr"), dashboard_row, report_row):
        assert "Active" in shown.get_text(" ", strip=True) and "Sending" not in shown.get_text(
            " ", strip=True
        )


def test_the_not_sent_page_names_people_never_by_psid(admin_client, page):
    campaign = sent_campaign(page)
    named = SubscriberFactory(page=page, first_name="Ada", last_name="Lovelace")
    for person in (named, SubscriberFactory(page=page)):
        Delivery.objects.create(
            campaign=campaign,
            subscriber=person,
            page=page,
            psid=person.psid,
            state="skipped",
            reason="expired",
        )
    html = soup(admin_client.get(reverse("onesend_reports:campaign_not_sent", args=[campaign.pk])))
    people = [row.select_one("td a").get_text(strip=True) for row in html.select("tbody tr")]
    assert "Ada Lovelace" in people and any(p.startswith("Subscriber via") for p in people)
    assert named.psid not in html.get_text()


def test_dashboard_shows_only_the_last_five_campaigns(admin_client, page):
    for i in range(7):
        sent_campaign(page, name=f"Campaign {i}", days_ago=i + 1)
    rows = soup(admin_client.get("/admin/")).select("#onesend-messenger-section tbody tr")
    assert [r.select_one("a").get_text() for r in rows] == [f"Campaign {i}" for i in range(5)]


# -- Permissions ------------------------------------------------------------------------------------------


def report_urls(campaign):
    return [
        REPORTS,
        REPORTS + "?export=csv",
        REPORTS + "?export=xlsx",
        reverse("onesend_reports:campaigns_results"),
        reverse("onesend_reports:campaign", args=[campaign.pk]),
        reverse("onesend_reports:campaign_csv", args=[campaign.pk]),
    ]


def test_without_the_view_permission_reports_and_exports_are_denied(client, django_user_model, campaign):
    # may edit campaigns, not view their reports
    client.force_login(user_with(django_user_model, "add_campaign", "change_campaign"))
    for url in report_urls(campaign):
        response = client.get(url)
        assert (response.status_code, response.get("Location")) == (302, "/admin/"), url
        assert b"1,234.50" not in response.content
    home = client.get("/admin/")
    assert b"onesend-messenger-section" not in home.content
    assert b"onesend-campaign-performance" not in home.content  # no menu item
    # a missing campaign looks the same as an existing one
    response = client.get("/admin/messenger/reports/campaign/999999/")
    assert (response.status_code, response.get("Location")) == (302, "/admin/")


def test_anonymous_users_are_sent_to_the_login(client, campaign):
    for url in report_urls(campaign):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url


def test_the_view_permission_opens_reports_exports_menu_and_panel(client, django_user_model, campaign):
    user = user_with(django_user_model, "view_campaign")
    Membership.objects.create(user=user, account=campaign.page.account, role=Membership.Role.ANALYST)
    client.force_login(user)
    for url in report_urls(campaign):
        assert client.get(url).status_code == 200, url
    home = client.get("/admin/")
    assert b"onesend-messenger-section" in home.content
    assert b"onesend-campaign-performance" in home.content
    assert b"onesend-growth" not in home.content  # subscribers need their own view permission


# -- No ledger scans ----------------------------------------------------------------------------------------


def test_reports_read_counters_not_the_ledger(admin_client, django_assert_max_num_queries, campaign, three):
    sent_at = campaign.started_at
    Delivery.objects.bulk_create(
        [
            Delivery(
                campaign=campaign,
                page=campaign.page,
                psid=str(3_000_000 + i),
                state=Delivery.State.SENT,
                sent_at=sent_at,
                delivered_at=sent_at,
                read_at=sent_at if i % 2 else None,
            )
            for i in range(10_000)
        ],
        batch_size=2000,
    )
    assert Delivery.objects.count() == 10_000
    limits = {  # a page of the admin asks once whether a second account exists (the menu)
        reverse("onesend_reports:campaign", args=[campaign.pk]): 13,
        reverse("onesend_reports:campaign_csv", args=[campaign.pk]): 6,
        REPORTS: 13,
        REPORTS + "?export=csv": 8,
        REPORTS + "?export=xlsx": 8,
    }
    for url, limit in limits.items():
        admin_client.get(url)  # warm per-process caches (site, content types)
        with django_assert_max_num_queries(limit), CaptureQueriesContext(connection) as queries:
            response = get(admin_client, url)
        assert response.status_code == 200
        assert [q["sql"] for q in queries if Delivery._meta.db_table in q["sql"]] == [], url

    # The dashboard: Wagtail's own panels, plus seven queries of ours (four, the balance's
    # counters of campaigns and of the inbox, its Pages read only when one was active, and
    # whether a second account exists, for the menu).
    with CaptureQueriesContext(connection) as queries:
        assert get(admin_client, "/admin/").status_code == 200
    ours = [q["sql"] for q in queries if '"onesend_' in q["sql"]]
    assert len(ours) == 7 and not [sql for sql in ours if Delivery._meta.db_table in sql]


def get(client, url):
    response = client.get(url)
    if response.streaming:
        b"".join(response.streaming_content)
    return response


def test_comparison_report_costs_the_same_queries_for_more_campaigns(admin_client, page, three):
    def count():
        get(admin_client, REPORTS)
        with CaptureQueriesContext(connection) as queries:
            get(admin_client, REPORTS)
        return len(queries)

    before = count()
    for i in range(10):
        campaign = sent_campaign(page, name=f"More {i}")
        analytics.bump(campaign.pk, {"sent": 10, "read": i, "revenue:EUR": 100 * i, f"revenue:C{i:02d}": 1})
    assert count() == before
