"""Agencies: per-account settings, inviting client users, managing members, the agency overview,
client-owned Wagtail Sites."""

from __future__ import annotations

import re
from datetime import time, timedelta
from decimal import Decimal
from smtplib import SMTPConnectError
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from wagtail.models import ModelLogEntry, Page, Site
from wagtail.test.utils.form_data import nested_form_data, rich_text, streamfield

from example_site.home.models import ContentPage
from onesend_plugin import analytics, blocks, broadcast
from onesend_plugin.accounts import scoping
from onesend_plugin.accounts.groups import ensure_client_group
from onesend_plugin.models import (
    Account,
    Campaign,
    CampaignStat,
    Channel,
    Click,
    Delivery,
    Invitation,
    Membership,
    MessengerPage,
    OptinCTA,
    WebhookDelivery,
    WebhookEvent,
)

from .factories import AccountFactory, CampaignFactory, MessengerPageFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_group(db):
    return ensure_client_group()


@pytest.fixture
def acme(db):
    return AccountFactory(name="Acme", slug="acme")


@pytest.fixture
def globex(db):
    return AccountFactory(name="Globex", slug="globex")


@pytest.fixture
def member(django_user_model, client_group):
    def make(account, role, username=None, email=""):
        user = django_user_model.objects.create_user(
            username or f"{role}-{account.slug}", email, password="pw"
        )
        user.groups.add(client_group)
        Membership.objects.create(user=user, account=account, role=role)
        return user

    return make


@pytest.fixture
def agency_user(django_user_model, client_group):
    user = django_user_model.objects.create_user("agency", "agency@example.com", password="pw")
    user.groups.add(client_group)
    user.user_permissions.add(Permission.objects.get(codename="access_all_accounts"))
    return user


def denied(response) -> bool:
    return response.status_code in (403, 404) or (
        response.status_code == 302 and response["Location"] == "/admin/"
    )


# -- Per-account settings ---------------------------------------------------------------------------


def test_frequency_cap_page_then_account_then_site(acme, settings):
    settings.ONESEND = {**settings.ONESEND, "FREQUENCY_CAP_HOURS": 24}
    page = MessengerPageFactory(account=acme)
    assert page.cooldown == timedelta(hours=24)
    acme.frequency_cap_hours = 48
    acme.save()
    page = MessengerPage.objects.get(pk=page.pk)
    assert page.cooldown == timedelta(hours=48)
    page.frequency_cap_hours = 72
    assert page.cooldown == timedelta(hours=72)


def test_the_engine_applies_the_accounts_frequency_cap(acme):
    acme.frequency_cap_hours = 48
    acme.save()
    page = MessengerPageFactory(account=acme)
    now = timezone.now()
    recent = SubscriberFactory(page=page, last_marketing_at=now - timedelta(hours=30))
    old = SubscriberFactory(page=page, last_marketing_at=now - timedelta(hours=50))
    allowed = broadcast.claim_cooldown([recent.pk, old.pk], now, page)
    assert allowed == {old.pk}  # 30 h ago is inside the account's 48 h, outside the site's 24 h


def _clicked(page, days_ago: float, customer_ref: str):
    subscriber = SubscriberFactory(page=page, customer_ref=customer_ref)
    campaign = CampaignFactory(page=page)
    at = timezone.now() - timedelta(days=days_ago)
    delivery = Delivery.objects.create(
        campaign=campaign, subscriber=subscriber, page=page, psid=subscriber.psid, state="sent", sent_at=at
    )
    Click.objects.create(delivery=delivery, campaign=campaign, subscriber=subscriber, button=0, at=at)
    return campaign, delivery


def test_attribution_windows_are_the_accounts(acme, globex, settings):
    settings.ONESEND = {**settings.ONESEND, "ATTRIBUTION_CLICK_DAYS": 7, "ATTRIBUTION_READ_DAYS": 0}
    acme.attribution_click_days = 2
    acme.save()
    globex.attribution_click_days = 30
    globex.attribution_read_days = 5
    globex.save()
    acme_page, globex_page = MessengerPageFactory(account=acme), MessengerPageFactory(account=globex)
    _clicked(acme_page, 4, "acme-1")  # within the site's 7 days, not Acme's 2
    late, _ = _clicked(globex_page, 20, "globex-1")  # within Globex's 30 days only
    conversion = analytics.record_conversion(
        account=acme, order_id="A1", value="10", currency="EUR", customer_ref="acme-1"
    )
    assert conversion.campaign is None
    conversion = analytics.record_conversion(
        account=globex, order_id="G1", value="10", currency="EUR", customer_ref="globex-1"
    )
    assert conversion.campaign == late and conversion.via == "click"

    # read window: Globex's 5 days, while the site's is off
    subscriber = SubscriberFactory(page=globex_page, customer_ref="globex-2")
    read_campaign = CampaignFactory(page=globex_page)
    Delivery.objects.create(
        campaign=read_campaign,
        subscriber=subscriber,
        page=globex_page,
        psid=subscriber.psid,
        state="sent",
        read_at=timezone.now() - timedelta(days=3),
    )
    conversion = analytics.record_conversion(
        account=globex, order_id="G2", value="5", currency="EUR", customer_ref="globex-2"
    )
    assert conversion.campaign == read_campaign and conversion.via == "read"
    assert CampaignStat.objects.get(campaign=read_campaign, name="revenue:EUR").value == 500


def test_attribution_falls_back_to_the_site_setting(acme, settings):
    settings.ONESEND = {**settings.ONESEND, "ATTRIBUTION_CLICK_DAYS": 7}
    campaign, _ = _clicked(MessengerPageFactory(account=acme), 4, "acme-2")
    conversion = analytics.record_conversion(
        account=acme, order_id="A2", value=Decimal("3"), currency="EUR", customer_ref="acme-2"
    )
    assert conversion.campaign == campaign


def test_new_pages_take_the_accounts_optin_defaults(acme):
    acme.optin_title = "Acme deals"
    acme.optin_cta = OptinCTA.SIGN_UP
    acme.optin_image_url = "https://acme.example/logo.png"
    acme.welcome_message = "Welcome to Acme!"
    acme.save()
    page = MessengerPageFactory(account=acme)
    assert (page.optin_title, page.optin_cta, page.optin_image_url, page.welcome_message) == (
        "Acme deals",
        OptinCTA.SIGN_UP,
        "https://acme.example/logo.png",
        "Welcome to Acme!",
    )
    own = MessengerPageFactory(account=acme, optin_title="Our news", welcome_message="Hi!")
    assert (own.optin_title, own.welcome_message, own.optin_cta) == ("Our news", "Hi!", OptinCTA.SIGN_UP)
    # later changes of the account never move an existing Page's topic
    acme.optin_title = "Renamed"
    acme.save()
    page.save()
    assert MessengerPage.objects.get(pk=page.pk).optin_title == "Acme deals"


def test_new_campaigns_take_the_accounts_quiet_hours(acme):
    acme.quiet_hours_start, acme.quiet_hours_end = time(21), time(8)
    acme.save()
    page = MessengerPageFactory(account=acme)
    campaign = CampaignFactory(page=page)
    assert (campaign.quiet_hours_start, campaign.quiet_hours_end) == (time(21), time(8))
    own = CampaignFactory(page=page, quiet_hours_start=time(22), quiet_hours_end=time(7))
    assert own.quiet_hours_start == time(22)
    campaign.quiet_hours_start = campaign.quiet_hours_end = None  # cleared on edit: stays cleared
    campaign.save()
    assert Campaign.objects.get(pk=campaign.pk).quiet_hours_start is None


def account_form(account, **changes):
    data = {
        "name": account.name,
        "slug": account.slug,
        "timezone": account.timezone,
        "events_secret": account.events_secret,
        "shopify_secret": "",
        "frequency_cap_hours": "",
        "attribution_click_days": "",
        "attribution_read_days": "",
        "optin_title": "",
        "optin_cta": "",
        "optin_image_url": "",
        "welcome_message": "",
        "quiet_hours_start": "",
        "quiet_hours_end": "",
    }
    data.update(changes)
    return data


def test_a_client_admin_edits_their_accounts_settings(client, member, acme, globex):
    client.force_login(member(acme, Membership.Role.ADMIN))
    listing = client.get("/admin/messenger/accounts/").content.decode()
    assert f"/admin/messenger/accounts/{acme.pk}/members/" in listing
    url = f"/admin/messenger/accounts/edit/{acme.pk}/"
    assert client.get(url).status_code == 200
    response = client.post(url, account_form(acme, frequency_cap_hours="48", attribution_click_days="3"))
    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.frequency_cap_hours, acme.attribution_click_days) == (48, 3)
    response = client.post(url, account_form(acme, quiet_hours_start="22:00"))
    assert response.status_code == 200 and "Set both or neither" in response.content.decode()
    assert client.get(f"/admin/messenger/accounts/edit/{globex.pk}/").status_code == 404
    assert (
        client.post(f"/admin/messenger/accounts/edit/{globex.pk}/", account_form(globex)).status_code == 404
    )


@pytest.mark.parametrize("role", [Membership.Role.EDITOR, Membership.Role.ANALYST])
def test_editors_and_analysts_cannot_change_account_settings(client, member, acme, role):
    client.force_login(member(acme, role))
    listing = client.get("/admin/messenger/accounts/")
    assert listing.status_code == 200 and "/members/" not in listing.content.decode()
    url = f"/admin/messenger/accounts/edit/{acme.pk}/"
    assert denied(client.get(url))
    assert denied(client.post(url, account_form(acme, frequency_cap_hours="99")))
    acme.refresh_from_db()
    assert acme.frequency_cap_hours is None


def test_only_the_agency_assigns_sites(client, member, agency_user, acme, globex):
    site = Site.objects.get(is_default_site=True)
    client.force_login(member(acme, Membership.Role.ADMIN))
    client.post(f"/admin/messenger/accounts/edit/{acme.pk}/", account_form(acme, sites=[site.pk]))
    assert not acme.sites.exists()  # the field is read-only for a client admin

    client.force_login(agency_user)
    response = client.post(f"/admin/messenger/accounts/edit/{acme.pk}/", account_form(acme, sites=[site.pk]))
    assert response.status_code == 302 and list(acme.sites.all()) == [site]
    response = client.post(
        f"/admin/messenger/accounts/edit/{globex.pk}/", account_form(globex, sites=[site.pk])
    )
    assert response.status_code == 200 and "Already owned by Acme" in response.content.decode()


# -- Invitations and members ------------------------------------------------------------------------


def invite(client, account, email="new@client.example", role=Membership.Role.EDITOR):
    return client.post(
        f"/admin/messenger/accounts/{account.pk}/members/", {"action": "invite", "email": email, "role": role}
    )


def link_of(message) -> str:
    return re.search(r"https?://\S+/onesend/invitation/\S+/", message.body).group(0)


@pytest.fixture
def acme_admin(client, member, acme):
    user = member(acme, Membership.Role.ADMIN, email="boss@acme.example")
    client.force_login(user)
    return client


def test_a_client_admin_invites_and_the_new_user_joins(acme_admin, acme, globex, django_user_model):
    response = invite(acme_admin, acme, role=Membership.Role.ANALYST)
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new@client.example"]
    url = link_of(mail.outbox[0])
    token = url.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert invitation.token_hash == Invitation.hash(token) and token not in invitation.token_hash
    assert (
        "new@client.example"
        in acme_admin.get(f"/admin/messenger/accounts/{acme.pk}/members/").content.decode()
    )

    acme_admin.logout()
    path = url.split("://", 1)[1].split("/", 1)[1]
    page = acme_admin.get(f"/{path}")
    assert page.status_code == 200 and "Choose a password" in page.content.decode()
    response = acme_admin.post(
        f"/{path}", {"new_password1": "one-passphrase-1", "new_password2": "another-passphrase-2"}
    )
    assert (
        response.status_code == 200
        and not django_user_model.objects.filter(email="new@client.example").exists()
    )
    strong = "a-long-enough-passphrase-42"
    response = acme_admin.post(f"/{path}", {"new_password1": strong, "new_password2": strong})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    user = django_user_model.objects.get(email="new@client.example")
    assert (
        Membership.objects.get(user=user).account == acme
        and Membership.objects.get(user=user).role == "analyst"
    )
    # signed in, sees their account only
    html = acme_admin.get("/admin/messenger/accounts/").content.decode()
    assert "Acme" in html and "Globex" not in html
    # single use
    response = acme_admin.post(f"/{path}", {"new_password1": strong, "new_password2": strong})
    assert response.status_code == 410 and "already been used" in response.content.decode()
    actions = set(ModelLogEntry.objects.filter(object_id=str(acme.pk)).values_list("action", flat=True))
    assert {"onesend.invitation.send", "onesend.invitation.accept"} <= actions


class FailingMailBackend(BaseEmailBackend):
    """An SMTP server that refuses the connection."""

    def send_messages(self, email_messages):
        raise SMTPConnectError(421, "Service not available")


def test_an_invitation_whose_email_fails_is_shown_with_its_link_and_stays_valid(acme_admin, acme, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FailingMailBackend"
    response = invite(acme_admin, acme)
    assert response.status_code == 302 and not mail.outbox
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert len(shown) == 1 and "could not be sent" in shown[0] and "new@client.example" in shown[0]
    url = re.search(r"https?://\S+/onesend/invitation/\S+/", shown[0]).group(0)
    assert Invitation.objects.get().token_hash == Invitation.hash(url.rstrip("/").rsplit("/", 1)[1])

    acme_admin.logout()
    page = acme_admin.get(urlsplit(url).path)
    assert page.status_code == 200 and "Choose a password" in page.content.decode()


def test_an_existing_user_signs_in_then_accepts(client, acme_admin, acme, django_user_model, member, globex):
    existing = member(globex, Membership.Role.EDITOR, username="gina", email="gina@example.com")
    invite(acme_admin, acme, email="GINA@example.com", role=Membership.Role.ADMIN)
    path = "/" + link_of(mail.outbox[0]).split("://", 1)[1].split("/", 1)[1]
    acme_admin.logout()
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(django_user_model.objects.get(username="admin-acme"))  # someone else
    assert client.get(path).status_code == 403
    client.force_login(existing)
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 302
    assert scoping.roles(django_user_model.objects.get(pk=existing.pk)) == {
        globex.pk: "editor",
        acme.pk: "admin",
    }


def test_expired_revoked_and_forged_links_say_so(acme_admin, acme):
    invite(acme_admin, acme, email="late@client.example")
    invite(acme_admin, acme, email="revoked@client.example")
    late, revoked = (link_of(m).split("://", 1)[1].split("/", 1)[1] for m in mail.outbox)
    Invitation.objects.filter(email="late@client.example").update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    pending = Invitation.objects.get(email="revoked@client.example")
    response = acme_admin.post(
        f"/admin/messenger/accounts/{acme.pk}/members/", {"action": "revoke", "invitation": pending.pk}
    )
    assert response.status_code == 302 and not Invitation.objects.filter(pk=pending.pk).exists()
    acme_admin.logout()
    response = acme_admin.get(f"/{late}")
    assert response.status_code == 410 and "expired" in response.content.decode()
    response = acme_admin.get(f"/{revoked}")
    assert response.status_code == 404 and "not valid" in response.content.decode()
    response = acme_admin.get("/onesend/invitation/forged-token/")
    assert response.status_code == 404 and "not valid" in response.content.decode()
    assert (
        Membership.objects.filter(user__email__in=["late@client.example", "revoked@client.example"]).count()
        == 0
    )
    assert ModelLogEntry.objects.filter(action="onesend.invitation.revoke").count() == 1


def test_inviting_a_member_again_is_refused(acme_admin, acme, member):
    member(acme, Membership.Role.EDITOR, username="ed", email="ed@acme.example")
    response = invite(acme_admin, acme, email="ED@acme.example")
    assert response.status_code == 200 and "already a member" in response.content.decode()
    assert not mail.outbox


@pytest.mark.parametrize("role", [Membership.Role.EDITOR, Membership.Role.ANALYST])
def test_editors_and_analysts_cannot_manage_members(client, member, acme, role):
    user = member(acme, role)
    other = member(acme, Membership.Role.ANALYST, username="other")
    client.force_login(user)
    url = f"/admin/messenger/accounts/{acme.pk}/members/"
    assert denied(client.get(url))
    assert denied(invite(client, acme))
    assert denied(client.post(url, {"action": "remove", "membership": other.onesend_memberships.get().pk}))
    assert not mail.outbox and not Invitation.objects.exists()
    assert Membership.objects.filter(user=other).exists()


def test_a_client_admin_cannot_manage_another_account(acme_admin, globex, member):
    victim = member(globex, Membership.Role.ADMIN, username="globex-boss")
    url = f"/admin/messenger/accounts/{globex.pk}/members/"
    assert acme_admin.get(url).status_code == 404
    assert invite(acme_admin, globex).status_code == 404
    response = acme_admin.post(
        url, {"action": "role", "membership": victim.onesend_memberships.get().pk, "role": "analyst"}
    )
    assert response.status_code == 404
    assert victim.onesend_memberships.get().role == "admin" and not mail.outbox


def test_role_changes_and_removal_take_effect_at_once(client, acme_admin, acme, member, django_user_model):
    editor = member(acme, Membership.Role.EDITOR, username="ed")
    campaign = CampaignFactory(page=MessengerPageFactory(account=acme))
    membership = editor.onesend_memberships.get()
    url = f"/admin/messenger/accounts/{acme.pk}/members/"
    edit = f"/admin/messenger/campaigns/edit/{campaign.pk}/"

    from django.test import Client

    ed = Client()
    ed.force_login(editor)
    assert ed.get(edit).status_code == 200
    acme_admin.post(url, {"action": "role", "membership": membership.pk, "role": "analyst"})
    assert Membership.objects.get(pk=membership.pk).role == "analyst"
    assert denied(ed.get(edit))
    assert ed.get(f"/admin/messenger/campaigns/inspect/{campaign.pk}/").status_code == 200
    acme_admin.post(url, {"action": "remove", "membership": membership.pk})
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert denied(ed.get(f"/admin/messenger/campaigns/inspect/{campaign.pk}/"))
    actions = list(ModelLogEntry.objects.filter(object_id=str(acme.pk)).values_list("action", flat=True))
    assert "onesend.member.role" in actions and "onesend.member.remove" in actions
    history = acme_admin.get(f"/admin/messenger/accounts/history/{acme.pk}/").content.decode()
    assert "role editor → analyst" in history


def test_nobody_changes_their_own_access(acme_admin, acme):
    mine = Membership.objects.get(account=acme, user__username="admin-acme")
    acme_admin.post(
        f"/admin/messenger/accounts/{acme.pk}/members/", {"action": "remove", "membership": mine.pk}
    )
    assert Membership.objects.filter(pk=mine.pk).exists()


def test_agency_staff_manage_any_accounts_members(client, agency_user, acme, globex):
    client.force_login(agency_user)
    for account in (acme, globex):
        assert client.get(f"/admin/messenger/accounts/{account.pk}/members/").status_code == 200
        assert invite(client, account, email=f"x@{account.slug}.example").status_code == 302
    assert len(mail.outbox) == 2


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


# -- Client-owned Wagtail Sites ------------------------------------------------------------------------


@pytest.fixture
def acme_site(acme):
    root = Page.get_first_root_node()
    home = root.add_child(instance=ContentPage(title="Acme home", slug="acme-home"))
    site = Site.objects.create(hostname="acme.example", root_page=home, site_name="Acme")
    acme.sites.add(site)
    return site


def test_the_subscribe_block_offers_the_sites_clients_pages(agency_user, acme, globex, acme_site):
    acme_page, globex_page = MessengerPageFactory(account=acme), MessengerPageFactory(account=globex)
    try:
        scoping.set_current_user(agency_user, acme_site)
        assert blocks.messenger_page_choices() == [(str(acme_page.pk), acme_page.name)]
        scoping.set_current_user(agency_user, Site.objects.get(is_default_site=True))  # no owner
        assert {pk for pk, _ in blocks.messenger_page_choices()} == {str(acme_page.pk), str(globex_page.pk)}
    finally:
        scoping.set_current_user(None)


def subscribe_page_form(title, messenger_page):
    return nested_form_data(
        {
            "title": title,
            "slug": "deals",
            "intro": rich_text(""),
            "body": streamfield(
                [
                    (
                        "subscribe",
                        {
                            "page": str(messenger_page.pk),
                            "label": "Get deals",
                            "intro": rich_text(""),
                            "image": "",
                            "ref": "website",
                            "tags": "",
                            "style": "blue",
                            "align": "center",
                        },
                    )
                ]
            ),
        }
    )


def test_the_page_editor_on_a_clients_site_refuses_other_clients_pages(admin_client, acme, globex, acme_site):
    acme_page, globex_page = MessengerPageFactory(account=acme), MessengerPageFactory(account=globex)
    parent = acme_site.root_page
    url = f"/admin/pages/add/home/contentpage/{parent.pk}/"
    html = admin_client.get(url).content.decode()
    assert acme_page.name in html and globex_page.name not in html
    response = admin_client.post(url, subscribe_page_form("Sneaky", globex_page))
    assert response.status_code == 200 and not ContentPage.objects.filter(title="Sneaky").exists()
    response = admin_client.post(url, subscribe_page_form("Deals", acme_page))
    assert response.status_code == 302
    page = ContentPage.objects.get(title="Deals")
    edit = admin_client.get(f"/admin/pages/{page.pk}/edit/").content.decode()
    assert acme_page.name in edit and globex_page.name not in edit
    response = admin_client.post(f"/admin/pages/{page.pk}/edit/", subscribe_page_form("Deals", globex_page))
    assert response.status_code == 200
    assert ContentPage.objects.get(pk=page.pk).body[0].value["page"] == str(acme_page.pk)


def test_the_demo_seeds_a_second_client_with_its_own_user_and_a_us_business_on_the_paid_channel(client):
    from example_site.home import demo

    demo.seed()
    demo.seed()  # idempotent
    assert Account.objects.count() == 3
    us = MessengerPage.objects.get(page_id=demo.US_PAGE["page_id"])
    assert (us.account.name, us.country, us.channel, us.ad_account_id, us.ad_account_currency) == (
        "Coyote Outfitters",
        "US",
        Channel.PER_PERSON,
        "act_2000000000000001",
        "USD",
    )
    assert MessengerPage.objects.get(page_id=demo.PAGE["page_id"]).channel == Channel.MARKETING_TOKEN
    ids = [page_id for page_id, _ in demo.seeded_pages()]
    assert len(ids) == len(set(ids)) == 5, "each Page the demo seeds has an id of its own"
    assert list(Site.objects.get(is_default_site=True).onesend_accounts.values_list("slug", flat=True)) == [
        "acme-shop"
    ]
    assert client.login(username=demo.CLIENT_USERNAME, password=demo.CLIENT_PASSWORD)
    html = client.get("/admin/messenger/pages/").content.decode()
    assert demo.SECOND_PAGE["page_id"] in html and demo.PAGE["page_id"] not in html
    assert demo.US_PAGE["page_id"] not in html
