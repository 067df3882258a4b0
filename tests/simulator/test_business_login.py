"""Facebook Login for Business as the paid channel's token comes from it (Onboard Businesses with
Marketing Message API for Messenger): the tokens, Flow 3's endpoint, ad accounts and who may make
a paid call."""

from __future__ import annotations

import requests

from .helpers import APP_SECRET, PAGE_ID, PAGE_TOKEN, assert_error

CAMPAIGN = {"name": "Summer", "page_id": PAGE_ID}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_paid_calls_take_a_token_holding_the_ad_account_and_the_page(sim):
    sim.create_ad_account(account_id="42")
    token = sim.create_business_token(page_ids=[PAGE_ID], ad_account_ids=["42"])["token"]
    created = requests.post(sim.graph_url("act_42/message_campaign"), json=CAMPAIGN, headers=bearer(token))
    assert created.status_code == 200, created.text
    other = sim.create_business_token(page_ids=[PAGE_ID], ad_account_ids=[])["token"]
    refused = requests.post(sim.graph_url("act_42/message_campaign"), json=CAMPAIGN, headers=bearer(other))
    assert_error(refused, 100, 33)
    pageless = sim.create_business_token(page_ids=[], ad_account_ids=["42"])["token"]
    refused = requests.post(sim.graph_url("act_42/message_campaign"), json=CAMPAIGN, headers=bearer(pageless))
    assert_error(refused, 2300039)
    sim.configure(paid_token="system_user")
    refused = requests.post(
        sim.graph_url("act_42/message_campaign"), json=CAMPAIGN, headers=bearer(PAGE_TOKEN)
    )
    assert_error(refused, 200, status=403)
    campaign_id = created.json()["id"]
    assert requests.get(sim.graph_url(campaign_id), headers=bearer(token)).json()["id"] == campaign_id


def test_the_ad_account_shows_the_fields_asked_for(sim):
    sim.create_ad_account(account_id="42", name="Ads", currency="jpy", business_country_code="JP")
    token = sim.create_business_token(page_ids=[PAGE_ID], ad_account_ids=["42"])["token"]
    fields = "name,currency,business_country_code,funding_source_details"
    shown = requests.get(sim.graph_url("act_42"), params={"fields": fields}, headers=bearer(token)).json()
    assert shown == {
        "id": "act_42",
        "name": "Ads",
        "currency": "JPY",
        "business_country_code": "JP",
        "funding_source_details": {"id": "24", "display_string": "Visa *4242", "type": 1},
    }
    sim.create_ad_account(account_id="42", funding_source=None)
    shown = requests.get(sim.graph_url("act_42"), params={"fields": fields}, headers=bearer(token)).json()
    assert "funding_source_details" not in shown
    refused = requests.post(sim.graph_url("act_42/message_campaign"), json=CAMPAIGN, headers=bearer(token))
    assert_error(refused, 2300030)  # Japan is not a business region of the paid API


def test_flow_3_connects_the_partners_ad_account_on_the_unversioned_multipart_endpoint(sim):
    sim.create_ad_account(account_id="77")
    token = sim.create_business_token(flow="partner", page_ids=[PAGE_ID])["token"]
    bisu = requests.get(sim.graph_url("me"), params={"fields": "id"}, headers=bearer(token)).json()["id"]
    url = f"{sim.base_url}/system_accounts/{bisu}/asset-connections"
    assert_error(requests.post(url, data={"asset_id": "77"}, headers=bearer(token)), 2500)  # not multipart
    versioned = sim.graph_url(f"system_accounts/{bisu}/asset-connections")
    assert_error(requests.post(versioned, files={"asset_id": (None, "77")}, headers=bearer(token)), 2500)
    done = requests.post(url, files={"asset_id": (None, "77")}, headers=bearer(token))
    assert (done.status_code, done.json()) == (202, {"success": True})
    assert requests.get(sim.graph_url("act_77"), headers=bearer(token)).json()["id"] == "act_77"


def test_a_short_lived_user_token_is_exchanged_for_a_long_lived_one(sim):
    token = sim.create_business_token(flow="asset", page_ids=[PAGE_ID])["token"]
    query = {"grant_type": "fb_exchange_token", "client_id": "1", "client_secret": APP_SECRET}
    answer = requests.get(sim.graph_url("oauth/access_token"), params={**query, "fb_exchange_token": token})
    body = answer.json()
    assert body["token_type"] == "bearer" and 59 * 86400 < body["expires_in"] <= 60 * 86400
    system = sim.create_business_token(flow="business", page_ids=[PAGE_ID])["token"]
    refused = requests.get(sim.graph_url("oauth/access_token"), params={**query, "fb_exchange_token": system})
    assert_error(refused, 100)
