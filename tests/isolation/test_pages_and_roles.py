"""Agencies: what a client sees is its own (counts, forms, suggestions, choices, history), roles
limit what a member may change, and agency staff see every client or narrow to one with the switcher.
"""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Permission

from onesend_plugin import blocks, broadcast
from onesend_plugin.accounts import scoping
from onesend_plugin.accounts.groups import CLIENT_GROUP, ensure_client_group
from onesend_plugin.models import Membership, Subscriber, SubscriptionLink, WebhookEvent

from ..fixtures.tenants import assert_no_leak, body, client_user, denied

pytestmark = pytest.mark.django_db


# -- Counts, forms and choices: A's own, never B's --------------------------------------------------------


def test_counts_are_the_clients_own(client_a, alpha, bravo):
    html = body(client_a.get("/admin/messenger/subscribers/"))
    assert f"Subscribed: {len(alpha.subscribers)}" in html
    assert f"Subscribed: {len(alpha.subscribers) + len(bravo.subscribers)}" not in html

    home = client_a.get("/admin/")
    assert home.status_code == 200
    html = body(home)
    assert alpha.campaign.name in html
    assert_no_leak(home, bravo, "dashboard")
    panel = BeautifulSoup(html, "html.parser").select_one("#onesend-messenger-section")
    facts = {dd["data-value"]: dd.get_text(strip=True) for dd in panel.select("dd[data-value]")}
    assert facts["subscribed"] == str(len(alpha.subscribers))

    # the audience count only counts the client's own Pages
    audience = "/admin/messenger/campaigns/audience/"
    own = client_a.get(audience, {"page": alpha.page.pk}).json()
    assert own == {"count": len(alpha.subscribers), "error": ""}
    assert client_a.get(audience, {"page": bravo.page.pk}).status_code == 400
    assert client_a.get(f"{audience}{alpha.campaign.pk}/", {"page": bravo.page.pk}).status_code == 400


def test_forms_offer_and_accept_only_own_pages(client_a, alpha, bravo):
    for url in ("/admin/messenger/campaigns/add/", "/admin/messenger/links/new/"):
        html = body(client_a.get(url))
        assert alpha.page.name in html and bravo.page.name not in html, url
    response = client_a.post(
        "/admin/messenger/links/new/", {"page": bravo.page.pk, "name": "Sneaky", "ref": "sneaky", "tags": ""}
    )
    assert response.status_code == 200 and "Select a valid choice" in body(response)
    assert not SubscriptionLink.objects.filter(name="Sneaky").exists()
    response = client_a.post(
        "/admin/messenger/links/new/", {"page": alpha.page.pk, "name": "Mine", "ref": "mine", "tags": ""}
    )
    assert response.status_code == 302
    assert SubscriptionLink.objects.get(name="Mine").page == alpha.page
    # filters: the Page filter lists only the client's Pages, as do the report's
    for url in (
        "/admin/messenger/subscribers/",
        "/admin/messenger/reports/campaigns/",
        "/admin/messenger/links/",
    ):
        html = body(client_a.get(url))
        assert alpha.page.name in html and bravo.page.name not in html, url
    # filtering by another client's Page shows nothing of it
    response = client_a.get("/admin/messenger/subscribers/", {"page": bravo.page.pk})
    assert_no_leak(response, bravo, "filter by B's page")


def test_the_send_test_suggestions_are_the_campaigns_page_subscribers(client_a, alpha, bravo):
    html = body(client_a.get(f"/admin/messenger/campaigns/send_test/{alpha.campaign.pk}/"))
    assert alpha.subscriber.psid in html
    response = client_a.post(
        f"/admin/messenger/campaigns/send_test/{alpha.campaign.pk}/", {"subscriber": bravo.subscriber.psid}
    )
    assert response.status_code == 200 and "Choose a subscriber of this Page" in body(response)


def test_subscribe_block_offers_the_editors_own_pages(user_a, alpha, bravo):
    scoping.set_current_user(user_a)
    try:
        assert blocks.messenger_page_choices() == [(str(alpha.page.pk), alpha.page.name)]
    finally:
        scoping.set_current_user(None)
    assert len(blocks.messenger_page_choices()) == 2  # outside the page editor: every Page


def test_webhook_events_of_unknown_pages_are_agency_only(client_a, alpha, bravo):
    orphan = WebhookEvent.objects.create(
        delivery=alpha.event.delivery,
        page=None,
        page_external_id="999",
        kind="message",
        psid="5550000000000000",
        dedupe_key="orphan",
        payload={},
    )
    assert "5550000000000000" not in body(client_a.get("/admin/messenger/inbox/"))
    assert denied(client_a.get(f"/admin/messenger/inbox/inspect/{orphan.pk}/"))


def test_clients_cannot_create_accounts_or_see_meta_apps(client_a, alpha):
    assert denied(client_a.get("/admin/messenger/accounts/new/"))
    assert denied(client_a.get("/admin/messenger/apps/"))
    assert denied(client_a.get(f"/admin/messenger/apps/edit/{alpha.app.pk}/"))
    menu = body(client_a.get("/admin/"))
    assert "/admin/messenger/apps/" not in menu


# -- Roles -----------------------------------------------------------------------------------------------


@pytest.fixture
def engine(monkeypatch):
    calls = []
    for name in ("start", "pause", "resume", "cancel", "retry_unknown", "send_test"):
        monkeypatch.setattr(
            broadcast, name, lambda campaign, *a, _name=name, **k: calls.append((_name, campaign.pk))
        )
    return calls


def role_client(client, django_user_model, client_group, alpha, role):
    user = client_user(django_user_model, client_group, [(alpha.account, role)], username=f"{role}-user")
    client.force_login(user)
    return client


def test_an_analyst_views_but_changes_nothing(client, django_user_model, client_group, alpha, bravo, engine):
    c = role_client(client, django_user_model, client_group, alpha, Membership.Role.ANALYST)
    campaign, subscriber = alpha.campaign, alpha.subscriber
    for url in (
        "/admin/messenger/campaigns/",
        f"/admin/messenger/campaigns/inspect/{campaign.pk}/",
        f"/admin/messenger/reports/campaign/{campaign.pk}/",
        f"/admin/messenger/reports/campaign/{campaign.pk}/csv/",
        "/admin/messenger/subscribers/?export=csv",
        f"/admin/messenger/subscribers/inspect/{subscriber.pk}/",
        f"/admin/messenger/campaigns/progress/{campaign.pk}/",
    ):
        assert c.get(url).status_code == 200, url
    inspect = body(c.get(f"/admin/messenger/campaigns/inspect/{campaign.pk}/"))
    assert "/send/" not in inspect and "/send_test/" not in inspect
    before = alpha.fingerprint()
    for url in (
        f"/admin/messenger/campaigns/send/{campaign.pk}/",
        f"/admin/messenger/campaigns/pause/{campaign.pk}/",
        f"/admin/messenger/campaigns/send_test/{campaign.pk}/",
        f"/admin/messenger/campaigns/edit/{campaign.pk}/",
        f"/admin/messenger/subscribers/erase/{subscriber.pk}/",
        f"/admin/messenger/subscribers/unsubscribe/{subscriber.pk}/",
        f"/admin/messenger/subscribers/edit/{subscriber.pk}/",
        f"/admin/messenger/links/edit/{alpha.link.pk}/",
        "/admin/messenger/links/new/",
    ):
        assert denied(c.post(url, {"name": "Changed", "subscriber": subscriber.psid})), url
    assert alpha.fingerprint() == before and engine == []


def test_an_editor_edits_and_tests_but_does_not_send_or_erase(
    client, django_user_model, client_group, alpha, bravo, engine
):
    c = role_client(client, django_user_model, client_group, alpha, Membership.Role.EDITOR)
    campaign, subscriber = alpha.campaign, alpha.subscriber
    assert c.get(f"/admin/messenger/campaigns/edit/{campaign.pk}/").status_code == 200
    inspect = body(c.get(f"/admin/messenger/campaigns/inspect/{campaign.pk}/"))
    assert f"/send_test/{campaign.pk}/" in inspect and f"/pause/{campaign.pk}/" not in inspect
    response = c.post(f"/admin/messenger/campaigns/send_test/{campaign.pk}/", {"subscriber": subscriber.psid})
    assert response.status_code == 302 and engine == [("send_test", campaign.pk)]
    response = c.post(
        f"/admin/messenger/links/edit/{alpha.link.pk}/",
        {"page": alpha.page.pk, "name": "Renamed link", "ref": alpha.link.ref, "tags": ""},
    )
    assert response.status_code == 302
    assert SubscriptionLink.objects.get(pk=alpha.link.pk).name == "Renamed link"
    for url in (
        f"/admin/messenger/campaigns/send/{campaign.pk}/",
        f"/admin/messenger/campaigns/pause/{campaign.pk}/",
        f"/admin/messenger/campaigns/cancel/{campaign.pk}/",
        f"/admin/messenger/subscribers/erase/{subscriber.pk}/",
    ):
        assert denied(c.post(url)), url
    assert engine == [("send_test", campaign.pk)]
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()


def test_a_client_admin_sends_and_erases_in_their_account(client_a, alpha, engine):
    inspect = body(client_a.get(f"/admin/messenger/campaigns/inspect/{alpha.campaign.pk}/"))
    assert f"/pause/{alpha.campaign.pk}/" in inspect
    assert client_a.post(f"/admin/messenger/campaigns/pause/{alpha.campaign.pk}/").status_code == 302
    assert engine == [("pause", alpha.campaign.pk)]
    erase = f"/admin/messenger/subscribers/erase/{alpha.subscriber.pk}/"
    assert client_a.get(erase).status_code == 200
    assert client_a.post(erase).status_code == 302
    assert not Subscriber.objects.filter(pk=alpha.subscriber.pk).exists()


def test_removing_the_membership_takes_effect_at_once(client_a, user_a, alpha):
    url = f"/admin/messenger/campaigns/inspect/{alpha.campaign.pk}/"
    assert client_a.get(url).status_code == 200
    Membership.objects.filter(user=user_a).delete()
    assert denied(client_a.get(url))
    assert alpha.campaign.name not in body(client_a.get("/admin/messenger/campaigns/"))


# -- Agency staff and the account switcher -------------------------------------------------------------


@pytest.fixture
def agency(client, django_user_model, client_group, alpha, bravo):
    user = client_user(django_user_model, client_group, [], username="agency")
    user.user_permissions.add(Permission.objects.get(codename="access_all_accounts"))
    client.force_login(user)
    return client


def test_agency_staff_see_every_client(agency, alpha, bravo):
    for url in (
        "/admin/messenger/campaigns/",
        "/admin/messenger/reports/campaigns/",
        "/admin/messenger/accounts/",
    ):
        html = body(agency.get(url))
        assert alpha.label in html and bravo.label in html, url
    for owner in (alpha, bravo):
        assert agency.get(f"/admin/messenger/campaigns/inspect/{owner.campaign.pk}/").status_code == 200


def test_the_account_switcher_narrows_listings_and_reports(agency, alpha, bravo):
    assert "Account: all" in body(agency.get("/admin/"))
    response = agency.post("/admin/messenger/account/", {"account": alpha.account.pk, "next": "/admin/"})
    assert response.status_code == 302 and agency.session[scoping.SESSION_KEY] == alpha.account.pk
    assert f"Account: {alpha.account.name}" in body(agency.get("/admin/"))
    for url in (
        "/admin/messenger/campaigns/",
        "/admin/messenger/subscribers/",
        "/admin/messenger/reports/campaigns/",
        "/admin/messenger/subscribers/?export=csv",
        "/admin/",
    ):
        response = agency.get(url)
        assert alpha.label in body(response), url
        assert_no_leak(response, bravo, url)
    agency.post("/admin/messenger/account/", {"account": ""})
    assert bravo.label in body(agency.get("/admin/messenger/campaigns/"))


def test_a_client_cannot_switch_to_someone_elses_account(client_a, alpha, bravo):
    response = client_a.post("/admin/messenger/account/", {"account": bravo.account.pk})
    assert scoping.SESSION_KEY not in client_a.session
    assert response.status_code == 302
    session = client_a.session
    session[scoping.SESSION_KEY] = bravo.account.pk  # even if the session says so
    session.save()
    assert alpha.campaign.name in body(client_a.get("/admin/messenger/campaigns/"))
    assert_no_leak(client_a.get("/admin/messenger/campaigns/"), bravo, "forged session")


def test_the_client_group_is_idempotent(db):
    first = ensure_client_group()
    second = ensure_client_group()
    assert first == second and first.name == CLIENT_GROUP
    codenames = set(first.permissions.values_list("codename", flat=True))
    assert {
        "access_admin",
        "view_campaign",
        "send_campaign",
        "erase_subscriber",
        "publish_campaign",
    } <= codenames
    assert "access_all_accounts" not in codenames and "view_metaapp" not in codenames


def test_site_history_shows_no_other_clients_log_entries(client_a, alpha, bravo):
    from wagtail.log_actions import log

    log(bravo.campaign, "wagtail.edit")
    log(alpha.campaign, "wagtail.edit")
    response = client_a.get("/admin/reports/site-history/")
    assert response.status_code == 200
    assert alpha.campaign.name in body(response)
    assert_no_leak(response, bravo, "site history")
    assert_no_leak(client_a.get("/admin/reports/site-history/?export=csv"), bravo, "site history CSV")
