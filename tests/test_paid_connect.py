"""A paid-channel Page's ad account connected through Facebook Login for Business: the
system-user token is what every paid call uses, and without it nothing paid is sent."""

from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.messages import get_messages
from django.utils import timezone
from wagtail.models import ModelLogEntry

from onesend_plugin import broadcast
from onesend_plugin.accounts import onboarding
from onesend_plugin.broadcast import runner
from onesend_plugin.broadcast.transitions import CampaignError
from onesend_plugin.messenger.errors import PAID_TOKEN_ADVICE
from onesend_plugin.models import Campaign, Channel, MessengerPage

from .factories import CampaignFactory, MessengerPageFactory, MetaAppFactory

pytestmark = pytest.mark.django_db(transaction=True)


def paid_sends(simulator, page):
    return Counter(m["psid"] for m in simulator.messages(page.page_id) if m.get("via") == "marketing")


def test_paid_calls_use_the_system_user_token_which_meta_requires(simulator, paid_page, make_subscribers):
    people = make_subscribers(paid_page, 2)
    simulator.configure(paid_token="system_user")  # Meta's samples: the system-user token only
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED, campaign.last_error
    assert paid_sends(simulator, paid_page) == {p.psid: 1 for p in people}


def test_a_page_token_is_refused_for_paid_calls_when_meta_requires_the_system_user_token(
    simulator, paid_page, make_subscribers
):
    make_subscribers(paid_page, 1)
    simulator.configure(paid_token="system_user")
    MessengerPage.objects.filter(pk=paid_page.pk).update(paid_access_token=paid_page.access_token)
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and "system user access token" in campaign.last_error
    assert not campaign.deliveries.exists()


def test_a_paid_page_without_its_token_refuses_to_start_a_campaign(simulator, paid_page, make_subscribers):
    make_subscribers(paid_page, 1)
    MessengerPage.objects.filter(pk=paid_page.pk).update(paid_access_token="")
    paid_page.refresh_from_db()
    campaign = CampaignFactory(page=paid_page)
    with pytest.raises(CampaignError, match="Facebook Login for Business"):
        broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and not campaign.deliveries.exists()
    assert paid_sends(simulator, paid_page) == {}


def test_a_token_lost_while_sending_pauses_the_page_and_sends_nothing(
    simulator, paid_page, make_subscribers, monkeypatch
):
    make_subscribers(paid_page, 2)
    monkeypatch.setattr(runner, "launch", lambda *args, **kwargs: None)
    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)  # the message campaign is created, nothing sent yet
    MessengerPage.objects.filter(pk=paid_page.pk).update(paid_access_token="")  # e.g. disconnected
    runner.run(campaign.pk)
    paid_page.refresh_from_db()
    campaign.refresh_from_db()
    assert paid_page.status == MessengerPage.Status.PAUSED
    assert paid_page.status_reason.startswith(PAID_TOKEN_ADVICE[:60])
    assert campaign.status == Campaign.Status.PAUSED
    assert set(campaign.deliveries.values_list("state", flat=True)) == {"pending"}
    assert paid_sends(simulator, paid_page) == {}


# -- Connecting through Facebook Login for Business, in the admin -------------------------------

OWNER_ID = "500000000000009"
SHOP_ID = "2000000000000011"
CONFIGS = {"business": "9001", "asset": "9002", "partner": "9003"}
PARTNER_ACCOUNT = "777"


@pytest.fixture
def shop(simulator, settings):
    """A paid-channel Page connected with its Page token, its business owner (who manages ad
    account act_555, in Brazil, paying in BRL) and the install's Login for Business configurations."""
    app = MetaAppFactory()
    settings.ONESEND = {
        **settings.ONESEND,
        "GRAPH_API_BASE_URL": simulator.base_url,
        "OAUTH_DIALOG_BASE_URL": simulator.base_url,
        "SYSTEM_ACCOUNTS_BASE_URL": simulator.base_url,
        "PAID_LOGIN_CONFIG_IDS": CONFIGS,
        "PARTNER_AD_ACCOUNT_ID": f"act_{PARTNER_ACCOUNT}",
    }
    simulator.configure(app_secret=app.app_secret)
    for flow, config_id in CONFIGS.items():
        simulator.create_login_config(flow, config_id)
    page = MessengerPageFactory(
        page_id=SHOP_ID, name="Corner Shop", app=app, access_token="EAA-shop", channel=Channel.MARKETING_API
    )
    simulator.create_page(page_id=SHOP_ID, name="Corner Shop", access_token="EAA-shop", app_id=app.app_id)
    requests.post(
        simulator.graph_url(f"{SHOP_ID}/subscribed_apps"),
        params={"access_token": "EAA-shop", "subscribed_fields": ",".join(onboarding.webhook_fields(page))},
        timeout=10,
    )
    simulator.create_user(user_id=OWNER_ID, name="Olga Owner", page_ids=[SHOP_ID])
    simulator.create_ad_account(
        account_id="555", name="Shop ads", currency="BRL", business_country_code="BR", user_id=OWNER_ID
    )
    simulator.create_ad_account(account_id=PARTNER_ACCOUNT, name="Agency billing", currency="USD")
    return page


def connect_ad_account(admin_client, page, flow, ad_account="act_555", ticked=("555",), action="continue"):
    """The whole flow in the admin and Meta's dialog; returns the callback's response."""
    inspect = admin_client.get(f"/admin/messenger/pages/inspect/{page.pk}/").content.decode()
    assert 'data-testid="connect-ad-account"' in inspect
    start = admin_client.post(
        f"/admin/messenger/pages/ad-account/{page.pk}/", {"flow": flow, "ad_account_id": ad_account}
    )
    assert start.status_code == 302, start.content.decode()
    dialog = start["Location"]
    assert f"config_id={CONFIGS[flow]}" in dialog and "response_type=code" in dialog
    assert "override_default_response_type=true" in dialog and "scope=" not in dialog
    answer = requests.post(
        dialog,
        data={"user": OWNER_ID, "action": action, "page": [SHOP_ID], "ad_account": list(ticked)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert back.path == "/admin/messenger/pages/ad-account/callback/"
    return admin_client.get(f"{back.path}?{back.query}")


def notes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def sends_paid(simulator, page, make_subscribers) -> bool:
    """A campaign of ``page`` reaches its subscriber while Meta takes only a system-user token."""
    simulator.configure(paid_token="system_user")
    [person] = make_subscribers(page, 1)
    campaign = CampaignFactory(page=page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    return campaign.status == Campaign.Status.FINISHED and paid_sends(simulator, page) == {person.psid: 1}


@pytest.mark.parametrize(("flow", "lifetime"), [("business", None), ("asset", timedelta(days=60))])
def test_connecting_the_ad_account_stores_the_token_and_paid_sends_use_it(
    admin_client, simulator, shop, make_subscribers, flow, lifetime
):
    done = connect_ad_account(admin_client, shop, flow)
    assert done.status_code == 302 and done["Location"] == f"/admin/messenger/pages/inspect/{shop.pk}/"
    assert "Corner Shop sends paid messages through Shop ads (BRL)." in notes(done)
    shop.refresh_from_db()
    assert (shop.ad_account_id, shop.ad_account_currency, shop.paid_token_flow) == ("act_555", "BRL", flow)
    assert shop.paid_access_token and shop.paid_access_token != shop.access_token
    if lifetime is None:  # a system-user token: "Expiration: Never"
        assert shop.paid_token_expires_at is None
    else:  # the hour-long user token was exchanged for the long-lived one
        assert lifetime - timedelta(hours=1) < shop.paid_token_expires_at - timezone.now() <= lifetime
    assert ModelLogEntry.objects.filter(action="onesend.page.connect_ad_account").exists()
    panel = admin_client.get(done["Location"]).content.decode()
    assert shop.paid_access_token not in panel and 'data-healthy="true"' in panel
    edit = admin_client.get(f"/admin/messenger/pages/edit/{shop.pk}/").content.decode()
    assert 'name="paid_access_token"' in edit and shop.paid_access_token not in edit
    assert "Shop ads (act_555), BRL" in panel and "BR: Meta offers paid marketing messages there." in panel
    assert "Visa *4242" in panel
    assert sends_paid(simulator, shop, make_subscribers)


def test_partner_billing_connects_the_partners_ad_account(admin_client, simulator, shop, make_subscribers):
    done = connect_ad_account(admin_client, shop, "partner", ad_account="", ticked=())
    assert "Corner Shop sends paid messages through Agency billing (USD)." in notes(done)
    shop.refresh_from_db()
    assert (shop.ad_account_id, shop.ad_account_currency, shop.paid_token_flow) == (
        f"act_{PARTNER_ACCOUNT}",
        "USD",
        "partner",
    )
    assert sends_paid(simulator, shop, make_subscribers)


def test_an_ad_account_not_chosen_in_the_dialog_is_not_connected(admin_client, simulator, shop):
    done = connect_ad_account(admin_client, shop, "business", ticked=())
    assert any("cannot use ad account act_555" in note for note in notes(done))
    shop.refresh_from_db()
    assert shop.paid_access_token == ""


def test_a_cancelled_dialog_connects_nothing_and_a_replayed_one_is_refused(admin_client, simulator, shop):
    done = connect_ad_account(admin_client, shop, "business", action="cancel")
    assert any("cancelled (user_denied)" in note for note in notes(done))
    replay = admin_client.get(done.wsgi_request.get_full_path())
    assert any("already used" in note for note in notes(replay))
    shop.refresh_from_db()
    assert shop.paid_access_token == ""


def test_without_a_configuration_the_admin_says_what_to_set(admin_client, shop, settings):
    settings.ONESEND = {**settings.ONESEND, "PAID_LOGIN_CONFIG_IDS": {}}
    html = admin_client.get(f"/admin/messenger/pages/ad-account/{shop.pk}/").content.decode()
    assert 'data-testid="no-login-config"' in html and "PAID_LOGIN_CONFIG_IDS" in html


# -- The health panel ----------------------------------------------------------------------------


def test_a_flow_2_token_near_its_end_warns_and_an_expired_one_sends_nothing(
    admin_client, simulator, shop, make_subscribers
):
    """The asset-based token lives about 60 days (Onboard Businesses with Marketing Message API
    for Messenger, Flow 2): the panel warns in its last week; once expired, no campaign starts."""
    connect_ad_account(admin_client, shop, "asset")
    inspect = f"/admin/messenger/pages/inspect/{shop.pk}/"
    assert "reconnect the ad account" not in admin_client.get(inspect).content.decode()
    left = timedelta(days=3, hours=2)
    MessengerPage.objects.filter(pk=shop.pk).update(paid_token_expires_at=timezone.now() + left)
    panel = admin_client.get(inspect).content.decode()
    assert "✘ Asset based (user token, 60 days), expires in 3 days — reconnect the ad account" in panel
    MessengerPage.objects.filter(pk=shop.pk).update(paid_token_expires_at=timezone.now() - timedelta(hours=1))
    panel = admin_client.get(inspect).content.decode()
    assert (
        "✘ Asset based (user token, 60 days), expired on" in panel and "— reconnect the ad account" in panel
    )
    shop.refresh_from_db()
    make_subscribers(shop, 1)
    campaign = CampaignFactory(page=shop)
    with pytest.raises(CampaignError, match="token has expired: reconnect the ad account"):
        broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and not campaign.deliveries.exists()
    assert paid_sends(simulator, shop) == {}


def recheck_panel(admin_client, page) -> str:
    admin_client.post(f"/admin/messenger/pages/recheck/{page.pk}/")
    return admin_client.get(f"/admin/messenger/pages/inspect/{page.pk}/").content.decode()


@pytest.mark.parametrize(
    ("change", "advice"),
    [
        ({"funding_source": None}, "Add a payment method to the Page&#x27;s ad account"),
        ({"business_country_code": "DE"}, "DE: The ad account is in a region where Meta offers no paid"),
        (
            {"account_status": 2, "disable_reason": 3},
            "disabled (risk payment). Resolve it in Meta Ads Manager",
        ),
    ],
)
def test_the_panel_shows_what_to_do_about_the_ad_account(admin_client, simulator, shop, change, advice):
    connect_ad_account(admin_client, shop, "business")
    simulator.create_ad_account(account_id="555", **change)
    panel = recheck_panel(admin_client, shop)
    assert 'data-healthy="false"' in panel and advice in panel
    assert "23000" not in panel  # what to do, not Meta's codes


@pytest.mark.parametrize(
    ("change", "advice"),
    [
        ({"terms_accepted": False}, "Accept Meta&#x27;s Marketing Messages terms"),
        ({"business_country_code": "FR"}, "region where Meta offers no paid marketing messages"),
    ],
)
def test_meta_refusing_a_campaign_shows_on_the_panel_as_what_to_do(
    admin_client, simulator, shop, make_subscribers, change, advice
):
    connect_ad_account(admin_client, shop, "business")
    shop.refresh_from_db()
    make_subscribers(shop, 1)
    simulator.create_ad_account(account_id="555", **change)
    campaign = CampaignFactory(page=shop)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    panel = admin_client.get(f"/admin/messenger/pages/inspect/{shop.pk}/").content.decode()
    assert panel.count(advice) >= 2  # the row it concerns, and the last paid-API error
    assert "23000" not in panel


def test_the_panel_shows_missing_paid_receipts_and_a_page_without_its_token(admin_client, simulator, shop):
    panel = recheck_panel(admin_client, shop)
    assert "Connect the Page&#x27;s ad account through Facebook Login for Business" in panel
    assert 'data-healthy="false"' in panel
    connect_ad_account(admin_client, shop, "business")
    simulator.create_page(page_id=SHOP_ID, subscribed_fields=["messages"])
    panel = recheck_panel(admin_client, shop)
    assert "Paid receipts subscribed" in panel and "Missing: marketing_message_echoes" in panel
