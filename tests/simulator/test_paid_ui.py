"""The simulator's web pages for the paid API: a paid message is marked "Sponsored" in the
person's thread, tapping its link is Meta's click webhook, and the index shows what each ad
account spent, as its campaigns' insights add it up."""

from __future__ import annotations

import requests
from onesend_simulator.remote import wait_for
from playwright.sync_api import expect

from . import test_paid_api
from .helpers import PAGE_ID, Graph

paid = test_paid_api.paid  # the fixture: a subscriber and a message campaign of ad account 42


def link_message(url: str) -> dict:
    payload = {
        "template_type": "button",
        "text": "Sale",
        "buttons": [{"type": "web_url", "url": url, "title": "Shop"}],
    }
    return {"attachment": {"type": "template", "payload": payload}}


def test_a_paid_message_is_sponsored_and_its_link_tap_is_metas_click(
    sim, graph: Graph, receiver, paid, new_context
):
    assert paid.send(message=link_message(f"{sim.base_url}/_sim/")).status_code == 200
    [item] = [m for m in sim.messages(psid=paid.psid) if m.get("via") == "marketing"]
    assert item["sponsored"] is True
    assert all("sponsored" not in m for m in sim.messages(psid=paid.psid) if m.get("via") != "marketing")
    page = new_context().new_page()
    page.goto(f"{sim.base_url}/_sim/ui/{paid.psid}")
    paid_message = page.locator(f'[data-testid="thread-message"][data-mid="{item["mid"]}"]')
    expect(paid_message.get_by_test_id("sponsored")).to_have_text("Sponsored")
    expect(page.get_by_test_id("sponsored")).to_have_count(1)  # the opt-in request is not
    with page.context.expect_page():
        paid_message.get_by_test_id("url-button").click()
    [click] = wait_for(lambda: receiver.changes("marketing_message_clicks"), 5, what="the click")
    assert (click["messenger_subscription_token"], click["message_id"]) == (paid.token, paid.campaign_id)


def test_a_paid_video_shows_its_buttons_and_a_tap_is_metas_click(
    sim, graph: Graph, receiver, paid, new_context
):
    uploaded = graph.request(
        "POST",
        "me/message_attachments",
        json={
            "message": {
                "attachment": {"type": "video", "payload": {"url": "https://x/a.mp4", "is_reusable": True}}
            }
        },
    )
    element = {
        "media_type": "video",
        "attachment_id": uploaded.json()["attachment_id"],
        "buttons": [{"type": "web_url", "url": f"{sim.base_url}/_sim/", "title": "Watch more"}],
    }
    video = {"attachment": {"type": "template", "payload": {"template_type": "media", "elements": [element]}}}
    assert paid.send(message=video).status_code == 200
    page = new_context().new_page()
    page.goto(f"{sim.base_url}/_sim/ui/{paid.psid}")
    expect(page.get_by_test_id("message-video")).to_have_count(1)
    with page.context.expect_page():
        page.get_by_test_id("url-button").click()
    wait_for(lambda: receiver.changes("marketing_message_clicks"), 5, what="the click")


def test_the_index_shows_each_ad_accounts_spend_as_its_insights_add_it_up(sim, graph: Graph, paid):
    sim.configure(paid_price_cents=60)

    def spend_shown():
        index = requests.get(f"{sim.base_url}/_sim/", timeout=10).text
        return index.split('data-ad-account="42"', 1)[1].split('data-testid="ad-account-spend">', 1)[1][:4]

    assert spend_shown() == "0.00"  # its campaign, created by the fixture, sent nothing yet
    assert paid.send().status_code == 200
    [row] = graph.request("GET", f"{paid.campaign_id}/insights").json()["data"]
    assert row["marketing_messages_spend"] == "0.60"
    assert sim.stats()["ad_accounts"] == {
        "42": {"page_ids": [PAGE_ID], "campaigns": 1, "delivered": 1, "spend": "0.60"}
    }
    assert spend_shown() == "0.60"
    sim.fail_paid_delivery(paid.psid)  # Meta dropped it: not charged
    assert sim.stats()["ad_accounts"]["42"]["spend"] == "0.00"
    assert (
        '<td data-testid="ad-account-spend">0.00</td>'
        in requests.get(f"{sim.base_url}/_sim/", timeout=10).text
    )
