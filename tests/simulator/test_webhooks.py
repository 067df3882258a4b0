"""The webhook emitter and the simulated people's events: shapes, signatures, retries, batching."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from onesend_simulator.remote import SimulatorError, wait_for

from onesend_plugin.messenger.signature import is_valid

from .helpers import APP_SECRET, PAGE_ID, Graph, assert_error, contacted_person

TEXT = {"text": "Hello"}


def test_every_post_is_signed_with_the_app_secret(sim, graph: Graph, receiver):
    psid = contacted_person(sim)
    graph.send(psid, {"text": "Olá — ünïcode"})
    sim.wait_webhooks_drained()
    assert len(receiver.posts) == 2
    for headers, body in receiver.posts:
        assert is_valid(body, headers["X-Hub-Signature-256"], APP_SECRET)
        assert (
            headers["X-Hub-Signature"]
            == "sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest()
        )
        assert body.isascii()  # Meta escapes non-ASCII as \uXXXX
        payload = json.loads(body)
        assert payload["object"] == "page" and payload["entry"][0]["id"] == PAGE_ID
        assert isinstance(payload["entry"][0]["time"], int)


def test_first_contact_is_get_started_with_referral_then_referrals(sim, receiver):
    psid = sim.create_person(PAGE_ID, "Ann")["psid"]
    sim.open_link(psid, "summer_coupon")
    sim.open_link(psid, "qr_store1")
    sim.open_link(psid)  # an existing thread without ref: nothing to tell the Page
    sim.wait_webhooks_drained()
    postback, referral = receiver.events()
    assert postback["sender"] == {"id": psid} and postback["recipient"] == {"id": PAGE_ID}
    assert postback["timestamp"] > 1_600_000_000_000
    assert postback["postback"]["title"] == "Get Started" and postback["postback"]["mid"].startswith("m_")
    assert postback["postback"]["referral"] == {
        "ref": "summer_coupon",
        "source": "SHORTLINK",
        "type": "OPEN_THREAD",
    }
    assert referral["referral"] == {"ref": "qr_store1", "source": "SHORTLINK", "type": "OPEN_THREAD"}
    assert len(psid) == 16 and psid.isdigit()


def test_first_contact_without_ref(sim, receiver):
    psid = sim.create_person(PAGE_ID)["psid"]
    sim.open_link(psid)
    assert "referral" not in receiver.wait("postback")[0]["postback"]


def test_text_quick_replies_and_postback_taps(sim, graph: Graph, receiver):
    psid = contacted_person(sim)
    sim.send_text(psid, "STOP")
    buttons = {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": "Sure?",
                "buttons": [{"type": "postback", "title": "Unsubscribe", "payload": "UNSUB"}],
            },
        }
    }
    graph.send(psid, buttons)
    graph.send(
        psid, {"text": "Size?", "quick_replies": [{"content_type": "text", "title": "Large", "payload": "L"}]}
    )
    sim.tap(psid, "L")
    sim.tap(psid, "UNSUB")
    messages = receiver.wait("message", 2)
    assert messages[0]["message"]["text"] == "STOP" and "quick_reply" not in messages[0]["message"]
    assert messages[1]["message"]["text"] == "Large" and messages[1]["message"]["quick_reply"] == {
        "payload": "L"
    }
    postback = receiver.wait("postback", 2)[-1]["postback"]
    assert postback["payload"] == "UNSUB" and postback["title"] == "Unsubscribe"


def test_deliveries_and_reads(sim, graph: Graph, receiver):
    psid = contacted_person(sim)
    sim.configure(read_probability=1.0, read_delay_ms=50)
    mid = graph.send(psid, TEXT).json()["message_id"]
    sent_at = sim.messages()[-1]["timestamp"]
    delivery = receiver.wait("delivery")[0]
    assert delivery["delivery"]["mids"] == [mid] and delivery["delivery"]["watermark"] > sent_at
    assert delivery["sender"] == {"id": psid} and delivery["recipient"] == {"id": PAGE_ID}
    read = receiver.wait("read")[0]
    assert set(read["read"]) == {"watermark"} and read["read"]["watermark"] > sent_at
    assert sim.person(psid)["thread"][-1]["status"] == "read"

    sim.configure(read_probability=0.0, mids_omit_rate=1.0)
    graph.send(psid, TEXT)
    assert "mids" not in receiver.wait("delivery", 2)[-1]["delivery"]
    assert sim.person(psid)["thread"][-1]["status"] == "delivered"
    watermark = sim.read(psid)["watermark"]
    assert receiver.wait("read", 2)[-1]["read"]["watermark"] == watermark
    assert sim.read(psid)["webhooks"] == []  # nothing new to read


def test_no_receipts(sim, graph: Graph, receiver):
    psid = contacted_person(sim)
    sim.configure(receipts=False, read_probability=1.0)
    graph.send(psid, TEXT)
    sim.wait_webhooks_drained()
    assert receiver.of("delivery") == [] and receiver.of("read") == []


def test_retried_until_answered_200(sim, receiver):
    sim.configure(retry_interval=0.05)
    receiver.statuses.extend([500, 403])
    contacted_person(sim)
    sim.wait_webhooks_drained()
    assert len(receiver.posts) == 3 and len({body for _, body in receiver.posts}) == 1
    stats = sim.stats()["webhooks"]
    assert stats["failed_attempts"] == 2 and stats["delivered"] == 1 and stats["pending"] == 0


def test_unreachable_receiver_keeps_retrying(sim, receiver):
    sim.configure(retry_interval=0.05, webhook_url="http://127.0.0.1:9/webhook", webhook_timeout=1)
    contacted_person(sim)
    wait_for(lambda: sim.stats()["webhooks"]["failed_attempts"] >= 2, what="two failed attempts")
    assert sim.pending_webhooks()["pending"] == 1
    sim.reset()
    assert sim.pending_webhooks()["pending"] == 0


def test_duplicates(sim, graph: Graph, receiver):
    sim.configure(duplicate_rate=1.0)
    contacted_person(sim)
    sim.wait_webhooks_drained()
    assert len(receiver.posts) == 2 and receiver.posts[0][1] == receiver.posts[1][1]
    assert sim.stats()["webhooks"]["duplicates"] == 1


def test_a_new_thread_on_a_page_without_get_started_tells_the_app_nothing(sim, graph: Graph, receiver):
    """m.me links: a person new to the Page reaches the webhook only by tapping its Get Started
    button (Messenger Profile API), the link's ref in ``postback.referral``."""
    profile = "me/messenger_profile"
    assert graph.request("DELETE", profile, json={"fields": ["get_started"]}).json() == {"result": "success"}
    assert graph.request("GET", profile, params={"fields": "get_started"}).json() == {"data": []}
    psid = sim.create_person(PAGE_ID, "Ann")["psid"]
    assert sim.open_link(psid, "summer") == {"webhooks": []}
    person = sim.person(psid)
    assert not (person["contacted"] or person["window_open"] or person["get_started_button"])
    assert_error(graph.send(psid, TEXT, messaging_type="RESPONSE"), 10, 2018278)  # nobody to answer
    with pytest.raises(SimulatorError, match="no Get Started button"):
        sim.get_started(psid)

    # The Page gets the button: the welcome screen shows it, and the tap tells the app.
    assert graph.request("POST", profile, json={"get_started": {"payload": "START"}}).json() == {
        "result": "success"
    }
    assert graph.request("GET", profile, params={"fields": "get_started"}).json() == {
        "data": [{"get_started": {"payload": "START"}}]
    }
    assert sim.open_link(psid, "summer", tap_get_started=False) == {"webhooks": []}
    assert sim.person(psid)["get_started_button"]
    [event] = sim.get_started(psid)["webhooks"]
    assert {key: event["postback"][key] for key in ("title", "payload", "referral")} == {
        "title": "Get Started",
        "payload": "START",
        "referral": {"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"},
    }
    person = sim.person(psid)
    assert person["contacted"] and person["window_open"] and not person["get_started_button"]
    assert [event["postback"]["payload"] for event in receiver.wait("postback")] == ["START"]


def test_messenger_profile_checks_its_input_and_permission(sim, graph: Graph):
    profile = "me/messenger_profile"
    assert_error(graph.request("POST", profile, json={"get_started": {"payload": ""}}), 100)
    assert_error(graph.request("POST", profile, json={"get_started": {"payload": "x" * 1001}}), 100)
    assert_error(graph.request("GET", profile), 100)  # fields is required
    sim.create_page(page_id=PAGE_ID, scopes=["pages_show_list"])
    assert_error(graph.request("GET", profile, params={"fields": "get_started"}), 200)


def test_batching_several_events_and_pages_per_post(sim, graph: Graph, receiver):
    sim.create_page(page_id="200000000000002", access_token="other-token", get_started="GET_STARTED")
    sim.configure(webhooks_paused=True, batch_max=10)
    first = contacted_person(sim, "Ann")
    second = contacted_person(sim, "Bob")
    other = sim.create_person("200000000000002")["psid"]
    sim.open_link(other, "x")
    sim.send_text(first, "hi")
    assert sim.pending_webhooks()["queued"] == 4 and receiver.posts == []
    sim.configure(webhooks_paused=False)
    sim.wait_webhooks_drained()
    (body,) = receiver.bodies()
    assert [entry["id"] for entry in body["entry"]] == [PAGE_ID, "200000000000002", PAGE_ID]
    assert [len(entry["messaging"]) for entry in body["entry"]] == [2, 1, 1]
    assert [event["sender"]["id"] for event in receiver.events()] == [first, second, other, first]


def test_reorder(sim, receiver):
    sim.configure(webhooks_paused=True, reorder=True)
    people = [contacted_person(sim, f"P{i}") for i in range(12)]
    sim.configure(webhooks_paused=False)
    sim.wait_webhooks_drained()
    arrived = [event["sender"]["id"] for event in receiver.events()]
    assert sorted(arrived) == sorted(people) and arrived != people


def test_delay(sim, receiver):
    sim.configure(delay_ms=300)
    contacted_person(sim)
    assert sim.pending_webhooks() == {"pending": 1, "queued": 0, "delayed": 1, "in_flight": 0, "retrying": 0}
    assert receiver.posts == []
    sim.wait_webhooks_drained()
    assert len(receiver.posts) == 1


def test_no_webhook_url_drops_events(simulator):
    simulator.create_page(page_id=PAGE_ID, get_started="GET_STARTED")
    psid = simulator.create_person(PAGE_ID)["psid"]
    simulator.open_link(psid, "x")
    assert simulator.stats()["webhooks"]["dropped"] == 1
    assert simulator.pending_webhooks()["pending"] == 0


def test_verification_get(sim, receiver):
    result = sim.verify_webhook()
    assert result["ok"] is True and result["status"] == 200 and result["body"] == result["challenge"]
    assert sim.stats()["webhooks"]["verification"] == result
    sim.configure(verify_token="wrong")
    assert sim.verify_webhook()["ok"] is False


def test_handlers_do_not_wait_for_a_slow_receiver(sim, graph: Graph, receiver):
    """A stuck webhook target must not slow the Graph API down."""
    sim.configure(webhook_url="http://10.255.255.1/webhook", webhook_timeout=5)
    psid = contacted_person(sim)
    for _ in range(20):
        response = graph.send(psid, TEXT)
        assert response.status_code == 200 and response.elapsed.total_seconds() < 0.5
    assert_error(graph.send("1", TEXT), 100, 2018001)
