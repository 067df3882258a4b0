"""Who a paid campaign skipped or holds back, and when they can be messaged again, shown person by
person in the campaign report (and linked from its progress page), over the simulator's HTTP."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from onesend_plugin import broadcast
from onesend_plugin.models import Campaign, Subscriber

from .factories import CampaignFactory
from .test_paid_channel import message_elsewhere

pytestmark = pytest.mark.django_db(transaction=True)


def not_sent_rows(admin_client, campaign) -> dict[str, tuple[str, str, str]]:
    """The "Not sent" page's table (linked from the report): psid → (outcome, reason, details)."""
    page = admin_client.get(reverse("onesend_reports:campaign_not_sent", args=[campaign.pk]))
    table = BeautifulSoup(page.content, "html.parser").select_one('[data-testid="not-sent-people"]')
    return {
        row["data-psid"]: tuple(td.get_text(strip=True) for td in row.select("td")[1:])
        for row in (table.select("tbody tr") if table else [])
    }


def test_a_second_campaign_right_away_shows_each_person_skipped_with_when_they_are_eligible(
    simulator, paid_page, make_subscribers, admin_client
):
    people = make_subscribers(paid_page, 2)
    first = CampaignFactory(page=paid_page)
    broadcast.start(first)
    last = {p.pk: Subscriber.objects.get(pk=p.pk).last_marketing_at for p in people}
    second = CampaignFactory(page=paid_page)
    broadcast.start(second)
    second.refresh_from_db()
    assert second.status == Campaign.Status.FINISHED
    shown = not_sent_rows(admin_client, second)
    hours = round(paid_page.cooldown.total_seconds() / 3600)  # the Page's frequency cap
    assert shown == {
        p.psid: (
            "Skipped",
            "Got a marketing message too recently",
            f"Eligible again from {last[p.pk] + paid_page.cooldown:%Y-%m-%d %H:%M} UTC "
            f"(one marketing message per person per {hours} h).",
        )
        for p in people
    }
    url = reverse("onesend_reports:campaign_not_sent", args=[second.pk])
    for linked_from in (
        f"/admin/messenger/campaigns/inspect/{second.pk}/",  # its progress page
        reverse("onesend_reports:campaign", args=[second.pk]),  # its report's "Not sent"
    ):
        html = BeautifulSoup(admin_client.get(linked_from).content, "html.parser")
        assert html.select_one('[data-testid="not-sent-link"]')["href"] == url


def test_meta_s_12_hours_show_as_a_skip_with_its_time_or_a_queued_person_with_theirs(
    simulator, paid_page, make_subscribers, admin_client
):
    skipped, waiting = make_subscribers(paid_page, 2)
    skipped_at, waiting_at = message_elsewhere(paid_page, skipped), message_elsewhere(paid_page, waiting)
    open_ended = CampaignFactory(page=paid_page)
    broadcast.start(open_ended)
    assert not_sent_rows(admin_client, open_ended)[waiting.psid] == (
        "Queued",
        "—",
        f"Sent from {date_format(timezone.localtime(waiting_at), 'DATETIME_FORMAT')}",
    )
    expiring = CampaignFactory(page=paid_page, expires_at=timezone.now() + timedelta(hours=1))
    broadcast.start(expiring)
    assert not_sent_rows(admin_client, expiring)[skipped.psid] == (
        "Skipped",
        "Meta's paid messages reach a person once in 12 hours",
        f"Meta takes their next paid message from {skipped_at:%Y-%m-%d %H:%M} UTC.",
    )
