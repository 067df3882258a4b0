"""The report of one campaign: its funnel, hourly chart and clicks per button, on the page and
in its CSV export. The last test drives the report in a real browser. The comparison report,
the dashboard and who may see them are in ``tests/reports/test_comparison_and_dashboard.py``."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.urls import reverse
from django.utils import timezone

from onesend_plugin import analytics
from onesend_plugin.admin import charts
from onesend_plugin.admin.reports import campaign as campaign_report
from onesend_plugin.analytics import reports
from onesend_plugin.analytics.counters import hour as hour_bucket
from tests.fixtures.browser import PASSWORD, artifacts_folder

from ..factories import CampaignFactory, SubscriberFactory
from .helpers import REPORTS, at_hour, csv_rows, sent_campaign, soup

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


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
