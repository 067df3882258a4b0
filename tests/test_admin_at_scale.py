"""The admin does not notice how much data there is: each view of ``bench/admin.py`` (the campaign
report, the campaigns report, the subscriber list filtered and searched, the dashboard panel, the
campaign confirm step) runs as many SQL queries with ten times the subscribers, tags, ledger rows
and campaigns. ``bench/admin.py`` measures their time at 10 k and 1 M; this counts queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from onesend_plugin import analytics
from onesend_plugin.models import Campaign, Delivery, Subscriber

from .factories import CampaignFactory, MarketingTokenFactory, SubscriberFactory

TAGS = ("vip", "newsletter", "spring")


def grow(page, campaigns: list[Campaign], people: int) -> None:
    """``people`` more subscribers with a token, named "N<i>", every other one tagged, and a sent
    ledger row for each of them in every started campaign (with its counters)."""
    first = Subscriber.objects.filter(page=page).count()
    added = []
    for i in range(first, first + people):
        subscriber = SubscriberFactory(page=page, last_name=f"N{i}", source_ref=f"link-{i % 4}")
        MarketingTokenFactory(subscriber=subscriber)
        if i % 2:
            subscriber.tags.add(TAGS[i % 3])
        added.append(subscriber)
    Delivery.objects.bulk_create(
        Delivery(
            campaign=campaign,
            subscriber=subscriber,
            page=page,
            psid=subscriber.psid,
            state=Delivery.State.SENT,
            sent_at=campaign.started_at,
            read_at=campaign.started_at,
        )  # fmt: skip
        for subscriber in added
        for campaign in campaigns
    )
    for campaign in campaigns:
        analytics.bump(campaign.pk, {"sent": people, "delivered": people, "read": people})


def started(page, name: str) -> Campaign:
    now = timezone.now()
    return CampaignFactory(
        page=page, name=name, status=Campaign.Status.FINISHED, started_at=now, finished_at=now
    )


def urls(report: Campaign, draft: Campaign) -> list[str]:
    return [
        f"/admin/messenger/reports/campaign/{report.pk}/",
        "/admin/messenger/reports/campaigns/",
        "/admin/messenger/subscribers/",
        "/admin/messenger/subscribers/?status=subscribed&tag=vip",
        "/admin/messenger/subscribers/?q=N1",
        "/admin/",
        f"/admin/messenger/campaigns/send/{draft.pk}/",
    ]


def query_counts(client, addresses: list[str]) -> dict[str, int]:
    """Each view's queries on its second request (per-process caches warm)."""
    counts = {}
    for url in addresses:
        assert client.get(url).status_code == 200, url
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200, url
        counts[url] = len(queries)
    return counts


@pytest.mark.django_db
def test_the_admin_views_cost_the_same_queries_with_ten_times_the_data(admin_client, page):
    campaigns = [started(page, f"Sent {i}") for i in range(2)]
    draft = CampaignFactory(page=page, name="To confirm")
    grow(page, campaigns, 4)
    addresses = urls(campaigns[0], draft)
    before = query_counts(admin_client, addresses)

    campaigns += [started(page, f"Sent {i}") for i in range(2, 20)]
    grow(page, campaigns, 40)
    assert query_counts(admin_client, addresses) == before


@pytest.mark.django_db
def test_the_subscriber_list_counts_its_people_once_for_its_status_counts_and_its_pages(admin_client, page):
    SubscriberFactory.create_batch(3, page=page)
    SubscriberFactory(page=page, status=Subscriber.Status.UNSUBSCRIBED)
    admin_client.get("/admin/messenger/subscribers/")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/messenger/subscribers/")
    counting = [q["sql"] for q in queries if "COUNT(" in q["sql"] and 'FROM "onesend_subscriber"' in q["sql"]]
    assert len(counting) == 1, counting
    assert response.context["items_count"] == 4
    assert [(str(label), n) for label, n in response.context["status_counts"]] == [
        ("Subscribed", 3),
        ("Unsubscribed", 1),
    ]


@pytest.mark.django_db
def test_the_tag_filter_of_someone_who_sees_every_subscriber_reads_no_subscriber(admin_client, page):
    SubscriberFactory(page=page).tags.add("vip")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/messenger/subscribers/")
    choices = [q["sql"] for q in queries if 'FROM "taggit_tag"' in q["sql"]]
    assert choices and not [sql for sql in choices if '"onesend_subscriber"' in sql]
    assert [tag.name for tag in response.context["filters"].form.fields["tag"].queryset] == ["vip"]
