"""Campaign reports: one campaign's funnel, hourly chart and clicks per button; the comparison
report with its filters, sorting and exports; the dashboard panel; who may see them; and that
none of it counts ledger rows. The last test drives the report in a real browser."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import openpyxl
import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from onesend_plugin import analytics
from onesend_plugin.admin import charts, dashboard
from onesend_plugin.admin.reports import campaign as campaign_report
from onesend_plugin.analytics import reports
from onesend_plugin.analytics.counters import hour as hour_bucket
from onesend_plugin.models import Campaign, Delivery, Membership, Subscriber
from tests.fixtures.browser import PASSWORD, artifacts_folder

from .factories import CampaignFactory, MessengerPageFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
REPORTS = "/admin/messenger/reports/campaigns/"

BUTTON_MESSAGE = {
    "body": {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": "Summer sale",
                "buttons": [
                    {"type": "web_url", "url": "https://shop.example/sale", "title": "Shop now"},
                    {"type": "postback", "payload": "X", "title": "Not a link"},
                    {"type": "web_url", "url": "https://shop.example/blog", "title": "Read more"},
                ],
            },
        },
        "quick_replies": [{"content_type": "text", "title": "Unsubscribe", "payload": "UNSUB"}],
    }
}


def at_hour(campaign: Campaign, offset: int) -> str:
    return hour_bucket(campaign.started_at + timedelta(hours=offset))


def sent_campaign(page, *, name="Summer sale", days_ago=10, **fields) -> Campaign:
    started = timezone.now() - timedelta(days=days_ago)
    defaults = {
        "status": Campaign.Status.FINISHED,
        "audience_size": 1000,
        "started_at": started.replace(minute=20),
        "finished_at": started + timedelta(hours=1),
        "message": BUTTON_MESSAGE,
    }
    return CampaignFactory(page=page, name=name, **{**defaults, **fields})


@pytest.fixture
def campaign(page):
    campaign = sent_campaign(page)
    analytics.bump(
        campaign.pk,
        {
            "sent": 900,
            "delivered": 850,
            "read": 600,
            "clicks": 150,
            "unique_clicks": 120,
            "conversions": 30,
            "unsubscribed": 9,
            "revenue:EUR": 123450,
            "revenue:USD": 5000,
            "button:0": 100,
            "button:1": 50,
            f"read@{at_hour(campaign, 0)}": 400,
            f"read@{at_hour(campaign, 1)}": 150,
            f"read@{at_hour(campaign, 5)}": 50,
            f"read@{at_hour(campaign, 80)}": 7,  # after the 72 h window: not charted
            f"click@{at_hour(campaign, 0)}": 90,
            f"click@{at_hour(campaign, 2)}": 60,
            "failed:outside_window": 40,
            "skipped:frequency_cap": 50,
            "unknown": 10,
        },
    )
    return campaign


def user_with(django_user_model, *codenames, username="analyst"):
    user = django_user_model.objects.create_user(username, password="pw")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["access_admin", *codenames]))
    return user


def soup(response) -> BeautifulSoup:
    assert response.status_code == 200, response.content.decode()[:2000]
    return BeautifulSoup(response.content, "html.parser")


def listed(response) -> list[str]:
    """The campaign names in the comparison report's table, in order."""
    return [a.get_text(strip=True) for a in soup(response).select("table.listing tbody td.title a")]


def csv_rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


# -- One campaign ------------------------------------------------------------------------------------


def test_funnel_numbers_and_rates_come_from_the_counters(campaign):
    data = reports.funnel(campaign, analytics.stats(campaign))
    steps = {s.key: (s.value, s.of_sent, s.of_previous) for s in data.steps}
    assert steps["audience"] == (1000, None, None)
    assert steps["sent"] == (900, pytest.approx(90.0), pytest.approx(90.0))
    assert steps["delivered"] == (850, pytest.approx(94.444, abs=1e-3), pytest.approx(94.444, abs=1e-3))
    assert steps["read"] == (600, pytest.approx(66.667, abs=1e-3), pytest.approx(70.588, abs=1e-3))
    assert steps["clicked"] == (120, pytest.approx(13.333, abs=1e-3), pytest.approx(20.0))
    assert steps["converted"] == (30, pytest.approx(3.333, abs=1e-3), pytest.approx(25.0))
    assert data.clicks == 150
    assert (data.unsubscribed.value, data.unsubscribed.of_sent) == (9, pytest.approx(1.0))
    assert [(r.currency, r.display) for r in data.revenue] == [("EUR", "1,234.50 EUR"), ("USD", "50.00 USD")]
    assert [(o.kind, o.reason, o.value, o.of_audience) for o in data.not_sent] == [
        ("failed", "outside_window", 40, pytest.approx(4.0)),
        ("skipped", "frequency_cap", 50, pytest.approx(5.0)),
        ("unknown", "", 10, pytest.approx(1.0)),
    ]


def test_an_empty_campaign_has_no_rates_instead_of_dividing_by_zero(page):
    draft = CampaignFactory(page=page)
    data = reports.funnel(draft, analytics.stats(draft))
    assert [s.value for s in data.steps] == [0, 0, 0, 0, 0, 0]
    assert all(s.of_sent is None and s.of_previous is None for s in data.steps)
    assert data.steps[1].of_sent_display == "—"


def test_campaign_report_page_shows_funnel_revenue_failures_chart_and_buttons(admin_client, campaign):
    url = reverse("onesend_reports:campaign", args=[campaign.pk])
    assert url == f"/admin/messenger/reports/campaign/{campaign.pk}/"
    page = soup(admin_client.get(url))

    def row(step):
        tr = page.select_one(f'[data-testid=funnel] tr[data-step="{step}"]')
        return (
            tr.select_one("[data-value]")["data-value"],
            tr.select_one('[data-rate="of_sent"]').get_text(strip=True) if step != "audience" else None,
            tr.select_one('[data-rate="of_previous"]').get_text(strip=True)
            if step != "unsubscribed"
            else None,
        )

    assert row("audience") == ("1000", None, "—")
    assert row("sent") == ("900", "90.0%", "90.0%")
    assert row("delivered") == ("850", "94.4%", "94.4%")
    assert row("read") == ("600", "66.7%", "70.6%")
    assert row("clicked") == ("120", "13.3%", "20.0%")
    assert row("converted") == ("30", "3.3%", "25.0%")
    assert row("unsubscribed") == ("9", "1.0%", None)
    assert "150 clicks in all" in page.select_one('tr[data-step="clicked"]').get_text()
    assert [li.get_text(strip=True) for li in page.select("[data-testid=revenue] li")] == [
        "1,234.50 EUR",
        "50.00 USD",
    ]
    outcomes = {
        tr["data-outcome"]: [td.get_text(strip=True) for td in tr.select("td")]
        for tr in page.select("[data-testid=not-sent] tbody tr")
    }
    assert outcomes == {
        "failed:outside_window": ["Failed", "Outside their 24 h window", "40", "4.0%"],
        "skipped:frequency_cap": ["Skipped", "Got a marketing message too recently", "50", "5.0%"],
        "unknown:": ["Unknown (lost in a crash)", "—", "10", "1.0%"],
    }
    chart = page.select_one("[data-testid=hourly-chart] svg")
    assert chart is not None and chart["role"] == "img"
    assert [tr.select("td")[0].get_text() for tr in page.select("[data-testid=buttons] tbody tr")] == [
        "1. Shop now",
        "2. Read more",
    ]
    assert [td.get_text(strip=True) for td in page.select('[data-button="1"] td')][2:] == ["100", "66.7%"]
    assert [td.get_text(strip=True) for td in page.select('[data-button="2"] td')][2:] == ["50", "33.3%"]
    assert page.select_one("[data-testid=buttons-chart] svg") is not None
    csv_link = page.select_one(f'a[href="{reverse("onesend_reports:campaign_csv", args=[campaign.pk])}"]')
    assert csv_link.get_text(strip=True) == "Download CSV"


def test_hourly_chart_draws_both_series_with_a_legend_and_an_accessible_title(campaign):
    counters = analytics.stats(campaign)
    series = reports.hourly(campaign, counters)
    assert len(series["reads"]) == 72 and sum(series["reads"]) == 600  # the read 80 h later is left out
    svg = ET.fromstring(str(campaign_report.hourly_chart(campaign, series)))

    title_id, desc_id = svg.get("aria-labelledby").split()
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").get("id") == title_id
    assert svg.find(f"{SVG}title").text == "Reads and clicks per hour: Summer sale"
    assert svg.find(f"{SVG}desc").get("id") == desc_id
    assert "600 reads, peak 400 in hour 1; 150 clicks, peak 90 in hour 1" in svg.find(f"{SVG}desc").text

    legend = svg.find(f".//{SVG}g[@class='onesend-chart__legend']")
    assert [t.text for t in legend.iter(f"{SVG}text")] == ["Reads", "Clicks"]

    box = charts.LINE_BOX
    step = box.plot_width / 72

    def x(bucket):
        return box.left + (bucket + 0.5) * step

    def y(value, top=400):  # y axis ticks 0, 100, …, 400
        return box.baseline - value / top * box.plot_height

    for key, expected in (("reads", {0: 400, 1: 150, 5: 50}), ("clicks", {0: 90, 2: 60})):
        group = svg.find(f".//{SVG}g[@data-series='{key}']")
        points = [tuple(map(float, p.split(","))) for p in group.find(f"{SVG}polyline").get("points").split()]
        assert len(points) == 72
        for bucket, (px, py) in enumerate(points):
            assert px == pytest.approx(x(bucket), abs=0.06)
            assert py == pytest.approx(y(expected.get(bucket, 0)), abs=0.06)
        dots = {int(c.get("data-bucket")): int(c.get("data-value")) for c in group.iter(f"{SVG}circle")}
        assert dots == expected
    tooltip = svg.find(f".//{SVG}g[@data-series='reads']/{SVG}circle/{SVG}title").text
    assert tooltip.startswith("Hour 1 (") and tooltip.endswith(": 400 reads")
    y_labels = [t.text for t in svg.find(f"{SVG}g").iter(f"{SVG}text")]
    assert ["0", "100", "200", "300", "400"] == y_labels[:5]
    assert ["0 h", "12 h", "24 h", "36 h", "48 h", "60 h", "72 h"] == y_labels[5:12]


def test_a_campaign_sent_an_hour_ago_charts_only_the_hours_so_far(page):
    campaign = sent_campaign(page, days_ago=0, started_at=timezone.now() - timedelta(minutes=70))
    analytics.bump(campaign.pk, {f"read@{hour_bucket(campaign.started_at)}": 3})
    series = reports.hourly(campaign, analytics.stats(campaign))
    assert 2 <= len(series["reads"]) <= 3 and series["reads"][0] == 3
    svg = ET.fromstring(str(campaign_report.hourly_chart(campaign, series)))
    points = svg.find(f".//{SVG}g[@data-series='reads']/{SVG}polyline").get("points").split()
    assert len(points) == len(series["reads"])
    # The axis follows the campaign's age: its first 6 hours, not a dot at the edge of 72.
    x_labels = [t.text for t in svg.find(f"{SVG}g").iter(f"{SVG}text") if t.text.endswith(" h")]
    assert x_labels == ["0 h", "1 h", "2 h", "3 h", "4 h", "5 h", "6 h"]
    first_x = float(points[0].split(",")[0])
    assert first_x == pytest.approx(charts.LINE_BOX.left + 0.5 * charts.LINE_BOX.plot_width / 6, abs=0.06)
    assert "first 6 hours" in str(campaign_report.hourly_chart(campaign, series))


@pytest.mark.parametrize(
    ("hours", "span"), [(1, (6, 1)), (7, (12, 2)), (24, (24, 4)), (30, (48, 8)), (72, (72, 12))]
)
def test_the_hourly_axis_is_the_shortest_span_holding_the_hours_so_far(hours, span):
    assert charts.hour_span(hours) == span


def test_chart_text_is_escaped():
    svg = charts.line_chart(
        [charts.Series("a", "<b>A</b>", [1, 2], "#000")],
        chart_id="c",
        title='<script>alert("x")</script>',
        desc="d & e",
        x_tick_every=1,
        x_tick_label=str,
        point_label=str,
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    ET.fromstring(str(svg))  # well-formed


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (400, [0, 100, 200, 300, 400]),
        (950, [0, 250, 500, 750, 1000]),
    ],
)
def test_nice_ticks(maximum, ticks):
    assert charts.nice_ticks(maximum) == ticks


def test_campaign_csv_holds_the_funnel(admin_client, campaign):
    response = admin_client.get(reverse("onesend_reports:campaign_csv", args=[campaign.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="campaign-{campaign.pk}-summer-sale.csv"' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[:7] == [
        ["Metric", "Value", "% of sent", "% of previous step"],
        ["Audience", "1000", "", ""],
        ["Sent", "900", "90.0", "90.0"],
        ["Delivered", "850", "94.4", "94.4"],
        ["Read", "600", "66.7", "70.6"],
        ["Clicked (people)", "120", "13.3", "20.0"],
        ["Converted", "30", "3.3", "25.0"],
    ]
    assert rows[7:] == [
        ["Clicks (all)", "150", "16.7", ""],
        ["Revenue (EUR)", "1234.50", "", ""],
        ["Revenue (USD)", "50.00", "", ""],
        ["Unsubscribed after it", "9", "1.0", ""],
        ["Failed: Outside their 24 h window", "40", "", ""],
        ["Skipped: Got a marketing message too recently", "50", "", ""],
        ["Unknown (lost in a crash)", "10", "", ""],
        ["Clicks on button 1 (Shop now)", "100", "", ""],
        ["Clicks on button 2 (Read more)", "50", "", ""],
    ]


def test_csv_cells_never_start_a_formula(admin_client, page):
    campaign = sent_campaign(page, name="=HYPERLINK(1)")
    campaign.message = {
        "body": {
            "attachment": {"payload": {"buttons": [{"type": "web_url", "url": "https://x", "title": "+1"}]}}
        }
    }
    campaign.save()
    rows = csv_rows(admin_client.get(reverse("onesend_reports:campaign_csv", args=[campaign.pk])))
    assert rows[-1][0] == "Clicks on button 1 (+1)"  # not at the start of the cell: harmless
    rows = csv_rows(admin_client.get(REPORTS + "?export=csv"))
    assert rows[1][0] == "'=HYPERLINK(1)"


def test_report_of_a_missing_campaign_is_404(admin_client):
    assert admin_client.get("/admin/messenger/reports/campaign/999999/").status_code == 404


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


# -- In a browser ---------------------------------------------------------------------------------------------


@pytest.fixture
def browser_page(request, signed_in):
    """A superuser's browser tab, signed in to the admin; ``page.shot(name)`` saves a screenshot."""
    folder = artifacts_folder(request)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)
    # Transactional tests flush the database, Wagtail's root page too; its dashboard needs one.
    from wagtail.models import Locale
    from wagtail.models import Page as WagtailPage

    if WagtailPage.get_first_root_node() is None:
        locale, _ = Locale.objects.get_or_create(language_code="en")
        WagtailPage.add_root(instance=WagtailPage(title="Root", slug="root", locale=locale))
    page = signed_in(user, viewport={"width": 1280, "height": 900}, accept_downloads=True)

    def shot(name):
        """The admin scrolls inside its layout, so grow the viewport to the page first."""
        height = page.evaluate(
            "() => Math.max(...[document.body, ...document.querySelectorAll('main, main *')]"
            ".map((e) => e.scrollHeight))"
        )
        page.set_viewport_size({"width": 1280, "height": max(900, min(height + 40, 4000))})
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

    page.shot = shot
    page.folder = folder
    return page


@pytest.fixture
def report_campaign(page):
    """A sent campaign with every kind of counter, and an older one to compare it with. Created
    before the browser starts: ORM calls made while Playwright's sync API runs get a database
    connection of their own that nothing closes."""
    campaign = sent_campaign(page)
    older = sent_campaign(page, name="Spring sale", days_ago=30)
    analytics.bump(older.pk, {"sent": 400, "delivered": 380, "read": 200, "unique_clicks": 50})
    counters = {"sent": 900, "delivered": 850, "read": 600, "clicks": 150, "unique_clicks": 120}
    counters |= {"conversions": 30, "revenue:EUR": 123450, "button:0": 100, "button:1": 50}
    counters |= {"failed:outside_window": 40, "skipped:frequency_cap": 50, "unsubscribed": 9}
    for hour, (reads, clicks) in enumerate([(300, 60), (150, 40), (80, 25), (40, 15), (20, 6), (10, 4)]):
        counters |= {f"read@{at_hour(campaign, hour)}": reads, f"click@{at_hour(campaign, hour)}": clicks}
    counters |= {f"read@{at_hour(campaign, 26)}": 30}
    analytics.bump(campaign.pk, counters)
    SubscriberFactory.create_batch(3, page=page)
    return campaign


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_campaign_report_in_a_browser(report_campaign, browser_page, live_server):
    from playwright.sync_api import expect

    campaign = report_campaign
    tab = browser_page
    tab.goto(f"{live_server.url}/admin/")
    expect(tab.locator("#onesend-messenger-section tbody tr")).to_have_count(2)
    tab.shot("01-dashboard")
    expect(tab.locator("#onesend-messenger-section")).to_be_visible()
    expect(tab.locator("#onesend-growth")).to_be_visible()

    tab.goto(f"{live_server.url}{REPORTS}")
    expect(tab.get_by_role("heading", name="Campaign performance")).to_be_visible()
    expect(tab.locator("table.listing tbody tr")).to_have_count(2)
    tab.shot("02-comparison")

    tab.get_by_role("link", name="Summer sale").click()
    tab.wait_for_url(f"{live_server.url}/admin/messenger/reports/campaign/{campaign.pk}/")
    chart = tab.locator("svg#onesend-hourly")
    expect(chart).to_be_visible()
    expect(chart.locator("polyline")).to_have_count(2)
    expect(chart.locator("g.onesend-chart__legend text")).to_have_text(["Reads", "Clicks"])
    expect(tab.get_by_role("img", name="Reads and clicks per hour: Summer sale")).to_be_visible()
    box = chart.bounding_box()
    assert box["width"] > 500 and box["height"] > 150
    reads_line = chart.locator("g[data-series=reads] polyline").bounding_box()
    assert reads_line["height"] > 100  # a line that actually rises and falls, not a flat zero
    expect(tab.locator('[data-testid=funnel] tr[data-step="read"] [data-rate="of_previous"]')).to_have_text(
        "70.6%"
    )
    expect(tab.locator("svg#onesend-buttons rect")).to_have_count(2)
    tab.shot("03-campaign-report")

    with tab.expect_download() as info:
        tab.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename == f"campaign-{campaign.pk}-summer-sale.csv"
    target = browser_page.folder / download.suggested_filename
    download.save_as(target)
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0] == ["Metric", "Value", "% of sent", "% of previous step"]
    assert ["Read", "600", "66.7", "70.6"] in rows
    assert ["Revenue (EUR)", "1234.50", "", ""] in rows
    assert ["Clicks on button 1 (Shop now)", "100", "", ""] in rows


def test_the_series_starts_at_the_utc_hour_sending_started(page):
    campaign = sent_campaign(page, started_at=datetime(2024, 6, 1, 14, 59, tzinfo=dt_timezone.utc))
    assert reports.series_start(campaign) == datetime(2024, 6, 1, 14, 0, tzinfo=dt_timezone.utc)
