"""Rate limits, batch requests, attachments and subscribed_apps."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from onesend_simulator.remote import wait_for

from .helpers import PAGE_ID, PAGE_TOKEN, Graph, assert_error, contacted_person

TEXT = {"text": "Hello"}
IMAGE = {"attachment": {"type": "image", "payload": {"url": "https://x/a.png"}}}


def usage(response) -> dict:
    return json.loads(response.headers["X-Business-Use-Case-Usage"])[PAGE_ID][0]


def test_text_rate_limit_is_a_sliding_second(sim, graph: Graph):
    sim.configure(text_rate=5)
    psid = contacted_person(sim)
    responses = [graph.send(psid, TEXT) for _ in range(6)]
    assert [r.status_code for r in responses[:5]] == [200] * 5
    assert usage(responses[0])["type"] == "messenger" and usage(responses[0])["call_count"] == 20
    error = assert_error(responses[5], 613)
    assert "exceeded the rate limit" in error["message"]
    assert usage(responses[5]) == {
        "type": "messenger",
        "call_count": 100,
        "total_cputime": 100,
        "total_time": 100,
        "estimated_time_to_regain_access": 0,
    }
    wait_for(lambda: graph.send(psid, TEXT).status_code == 200, timeout=3, what="the window to slide")
    stats = sim.stats()
    assert stats["pages"][PAGE_ID]["max_calls_per_second"]["text"] == 5
    assert stats["send"]["rejected"]["613"] >= 1 and stats["send"]["accepted"] >= 6


def test_media_has_its_own_bucket(sim, graph: Graph):
    sim.configure(media_rate=2, text_rate=100)
    psid = contacted_person(sim)
    assert [graph.send(psid, IMAGE).status_code for _ in range(3)] == [200, 200, 400]
    assert graph.send(psid, TEXT).status_code == 200
    assert sim.stats()["pages"][PAGE_ID]["max_calls_per_second"] == {"text": 1, "media": 2}


def batch_item(psid: str, message: dict) -> dict:
    body = urlencode({"recipient": json.dumps({"id": psid}), "message": json.dumps(message)})
    return {"method": "POST", "relative_url": "me/messages", "body": body}


def test_batch_answers_each_item_in_order(sim, graph: Graph):
    psid = contacted_person(sim)
    stranger = sim.create_person(PAGE_ID, "Stranger")["psid"]
    items = [
        batch_item(psid, TEXT),
        batch_item(stranger, TEXT),
        batch_item(psid, {"text": ""}),
        {"method": "GET", "relative_url": f"v25.0/{PAGE_ID}/subscribed_apps"},
    ]
    response = graph.request("POST", "", data={"batch": json.dumps(items)})
    assert response.status_code == 200
    results = response.json()
    assert [r["code"] for r in results] == [200, 400, 400, 200]
    assert {"name": "Content-Type", "value": "application/json"} in results[0]["headers"]
    assert json.loads(results[0]["body"])["recipient_id"] == psid
    assert json.loads(results[1]["body"])["error"]["error_subcode"] == 2018278
    assert json.loads(results[2]["body"])["error"]["code"] == 100
    assert json.loads(results[3]["body"])["data"][0]["subscribed_fields"]
    assert len(sim.messages()) == 1


def test_batch_items_count_against_the_rate_limit(sim, graph: Graph):
    sim.configure(text_rate=3)
    psid = contacted_person(sim)
    response = graph.request("POST", "", data={"batch": json.dumps([batch_item(psid, TEXT)] * 5)})
    assert [r["code"] for r in response.json()] == [200, 200, 200, 400, 400]
    assert sim.stats()["pages"][PAGE_ID]["max_calls_per_second"]["text"] == 3


def test_batch_limits_and_tokens(sim, graph: Graph):
    psid = contacted_person(sim)
    assert_error(graph.request("POST", "", data={"batch": json.dumps([batch_item(psid, TEXT)] * 51)}), 100)
    assert_error(graph.request("POST", "", data={}), 100)
    results = graph.request(
        "POST", "", token=None, data={"batch": json.dumps([batch_item(psid, TEXT)])}
    ).json()
    assert json.loads(results[0]["body"])["error"]["code"] == 190
    item = {**batch_item(psid, TEXT), "relative_url": f"me/messages?access_token={PAGE_TOKEN}"}
    assert graph.request("POST", "", token=None, data={"batch": json.dumps([item])}).json()[0]["code"] == 200


def test_attachment_upload_by_url_and_file(sim, graph: Graph):
    psid = contacted_person(sim)
    by_url = graph.request(
        "POST",
        "me/message_attachments",
        json={
            "message": {
                "attachment": {"type": "image", "payload": {"url": "https://x/a.png", "is_reusable": True}}
            }
        },
    )
    image_id = by_url.json()["attachment_id"]
    files = {"filedata": ("doc.pdf", b"%PDF-1.4 tiny", "application/pdf")}
    data = {"message": json.dumps({"attachment": {"type": "file", "payload": {"is_reusable": True}}})}
    file_id = graph.request("POST", f"{PAGE_ID}/message_attachments", data=data, files=files).json()[
        "attachment_id"
    ]

    for kind, attachment_id in (("image", image_id), ("file", file_id)):
        message = {"attachment": {"type": kind, "payload": {"attachment_id": attachment_id}}}
        assert graph.send(psid, message).status_code == 200
    thread = sim.person(psid)["thread"]
    assert thread[-2]["url"] == "https://x/a.png"
    served = graph.http.get(sim.base_url + thread[-1]["url"])
    assert served.content == b"%PDF-1.4 tiny" and served.headers["Content-Type"] == "application/pdf"

    video = {"attachment": {"type": "video", "payload": {"attachment_id": image_id}}}
    assert_error(graph.send(psid, video), 100, 2018047)
    unknown = {"attachment": {"type": "image", "payload": {"attachment_id": "999"}}}
    assert_error(graph.send(psid, unknown), 100, 2018074)
    sim.create_page(page_id="200000000000002", access_token="other-token")
    other = sim.create_person("200000000000002")["psid"]
    sim.open_link(other)
    foreign = {"attachment": {"type": "image", "payload": {"attachment_id": image_id}}}
    assert_error(graph.send(other, foreign, token="other-token"), 100, 2018074)
    assert_error(graph.request("POST", "me/message_attachments", json={"message": {"text": "x"}}), 100)


def test_subscribed_apps(sim, graph: Graph, receiver):
    page = sim.pages()[0]
    listed = graph.request("GET", f"{PAGE_ID}/subscribed_apps").json()["data"]
    assert listed == [
        {"id": page["app_id"], "name": "onesend", "subscribed_fields": page["subscribed_fields"]}
    ]
    assert graph.request("DELETE", f"{PAGE_ID}/subscribed_apps").json() == {"success": True}
    assert graph.request("GET", f"{PAGE_ID}/subscribed_apps").json() == {"data": []}
    contacted_person(sim)  # not subscribed: no webhook
    fields = "messages,messaging_postbacks,message_echoes"
    assert graph.request(
        "POST", f"{PAGE_ID}/subscribed_apps", params={"subscribed_fields": fields}
    ).json() == {"success": True}
    assert graph.request("GET", "me/subscribed_apps").json()["data"][0]["subscribed_fields"] == fields.split(
        ","
    )
    assert_error(
        graph.request("POST", f"{PAGE_ID}/subscribed_apps", params={"subscribed_fields": "nope"}), 100
    )
    assert_error(graph.request("POST", f"{PAGE_ID}/subscribed_apps"), 100)

    psid = contacted_person(sim, "Bob")
    graph.send(psid, {"text": "hi", "metadata": "campaign-1"})
    echo = receiver.wait("message")[-1]
    sim.wait_webhooks_drained()
    assert [list(event)[-1] for event in receiver.events()] == [
        "postback",
        "message",
    ]  # no delivery: not subscribed
    assert echo["sender"]["id"] == PAGE_ID and echo["recipient"]["id"] == psid
    assert echo["message"]["is_echo"] is True and echo["message"]["metadata"] == "campaign-1"
