"""Agencies, what each client account owns: its settings (frequency cap, attribution windows,
opt-in defaults, quiet hours), who may change them, and client-owned Wagtail Sites. Members are
in ``tests/test_agency_members.py``, the agency overview in ``tests/test_agency_overview.py``."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from wagtail.models import Page, Site
from wagtail.test.utils.form_data import nested_form_data, rich_text, streamfield

from example_site.home.models import ContentPage
from onesend_plugin import analytics, blocks, broadcast
from onesend_plugin.accounts import scoping
from onesend_plugin.models import (
    Account,
    Campaign,
    CampaignStat,
    Channel,
    Click,
    Delivery,
    Membership,
    MessengerPage,
    OptinCTA,
)

from .agency_helpers import denied
from .factories import CampaignFactory, MessengerPageFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


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
