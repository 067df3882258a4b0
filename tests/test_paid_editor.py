"""The campaign editor and lifecycle for Pages on Meta's paid Marketing Messages API, against the
simulator over HTTP: budgets in the ad account's currency, the 640-character text, the delivery
estimate on the confirm step, warming up, deleting, test sends and media sent by attachment."""

import pytest

from onesend_plugin import broadcast
from onesend_plugin.models import Campaign, Channel, MessengerPage

from .factories import CampaignFactory
from .test_campaign_admin import form_data
from .test_paid_channel import AD_ACCOUNT, meta_campaign, paid_sends

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/messenger/campaigns/"


@pytest.fixture
def paid_page(sim_page):
    MessengerPage.objects.filter(pk=sim_page.pk).update(
        channel=Channel.MARKETING_API, ad_account_id=AD_ACCOUNT, ad_account_currency="USD"
    )
    sim_page.refresh_from_db()
    return sim_page


def publish(client, page, **fields) -> Campaign:
    """Create and publish a campaign of ``page`` through the editor; returns it."""
    data = {**form_data(page=page.pk, **fields), "action-publish": "action-publish"}
    response = client.post(f"{URL}add/", data)
    assert response.status_code == 302, response.context["form"].errors
    return Campaign.objects.get()


# -- Budget in the ad account's currency ----------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "amount", "period", "adset"),
    [
        ("USD", "25.00", "daily", {"daily_budget": "2500"}),
        ("USD", "30", "lifetime", {"lifetime_budget": "3000"}),
        ("JPY", "3000", "daily", {"daily_budget": "3000"}),
        ("", "12.5", "daily", {"daily_budget": "1250"}),  # currency not known yet: two decimals
    ],
)
def test_a_budget_is_entered_in_currency_units_and_sent_in_the_smallest(
    admin_client, simulator, paid_page, make_subscribers, currency, amount, period, adset
):
    MessengerPage.objects.filter(pk=paid_page.pk).update(ad_account_currency=currency)
    people = make_subscribers(paid_page, 2)
    campaign = publish(admin_client, paid_page, budget=amount, budget_period=period)
    assert campaign.budget == int(next(iter(adset.values())))
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED, campaign.last_error
    assert meta_campaign(simulator, paid_page, campaign)["adset"] == adset
    assert paid_sends(simulator, paid_page) == {p.psid: 1 for p in people}


def test_without_a_budget_none_is_sent(admin_client, simulator, paid_page, make_subscribers):
    make_subscribers(paid_page, 1)
    campaign = publish(admin_client, paid_page, budget="", budget_period="daily")
    assert campaign.budget is None
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert meta_campaign(simulator, paid_page, campaign)["adset"] == {}


def test_the_editor_shows_a_stored_budget_in_currency_units(admin_client, paid_page):
    campaign = CampaignFactory(page=paid_page, budget=2550)
    html = admin_client.get(f"{URL}edit/{campaign.pk}/").content.decode()
    assert 'name="budget" value="25.50"' in html and "data-onesend-currency" in html


@pytest.mark.parametrize(
    ("currency", "amount", "error"),
    [("JPY", "25.50", "JPY amounts have 0 decimal places."), ("USD", "0", "Give an amount above 0")],
)
def test_a_budget_the_currency_cannot_hold_is_refused(admin_client, paid_page, currency, amount, error):
    MessengerPage.objects.filter(pk=paid_page.pk).update(ad_account_currency=currency)
    data = {**form_data(page=paid_page.pk, budget=amount, budget_period="daily"), "action-publish": "1"}
    response = admin_client.post(f"{URL}add/", data)
    assert response.status_code == 200
    assert any(error in message for message in response.context["form"].errors["budget"])
    assert not Campaign.objects.exists()


# -- The 640 characters ---------------------------------------------------------------------------


def test_the_editor_refuses_a_text_over_640_characters_and_counts_live(admin_client, paid_page):
    html = admin_client.get(f"{URL}add/").content.decode()
    assert "data-onesend-counted" in html and "campaign-editor.js" in html
    assert f"&quot;{paid_page.pk}&quot;: {{&quot;text_limit&quot;: 640" in html
    data = form_data(page=paid_page.pk, text="x" * 641)
    response = admin_client.post(f"{URL}add/", data)
    assert response.status_code == 200
    [error] = response.context["form"].errors["text"]
    assert "at most 640 characters (now 641)" in error
    assert not Campaign.objects.exists()
    assert publish(admin_client, paid_page, text="x" * 640).text == "x" * 640
