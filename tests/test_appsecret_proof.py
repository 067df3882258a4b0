"""``appsecret_proof`` on every Graph call that carries a token (Graph API, "Securing Graph API
Requests"), against the simulator with the app's "Require App Secret" switched on."""

import json

import pytest
import requests

from onesend_plugin import broadcast
from onesend_plugin.messenger.http import appsecret_proof
from onesend_plugin.models import Campaign, MessengerPage

from .factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)

REQUIRED = "API calls from the server require an appsecret_proof argument"


@pytest.fixture
def strict_page(simulator, sim_page):
    """``sim_page`` whose app requires the app secret, with the secret onesend holds for it."""
    simulator.create_page(page_id=sim_page.page_id, app_id=sim_page.app.app_id)
    simulator.set_app(sim_page.app.app_id, require_app_secret=True, app_secret=sim_page.app.app_secret)
    return sim_page


def send_text(simulator, page, **query):
    """``POST /me/messages`` with the Page's token, as any client would."""
    return requests.post(
        simulator.graph_url("me/messages"),
        params=query,
        json={"recipient": {"id": "1"}, "message": {"text": "hi"}},
        headers={"Authorization": f"Bearer {page.access_token}"},
        timeout=10,
    ).json()["error"]


def test_the_simulator_refuses_calls_without_a_right_proof(simulator, strict_page):
    """Meta's errors for a missing and for a wrong proof (code 100, GraphMethodException)."""
    missing = send_text(simulator, strict_page)
    assert (missing["code"], missing["type"], REQUIRED in missing["message"]) == (
        100,
        "GraphMethodException",
        True,
    )
    wrong = send_text(simulator, strict_page, appsecret_proof=appsecret_proof(strict_page.access_token, "x"))
    assert "Invalid appsecret_proof" in wrong["message"]
    right = send_text(
        simulator,
        strict_page,
        appsecret_proof=appsecret_proof(strict_page.access_token, strict_page.app.app_secret),
    )
    assert right["error_subcode"] == 2018001  # past the proof: no such person


def test_a_campaign_sends_through_an_app_that_requires_the_secret(simulator, strict_page, make_subscribers):
    """Opt-in requests, the batch of the broadcast: every call carries its proof."""
    people = make_subscribers(strict_page, 3)
    campaign = CampaignFactory(page=strict_page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED
    assert set(campaign.deliveries.values_list("state", flat=True)) == {"sent"}
    assert {m["psid"] for m in simulator.messages(strict_page.page_id) if m.get("type") != "optin"} == {
        p.psid for p in people
    }


def test_a_wrong_app_secret_pauses_the_page_and_sends_nothing(simulator, strict_page, make_subscribers):
    """A secret Meta does not know refuses every call of the Page: it is paused with Meta's
    words, as for a dead token, and the recipients wait in the queue."""
    make_subscribers(strict_page, 2)
    simulator.set_app(strict_page.app.app_id, app_secret="rotated-at-meta")
    campaign = CampaignFactory(page=strict_page)
    broadcast.start(campaign)
    strict_page.refresh_from_db()
    assert strict_page.status == MessengerPage.Status.PAUSED
    assert "Invalid appsecret_proof" in strict_page.status_reason
    assert set(campaign.deliveries.values_list("state", flat=True)) == {"pending"}


def test_a_batch_item_with_a_token_of_its_own_needs_its_own_proof(simulator, strict_page):
    """The call's proof covers items that use the call's token; an item that brings its own
    token must prove it too."""
    token, secret = strict_page.access_token, strict_page.app.app_secret
    item = {"method": "GET", "relative_url": strict_page.page_id}
    own = {**item, "relative_url": f"{strict_page.page_id}?access_token={token}"}
    answer = requests.post(
        simulator.graph_url(),
        data={
            "access_token": token,
            "appsecret_proof": appsecret_proof(token, secret),
            "batch": json.dumps([item, own]),
        },
        timeout=10,
    ).json()
    assert [entry["code"] for entry in answer] == [200, 400]
    assert REQUIRED in answer[1]["body"]
