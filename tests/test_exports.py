"""Every CSV export keeps a client's text from running as a spreadsheet formula (OWASP's CSV
injection advice: a cell starting with =, +, -, @, tab or CR gets a leading quote)."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from onesend_plugin import analytics
from onesend_plugin.admin.exports import spreadsheet_safe
from onesend_plugin.models import Campaign

from .factories import CampaignFactory, MessengerPageFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1+cmd", "'+1+cmd"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Summer = sale", "Summer = sale"),
        ("-12.50", "-12.50"),  # a negative amount is a number, not a formula
        (-3, -3),
        (None, None),
    ],
)
def test_spreadsheet_safe(value, expected):
    assert spreadsheet_safe(value) == expected


@pytest.fixture
def page(db):
    return MessengerPageFactory(name="@Page")


def test_subscriber_export_neutralises_tags_and_refs(admin_client, page):
    subscriber = SubscriberFactory(page=page, source_ref="=ref()", customer_ref="+customer")
    subscriber.tags.add("@SUM(1)")
    rows = csv_rows(admin_client.get(reverse("onesend_subscribers:index"), {"export": "csv"}))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Tags"] == "'@SUM(1)"
    assert row["Source ref"] == "'=ref()"
    assert row["Customer ref"] == "'+customer"
    assert row["Page"] == "'@Page"


def test_campaign_listing_export_neutralises_names(admin_client, page):
    CampaignFactory(page=page, name="-2+3+cmd")
    rows = csv_rows(admin_client.get(reverse("wagtailsnippets_onesend_campaign:list"), {"export": "csv"}))
    assert rows[1][:2] == ["'-2+3+cmd", "'@Page"]


def test_performance_report_neutralises_currency_headings(admin_client, page):
    campaign = CampaignFactory(
        page=page, name="=1+1", status=Campaign.Status.FINISHED, started_at=timezone.now()
    )
    analytics.bump(campaign.pk, {"sent": 1, "revenue:=X": 500})
    rows = csv_rows(admin_client.get(reverse("onesend_reports:campaigns"), {"export": "csv"}))
    assert rows[0][-1] == "Revenue (=X)"  # "=" inside the cell: harmless
    assert rows[1][:2] == ["'=1+1", "'@Page"]
    funnel = csv_rows(admin_client.get(reverse("onesend_reports:campaign_csv", args=[campaign.pk])))
    assert ["Revenue (=X)", "5.00", "", ""] in funnel  # "=" inside the cell: harmless
