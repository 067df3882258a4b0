"""Agencies, the agency overview: for agency staff only, every client with its Pages, campaigns
and failed connection checks, in the same number of queries however many clients."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from onesend_plugin.models import (
    Campaign,
    CampaignStat,
    Membership,
    MessengerPage,
    WebhookDelivery,
    WebhookEvent,
)

from .agency_helpers import denied
from .factories import AccountFactory, CampaignFactory, MessengerPageFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


# -- The agency overview ------------------------------------------------------------------------------


def populate(account, n_subscribers=3, paused=False):
    page = MessengerPageFactory(
        account=account,
        last_webhook_at=timezone.now(),
        status=MessengerPage.Status.PAUSED if paused else MessengerPage.Status.ACTIVE,
        status_reason="token revoked" if paused else "",
    )
    now = timezone.now()
    for i in range(n_subscribers):
        SubscriberFactory(page=page, opted_in_at=now - timedelta(days=10 if i else 45))
    campaign = CampaignFactory(page=page, status=Campaign.Status.RUNNING)
    CampaignStat.objects.create(campaign=campaign, name="failed:error_100", value=2)
    webhook = WebhookDelivery.objects.create(app=page.app, body=b"{}", headers={})
    WebhookEvent.objects.create(
        delivery=webhook,
        page=page,
        page_external_id=page.page_id,
        kind="message",
        dedupe_key=f"e{page.pk}",
        payload={},
        state=WebhookEvent.State.FAILED,
    )
    return page


def test_the_overview_is_for_agency_staff_only(client, member, acme):
    client.force_login(member(acme, Membership.Role.ADMIN))
    assert denied(client.get("/admin/messenger/agency/"))
    assert "/admin/messenger/agency/" not in client.get("/admin/").content.decode()


def test_a_single_business_sees_no_agency_menu_until_a_second_account_exists(admin_client, acme):
    """One account (a single-site install): nothing to switch between, no clients to overview."""
    agency_items = ("/admin/messenger/agency/", "/admin/messenger/account/", "Account: all")
    home = admin_client.get("/admin/").content.decode()
    assert not [item for item in agency_items if item in home]
    AccountFactory(name="Globex", slug="globex")
    home = admin_client.get("/admin/").content.decode()
    assert [item for item in agency_items if item in home] == list(agency_items)


def test_the_overview_shows_every_client(client, agency_user, acme, globex):
    populate(acme, 3)
    paused = populate(globex, 2, paused=True)
    client.force_login(agency_user)
    assert "/admin/messenger/agency/" in client.get("/admin/").content.decode()
    response = client.get("/admin/messenger/agency/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme" in html and "Globex" in html and "Paused: token revoked" in html and paused.name in html
    rows = {row["account"].slug: row for row in response.context["rows"]}
    assert rows["acme"]["subscribed"] == 3 and rows["acme"]["new"] == 2 and rows["acme"]["previous"] == 1
    assert rows["acme"]["failed_sends"] == 2 and rows["acme"]["failed_events"] == 1
    assert rows["acme"]["in_flight"] == [("Sending", 1)]
    assert [p for p, _ in rows["globex"]["attention"]] == [paused] and rows["acme"]["attention"] == []
    assert response.context["rows"][0]["account"] == globex  # needing attention first


@pytest.mark.parametrize(
    "health, problem",
    [
        ({"token_valid": False}, "The Page token no longer works"),
        (
            {"token_valid": True, "permissions_missing": ["pages_messaging"]},
            "Permissions missing: pages_messaging",
        ),
        ({"token_valid": True, "permissions_missing": [], "app_subscribed": False}, "not subscribed"),
    ],
)
def test_the_overview_lists_pages_whose_connection_check_failed(client, agency_user, acme, health, problem):
    sick = populate(acme)
    healthy = populate(acme)
    MessengerPage.objects.filter(pk=sick.pk).update(health=health)
    MessengerPage.objects.filter(pk=healthy.pk).update(
        health={"token_valid": True, "permissions_missing": [], "app_subscribed": True}
    )
    client.force_login(agency_user)
    response = client.get("/admin/messenger/agency/")
    [row] = response.context["rows"]
    assert [page for page, _ in row["attention"]] == [sick]
    assert problem in response.content.decode()


def test_the_overview_costs_the_same_queries_for_more_clients(client, agency_user, acme, globex):
    populate(acme)
    populate(globex, paused=True)
    client.force_login(agency_user)
    client.get("/admin/messenger/agency/")  # warm caches (content types, permissions)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/admin/messenger/agency/").status_code == 200
        return len(queries)

    few = count()
    for i in range(5):
        populate(AccountFactory(name=f"More {i}", slug=f"more-{i}"), paused=i % 2 == 0)
    assert count() == few
