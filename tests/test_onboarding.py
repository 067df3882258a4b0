"""Connecting Facebook Pages through Meta's login flow, against the real simulator: the dialog,
the code exchange, the Page list, storing tokens, subscribing the app, and the health panel."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.messages import get_messages
from wagtail.models import ModelLogEntry

from onesend_plugin.accounts import onboarding
from onesend_plugin.models import Campaign, MessengerPage

from .factories import AccountFactory, CampaignFactory, MessengerPageFactory, MetaAppFactory

pytestmark = pytest.mark.django_db

CONNECT = "/admin/messenger/pages/connect/"
CALLBACK = "/admin/messenger/pages/connect/callback/"
OWNER_ID = "500000000000001"
SHOP_ID, CAFE_ID = "2000000000000001", "2000000000000002"


@pytest.fixture
def app(simulator, settings):
    """The site's Meta app, known to the simulator, with the site pointed at the simulator."""
    settings.ONESEND = {
        **settings.ONESEND,
        "GRAPH_API_BASE_URL": simulator.base_url,
        "OAUTH_DIALOG_BASE_URL": simulator.base_url,
    }
    app = MetaAppFactory(name="Agency app")
    simulator.configure(app_secret=app.app_secret)
    return app


@pytest.fixture
def owner(simulator):
    """The business owner in Meta's dialog, with two Pages not connected anywhere yet."""
    simulator.create_page(page_id=SHOP_ID, name="Corner Shop", access_token="EAA-shop")
    simulator.create_page(page_id=CAFE_ID, name="Corner Cafe", access_token="EAA-cafe")
    return simulator.create_user(user_id=OWNER_ID, name="Olga Owner", page_ids=[SHOP_ID, CAFE_ID])


@pytest.fixture
def account(db):
    return AccountFactory(name="Corner Group", slug="corner-group")


def to_dialog(admin_client, account, app):
    """Step 1 in the admin: the browser is sent to the simulator's dialog."""
    response = admin_client.post(CONNECT, {"account": account.pk, "app": app.pk})
    assert response.status_code == 302, response.content
    return response["Location"]


def in_dialog(dialog_url, *, pages=(SHOP_ID,), permissions=onboarding.SCOPES, action="continue"):
    """The owner answers Meta's dialog; returns where Meta sends the browser back (path?query)."""
    response = requests.post(
        dialog_url,
        data={"user": OWNER_ID, "action": action, "page": list(pages), "permission": list(permissions)},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    back = urlsplit(response.headers["Location"])
    assert back.path == CALLBACK
    return f"{back.path}?{back.query}"


def notes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def connect(admin_client, account, app, **dialog):
    """The whole flow for the Pages ticked in the dialog; returns the final response."""
    choose = admin_client.get(in_dialog(to_dialog(admin_client, account, app), **dialog))
    assert choose.status_code == 200, notes(choose)
    return admin_client.post(CALLBACK, {"page_id": list(dialog.get("pages", (SHOP_ID,)))})


def test_connecting_a_page_stores_its_token_subscribes_the_app_and_checks_it(
    admin_client, simulator, account, app, owner
):
    dialog = to_dialog(admin_client, account, app)
    assert dialog.startswith(f"{simulator.base_url}/v25.0/dialog/oauth?client_id={app.app_id}")
    assert "pages_messaging" in dialog
    page_text = requests.get(dialog).text
    assert "Corner Shop" in page_text and "Corner Cafe" in page_text

    choose = admin_client.get(in_dialog(dialog, pages=[SHOP_ID, CAFE_ID]))
    html = choose.content.decode()
    assert choose.status_code == 200 and "Corner Shop" in html and "Corner Cafe" in html
    assert 'data-state="new"' in html and "Corner Group" in html

    done = admin_client.post(CALLBACK, {"page_id": [SHOP_ID]})  # only one of the two
    shop = MessengerPage.objects.get(page_id=SHOP_ID)
    assert done.status_code == 302 and done["Location"] == f"/admin/messenger/pages/inspect/{shop.pk}/"
    assert "Corner Shop is connected and healthy." in notes(done)
    assert not MessengerPage.objects.filter(page_id=CAFE_ID).exists()
    assert (shop.account, shop.app, shop.name, shop.access_token) == (account, app, "Corner Shop", "EAA-shop")
    assert shop.status == MessengerPage.Status.ACTIVE and onboarding.is_healthy(shop.health)
    subscribed = {p["page_id"]: p for p in simulator.pages()}[SHOP_ID]
    assert subscribed["subscribed_fields"] == list(onboarding.WEBHOOK_FIELDS)
    assert subscribed["app_id"] == app.app_id
    assert subscribed["get_started"] == "GET_STARTED" and shop.health["get_started"] is True
    assert ModelLogEntry.objects.filter(action="onesend.page.connect", object_id=str(shop.pk)).exists()

    panel = admin_client.get(done["Location"]).content.decode()
    assert 'data-testid="page-health" data-healthy="true"' in panel
    assert "EAA-shop" not in panel  # the token is never shown
    assert 'data-testid="recheck"' in panel

    # connecting again renews the token of the same row (no duplicate)
    simulator.create_page(page_id=SHOP_ID, access_token="EAA-shop-2")
    again = admin_client.get(in_dialog(to_dialog(admin_client, account, app)))
    assert 'data-state="connected"' in again.content.decode()
    admin_client.post(CALLBACK, {"page_id": [SHOP_ID]})
    assert MessengerPage.objects.get(page_id=SHOP_ID).access_token == "EAA-shop-2"
    assert MessengerPage.objects.filter(page_id=SHOP_ID).count() == 1


def test_the_pages_listing_offers_connecting(admin_client, app):
    html = admin_client.get("/admin/messenger/pages/").content.decode()
    assert "Connect a Facebook Page" in html and CONNECT in html


def test_denied_pages_messaging_connects_nothing(admin_client, simulator, account, app, owner):
    without = [scope for scope in onboarding.SCOPES if scope != "pages_messaging"]
    response = admin_client.get(in_dialog(to_dialog(admin_client, account, app), permissions=without))
    assert response.status_code == 302 and response["Location"] == CONNECT
    assert any("did not grant pages_messaging" in note for note in notes(response))
    assert not MessengerPage.objects.exists()
    assert onboarding.LOGIN_KEY not in admin_client.session


def test_missing_marketing_permissions_are_reported(admin_client, simulator, account, app, owner):
    basic = ("pages_show_list", "pages_manage_metadata", "pages_messaging")
    done = connect(admin_client, account, app, permissions=basic)
    assert done.status_code == 302
    shop = MessengerPage.objects.get(page_id=SHOP_ID)
    assert shop.health["marketing_missing"] == list(onboarding.MARKETING_PERMISSIONS)
    assert onboarding.is_healthy(shop.health)  # the Send API channel works without them
    panel = admin_client.get(done["Location"]).content.decode()
    assert "needed by the paid Marketing Messages API: ads_management, paid_marketing_messages" in panel


def test_a_cancelled_dialog_connects_nothing(admin_client, simulator, account, app, owner):
    response = admin_client.get(in_dialog(to_dialog(admin_client, account, app), action="cancel"))
    assert response.status_code == 302 and response["Location"] == CONNECT
    assert any("cancelled (user_denied)" in note for note in notes(response))
    assert not MessengerPage.objects.exists()


def test_forged_or_replayed_state_and_forged_code_are_refused(
    admin_client, client, django_user_model, simulator, account, app, owner
):
    back = in_dialog(to_dialog(admin_client, account, app))
    # another browser session (CSRF): the state is not its own
    other = django_user_model.objects.create_superuser("other", "o@example.com", "pw")
    client.force_login(other)
    response = client.get(back)
    assert any("not started from this browser session" in note for note in notes(response))
    # a forged state in the right session
    path, _, query = back.partition("?")
    code = dict(part.split("=", 1) for part in query.split("&"))["code"]
    to_dialog(admin_client, account, app)
    response = admin_client.get(CALLBACK, {"code": code, "state": "forged"})
    assert any("not started from this browser session" in note for note in notes(response))
    # the genuine state, once; then replayed
    state_url = in_dialog(to_dialog(admin_client, account, app))
    assert admin_client.get(state_url).status_code == 200
    replay = admin_client.get(state_url)
    assert any("already used" in note for note in notes(replay))
    # a genuine state with a forged code: Meta refuses the exchange
    dialog = to_dialog(admin_client, account, app)
    state = dict(part.split("=", 1) for part in urlsplit(dialog).query.split("&"))["state"]
    response = admin_client.get(CALLBACK, {"code": "forged", "state": requests.utils.unquote(state)})
    assert any("Meta refused the login" in note for note in notes(response))
    # choosing nothing connects nothing and ends the login; finishing without a login too
    assert any("No Page was chosen" in note for note in notes(admin_client.post(CALLBACK, {})))
    assert any("No Facebook login to finish" in note for note in notes(admin_client.post(CALLBACK, {})))
    assert not MessengerPage.objects.filter(page_id=CAFE_ID).exists()


def test_a_page_of_another_account_is_not_moved(admin_client, simulator, account, app, owner):
    other = MessengerPageFactory(page_id=SHOP_ID, name="Corner Shop", app=app, access_token="old-token")
    choose = admin_client.get(in_dialog(to_dialog(admin_client, account, app), pages=[SHOP_ID, CAFE_ID]))
    html = choose.content.decode()
    assert 'data-state="elsewhere"' in html and "will not be moved" in html
    done = admin_client.post(CALLBACK, {"page_id": [SHOP_ID, CAFE_ID]})  # forced in the POST
    assert any("connected to another client account" in note for note in notes(done))
    other.refresh_from_db()
    assert (other.account_id, other.access_token) != (account.pk, "EAA-shop")
    assert MessengerPage.objects.get(page_id=CAFE_ID).account == account


def test_recheck_finds_a_revoked_token_and_pauses_the_page(admin_client, simulator, account, app, owner):
    done = connect(admin_client, account, app)
    shop = MessengerPage.objects.get(page_id=SHOP_ID)
    running = CampaignFactory(page=shop, status=Campaign.Status.RUNNING)
    simulator.revoke_token("EAA-shop")

    response = admin_client.post(f"/admin/messenger/pages/recheck/{shop.pk}/")
    assert response.status_code == 302 and response["Location"] == done["Location"]
    shop.refresh_from_db()
    assert shop.status == MessengerPage.Status.PAUSED and "no longer works" in shop.status_reason
    assert shop.health["token_valid"] is False
    running.refresh_from_db()
    assert running.status == Campaign.Status.PAUSED
    assert ModelLogEntry.objects.filter(action="onesend.page.recheck", object_id=str(shop.pk)).exists()
    panel = admin_client.get(done["Location"]).content.decode()
    assert 'data-healthy="false"' in panel and 'data-testid="page-paused"' in panel

    # connecting again brings a new token and makes the Page active; campaigns wait for a resume
    connect(admin_client, account, app)
    shop.refresh_from_db()
    assert shop.status == MessengerPage.Status.ACTIVE and shop.access_token != "EAA-shop"
    running.refresh_from_db()
    assert running.status == Campaign.Status.PAUSED


def test_recheck_reports_a_permission_taken_back_and_an_unsubscribed_app(
    admin_client, simulator, account, app, owner
):
    connect(admin_client, account, app)
    shop = MessengerPage.objects.get(page_id=SHOP_ID)
    simulator.deny_permission(OWNER_ID, "pages_messaging")
    requests.delete(simulator.graph_url(f"{SHOP_ID}/subscribed_apps"), params={"access_token": "EAA-shop"})
    admin_client.post(f"/admin/messenger/pages/recheck/{shop.pk}/")
    shop.refresh_from_db()
    assert shop.health["token_valid"] is True and shop.health["permissions_missing"] == ["pages_messaging"]
    assert shop.health["app_subscribed"] is False and shop.status == MessengerPage.Status.ACTIVE
    panel = admin_client.get(f"/admin/messenger/pages/inspect/{shop.pk}/").content.decode()
    assert (
        "Missing: pages_messaging" in panel
        and "Meta sends this Page&#x27;s webhooks to no onesend app" in panel
    )


BRAND_ID, BAKERY_ID, BUSINESS_ID = "2000000000000003", "2000000000000004", "600000000000001"


def choices(response) -> list[str]:
    """The Page ids offered to connect, in order."""
    return re.findall(r'name="page_id" value="(\d+)"', response.content.decode())


def test_pages_a_business_holds_in_business_manager_are_offered_once(
    admin_client, simulator, account, app, owner
):
    """``/me/accounts`` lists only the Pages the person has a role of their own on; those their
    business owns or is a client of come from ``/me/businesses`` and its ``owned_pages`` and
    ``client_pages`` (Graph API reference), with ``business_management``."""
    simulator.create_page(page_id=BRAND_ID, name="Corner Brand", access_token="EAA-brand")
    simulator.create_page(page_id=BAKERY_ID, name="Client Bakery", access_token="EAA-bakery")
    business = {"id": BUSINESS_ID, "name": "Corner Group", "owned_page_ids": [BRAND_ID, SHOP_ID]}
    simulator.create_user(user_id=OWNER_ID, businesses=[{**business, "client_page_ids": [BAKERY_ID]}])
    chosen = [SHOP_ID, BRAND_ID, BAKERY_ID]
    choose = admin_client.get(in_dialog(to_dialog(admin_client, account, app), pages=chosen))
    assert choices(choose) == chosen  # the Shop (theirs, and their business's) once
    done = admin_client.post(CALLBACK, {"page_id": [BRAND_ID, BAKERY_ID]})
    assert done.status_code == 302
    assert MessengerPage.objects.get(page_id=BAKERY_ID).access_token == "EAA-bakery"
    assert onboarding.is_healthy(MessengerPage.objects.get(page_id=BRAND_ID).health)

    without = [scope for scope in onboarding.SCOPES if scope != onboarding.BUSINESS_PERMISSION]
    choose = admin_client.get(
        in_dialog(to_dialog(admin_client, account, app), pages=chosen, permissions=without)
    )
    assert choices(choose) == [SHOP_ID]  # /me/accounts only


def get_started_of(simulator, page_id):
    return {p["page_id"]: p for p in simulator.pages()}[page_id]["get_started"]


def test_recheck_gives_the_page_its_get_started_button_back_or_says_why_not(
    admin_client, simulator, account, app, owner
):
    connect(admin_client, account, app)
    shop = MessengerPage.objects.get(page_id=SHOP_ID)
    recheck, inspect = (
        f"/admin/messenger/pages/recheck/{shop.pk}/",
        f"/admin/messenger/pages/inspect/{shop.pk}/",
    )
    profile, token = simulator.graph_url("me/messenger_profile"), {"access_token": "EAA-shop"}
    requests.delete(profile, params=token, json={"fields": ["get_started"]}).raise_for_status()
    admin_client.post(recheck)
    assert get_started_of(simulator, SHOP_ID) == "GET_STARTED"
    requests.post(profile, params=token, json={"get_started": {"payload": "OTHER_TOOL"}}).raise_for_status()
    admin_client.post(recheck)
    assert get_started_of(simulator, SHOP_ID) == "OTHER_TOOL"  # another tool's button is kept

    # Meta refuses (the permission was taken back): the panel says what new visitors miss.
    requests.delete(profile, params=token, json={"fields": ["get_started"]}).raise_for_status()
    simulator.deny_permission(OWNER_ID, "pages_messaging")
    admin_client.post(recheck)
    shop.refresh_from_db()
    assert shop.health["get_started"] is False and "pages_messaging" in shop.health["get_started_error"]
    assert get_started_of(simulator, SHOP_ID) is None and not onboarding.is_healthy(shop.health)
    panel = admin_client.get(inspect).content.decode()
    assert "Get Started button" in panel and "never reach onesend" in panel


def test_recheck_needs_the_change_permission(client, django_user_model, simulator, account, app):
    from onesend_plugin.accounts.groups import ensure_client_group
    from onesend_plugin.models import Membership

    page = MessengerPageFactory(account=account, app=app)
    user = django_user_model.objects.create_user("analyst", password="pw")
    user.groups.add(ensure_client_group())
    Membership.objects.create(user=user, account=account, role=Membership.Role.ADMIN)
    client.force_login(user)
    panel = client.get(f"/admin/messenger/pages/inspect/{page.pk}/")
    assert panel.status_code == 200 and 'data-testid="recheck"' not in panel.content.decode()
    response = client.post(f"/admin/messenger/pages/recheck/{page.pk}/")
    assert (
        response.status_code in (302, 403)
        and response.get("Location") != f"/admin/messenger/pages/inspect/{page.pk}/"
    )
    page.refresh_from_db()
    assert page.health_checked_at is None
    assert client.get(CONNECT).status_code in (302, 403)  # nor may they connect Pages


def test_a_client_user_connects_only_for_their_own_accounts(client, django_user_model, simulator, app):
    from django.contrib.auth.models import Permission

    from onesend_plugin.accounts.groups import ensure_client_group
    from onesend_plugin.models import Membership

    mine = AccountFactory(name="Mine Ltd", slug="mine")
    theirs = AccountFactory(name="Theirs Ltd", slug="theirs")
    user = django_user_model.objects.create_user("client-admin", password="pw")
    user.groups.add(ensure_client_group())
    user.user_permissions.add(Permission.objects.get(codename="add_messengerpage"))
    Membership.objects.create(user=user, account=mine, role=Membership.Role.ADMIN)
    client.force_login(user)

    html = client.get(CONNECT).content.decode()
    assert "Mine Ltd" in html and "Theirs Ltd" not in html
    assert 'name="app"' not in html and app.name not in html  # Meta apps are the agency's
    refused = client.post(CONNECT, {"account": theirs.pk, "app": app.pk})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    dialog = client.post(CONNECT, {"account": mine.pk})  # the install's only app
    assert dialog.status_code == 302 and f"client_id={app.app_id}" in dialog["Location"]


def test_without_pages_manage_metadata_the_page_is_stored_but_not_subscribed(
    admin_client, simulator, account, app, owner
):
    simulator.create_page(page_id=SHOP_ID, subscribed_fields=[])
    granted = [scope for scope in onboarding.SCOPES if scope != "pages_manage_metadata"]
    done = connect(admin_client, account, app, permissions=granted)
    assert "Corner Shop is connected, but see its health panel." in notes(done)
    shop = MessengerPage.objects.get(page_id=SHOP_ID)
    assert shop.health["token_valid"] is True and shop.health["app_subscribed"] is False
    assert 'data-healthy="false"' in admin_client.get(done["Location"]).content.decode()


def test_connecting_a_page_of_an_app_that_requires_the_app_secret(
    admin_client, simulator, account, app, owner
):
    """Every call of the flow carries its ``appsecret_proof`` (Graph API, "Securing Graph API
    Requests"): the user token's (permissions, Pages), the Page's (subscription), the app's
    (``debug_token``)."""
    simulator.set_app(app.app_id, require_app_secret=True)
    done = connect(admin_client, account, app)
    assert "Corner Shop is connected and healthy." in notes(done)
    assert MessengerPage.objects.get(page_id=SHOP_ID).status == MessengerPage.Status.ACTIVE
