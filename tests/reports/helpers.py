"""What the report tests share: the reports' URL, a campaign sent days ago with a message of
three buttons, and reading a report page or export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from bs4 import BeautifulSoup
from django.utils import timezone

from onesend_plugin.analytics.counters import hour as hour_bucket
from onesend_plugin.models import Campaign

from ..factories import CampaignFactory

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


def soup(response) -> BeautifulSoup:
    assert response.status_code == 200, response.content.decode()[:2000]
    return BeautifulSoup(response.content, "html.parser")


def csv_rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))
