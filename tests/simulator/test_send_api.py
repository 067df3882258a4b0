"""Send API: auth, request forms, content rules and the 24 h window, over real HTTP."""

from __future__ import annotations

import json
import re

import pytest
import requests
from onesend_simulator.remote import wait_for

from .helpers import PAGE_ID, PAGE_TOKEN, Graph, assert_error, contacted_person

TEXT = {"text": "Hello"}


def button_template(text: str = "Sale", buttons: int = 1) -> dict:
    button = {"type": "postback", "title": "More", "payload": "MORE"}
    return {
        "attachment": {
            "type": "template",
            "payload": {"template_type": "button", "text": text, "buttons": [button] * buttons},
        }
    }


def generic_template(elements: int) -> dict:
    element = {
        "title": "Shoe",
        "subtitle": "Red",
        "buttons": [{"type": "web_url", "url": "https://x", "title": "Buy"}],
    }
    return {
        "attachment": {
            "type": "template",
            "payload": {"template_type": "generic", "elements": [element] * elements},
        }
    }


def quick_replies(count: int) -> dict:
    return {
        "text": "Pick",
        "quick_replies": [
            {"content_type": "text", "title": f"Q{i}", "payload": f"P{i}"} for i in range(count)
        ],
    }


def test_send_text_inside_the_window(sim, graph: Graph):
    psid = contacted_person(sim)
    response = graph.send(psid, TEXT, messaging_type="RESPONSE")
    assert response.status_code == 200
    body = response.json()
    assert body["recipient_id"] == psid and re.fullmatch(r"m_[\w-]+", body["message_id"])
    assert [m["mid"] for m in sim.messages(psid=psid)] == [body["message_id"]]
    assert sim.person(psid)["thread"][-1]["text"] == "Hello"


@pytest.mark.parametrize("version", ["v25.0", "v2.12", "v19.0"])
def test_any_version_prefix_and_page_id_path(sim, graph: Graph, version):
    psid = contacted_person(sim)
    url = sim.graph_url(f"{PAGE_ID}/messages", version=version)
    response = requests.post(
        url, params={"access_token": PAGE_TOKEN}, json={"recipient": {"id": psid}, "message": TEXT}
    )
    assert response.status_code == 200, response.text


def test_token_in_query_form_json_or_bearer(sim, graph: Graph):
    psid = contacted_person(sim)
    fields = {"recipient": json.dumps({"id": psid}), "message": json.dumps(TEXT)}
    url = sim.graph_url("me/messages")
    assert requests.post(url, data={**fields, "access_token": PAGE_TOKEN}).status_code == 200
    body = {"recipient": {"id": psid}, "message": TEXT}
    assert requests.post(url, json={**body, "access_token": PAGE_TOKEN}).status_code == 200
    assert requests.post(url, json=body, headers={"Authorization": f"Bearer {PAGE_TOKEN}"}).status_code == 200
    assert_error(requests.post(url, json=body), 190)
    assert_error(graph.send(psid, TEXT, token="not-a-token"), 190)


def test_another_pages_id_in_the_path_is_refused(sim, graph: Graph):
    sim.create_page(page_id="200000000000002", access_token="other-token")
    psid = contacted_person(sim)
    response = graph.request(
        "POST", "200000000000002/messages", json={"recipient": {"id": psid}, "message": TEXT}
    )
    assert_error(response, 100, 33)


def test_unknown_path_and_method(sim, graph: Graph):
    assert_error(graph.request("GET", "me/nonsense"), 2500)
    assert_error(graph.request("GET", "me/messages"), 100, 33)


def test_recipient_rules(sim, graph: Graph):
    psid = contacted_person(sim)
    assert_error(graph.request("POST", "me/messages", json={"message": TEXT}), 100)
    assert_error(graph.send("1234567890123456", TEXT), 100, 2018001)
    assert_error(graph.send({"user_ref": "x"}, TEXT), 100)
    sim.block(psid)
    assert_error(graph.send(psid, TEXT), 551)
    sim.unblock(psid)
    assert graph.send(psid, TEXT).status_code == 200


@pytest.mark.parametrize(
    "message",
    [
        {},
        {"text": "a", "attachment": {"type": "image", "payload": {"url": "https://x/a.png"}}},
        {"text": ""},
        {"text": "x" * 2000},
        button_template(text="x" * 641),
        button_template(buttons=0),
        button_template(buttons=4),
        generic_template(0),
        generic_template(11),
        quick_replies(14),
        {"attachment": {"type": "sticker", "payload": {}}},
        {"attachment": {"type": "image", "payload": {}}},
        {"attachment": {"type": "template", "payload": {"template_type": "receipt"}}},
    ],
    ids=[
        "empty",
        "text+attachment",
        "blank-text",
        "text-2000",
        "button-text-641",
        "0-buttons",
        "4-buttons",
        "0-elements",
        "11-elements",
        "14-quick-replies",
        "bad-type",
        "media-no-url",
        "unknown-template",
    ],
)
def test_content_rules_reject_with_100(sim, graph: Graph, message):
    psid = contacted_person(sim)
    assert_error(graph.send(psid, message), 100)
    assert sim.messages() == []


@pytest.mark.parametrize(
    "message",
    [
        {"text": "x" * 1999},
        button_template(text="x" * 640, buttons=3),
        generic_template(10),
        quick_replies(13),
        {"attachment": {"type": "video", "payload": {"url": "https://x/v.mp4", "is_reusable": True}}},
    ],
    ids=["text-1999", "button-640-3", "10-elements", "13-quick-replies", "video-url"],
)
def test_content_at_the_limits_is_accepted(sim, graph: Graph, message):
    psid = contacted_person(sim)
    assert graph.send(psid, message).status_code == 200


def test_sender_action(sim, graph: Graph):
    psid = contacted_person(sim)
    assert graph.send(psid, sender_action="typing_on").json() == {"recipient_id": psid}
    assert_error(graph.send(psid, TEXT, sender_action="typing_on"), 100, 2018014)
    assert_error(graph.send(psid, sender_action="dance"), 100)
    assert sim.messages() == []


def test_the_24_hour_window(sim, graph: Graph):
    stranger = sim.create_person(PAGE_ID, "Stranger")["psid"]
    assert_error(graph.send(stranger, TEXT), 10, 2018278)
    assert_error(graph.send(stranger, TEXT, messaging_type="MESSAGE_TAG", tag="PROMO"), 100)
    tagged = graph.send(stranger, TEXT, messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE")
    assert tagged.status_code == 200
    sim.send_text(stranger, "hi")  # a user message opens the window
    assert graph.send(stranger, TEXT, messaging_type="UPDATE").status_code == 200

    sim.configure(window_seconds=0.2)
    wait_for(lambda: not sim.person(stranger)["window_open"], what="the window to close")
    assert_error(graph.send(stranger, TEXT), 10, 2018278)


def test_form_encoded_body_with_json_fields(sim, graph: Graph):
    """Batch items and some clients send ``recipient``/``message`` as JSON strings in a form."""
    psid = contacted_person(sim)
    data = {
        "recipient": json.dumps({"id": psid}),
        "message": json.dumps(button_template()),
        "messaging_type": "UPDATE",
    }
    response = graph.request("POST", "me/messages", data=data)
    assert response.status_code == 200, response.text
    assert sim.person(psid)["thread"][-1]["buttons"][0]["payload"] == "MORE"
    assert_error(graph.request("POST", "me/messages", data={"recipient": "{broken"}), 100)


def test_page_lookup(sim, graph: Graph):
    assert graph.request("GET", "me").json() == {"id": PAGE_ID, "name": "Acme", "username": "acme"}
    assert graph.request("GET", PAGE_ID).json()["id"] == PAGE_ID


def test_latency_and_transient_failures(sim, graph: Graph):
    psid = contacted_person(sim)
    sim.configure(failure_rate=1.0)
    error = assert_error(graph.send(psid, TEXT), 2, status=503)
    assert error["is_transient"] is True
    sim.configure(failure_rate=0.0, latency_ms=150)
    response = graph.send(psid, TEXT)
    assert response.status_code == 200 and response.elapsed.total_seconds() >= 0.15


@pytest.mark.parametrize(
    ("country", "refused"), [("US", True), ("BR", True), ("GB", False), ("FR", False), ("", False)]
)
def test_legacy_tokens_work_only_for_businesses_in_metas_five_geos(sim, graph, country, refused):
    """Marketing Messages FAQ: from 2026-02-10 "discontinued ... except for the AU, EU, JP, KR, and
    UK geos" (reference §9); the simulator reads "geo" as the business's, and with no business
    country set it does not enforce the rule."""
    [person] = sim.create_people(PAGE_ID, 1)
    sim.create_page(page_id=PAGE_ID, business_country=country)
    body = {"recipient": {"notification_messages_token": person["token"]}, "message": {"text": "Hi"}}
    answer = graph.request("POST", "me/messages", json=body)
    if refused:
        assert_error(answer, 10)
    else:
        assert answer.status_code == 200, answer.text
