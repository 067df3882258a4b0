"""Meta's rules the simulator plays on request: refusals of a person's next sends (1200, the paid
frequency caps), a batch answered 1/1357046 after sending, and apps that require the app secret."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from onesend_simulator.remote import SimulatorError

from .helpers import APP_SECRET, PAGE_ID, PAGE_TOKEN, assert_error, subscriber

APP_ID = "880000000000001"


def proof(token: str = PAGE_TOKEN, secret: str = APP_SECRET) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def test_refused_sends_answer_metas_code_then_go_through(sim, graph):
    psid, token = subscriber(sim, graph)
    assert sim.refuse_sends(psid, 1200)["refusals"] == [1200]
    error = assert_error(graph.send({"notification_messages_token": token}, {"text": "hi"}), 1200)
    assert error.get("is_transient") is True
    assert graph.send({"notification_messages_token": token}, {"text": "hi"}).status_code == 200
    assert sim.stats()["send"]["rejected"] == {"1200": 1}


@pytest.mark.parametrize("body", [{"code": 613}, {"code": 1200, "count": 0}, {"code": 1200, "count": True}])
def test_only_metas_refusals_can_be_asked_for(sim, graph, body):
    psid, _ = subscriber(sim, graph)
    with pytest.raises(SimulatorError):
        sim.act(psid, "refuse_sends", **body)


def test_a_garbled_batch_sends_its_items_then_answers_1357046(sim, graph):
    people = [subscriber(sim, graph, name=name) for name in ("Ann", "Ben")]
    sim.configure(garbled_batch_replies=1)
    items = [
        {
            "method": "POST",
            "relative_url": "me/messages",
            "body": f"recipient={json.dumps({'notification_messages_token': token})}&message={json.dumps({'text': 'hi'})}",
        }
        for _, token in people
    ]
    answer = graph.request("POST", "", data={"batch": json.dumps(items)})
    assert_error(answer, 1, 1357046)
    assert {m["psid"] for m in sim.messages(PAGE_ID) if m.get("token")} == {psid for psid, _ in people}
    assert sim.config()["garbled_batch_replies"] == 0
    assert graph.request("POST", "", data={"batch": json.dumps(items[:1])}).status_code == 200


def test_an_app_that_requires_the_secret_takes_only_proven_calls(sim, graph):
    sim.create_page(page_id=PAGE_ID, app_id=APP_ID)
    assert sim.set_app(APP_ID, require_app_secret=True) == {
        "app_id": APP_ID,
        "require_app_secret": True,
        "app_secret": "",
    }
    missing = assert_error(graph.request("GET", PAGE_ID), 100)
    assert "require an appsecret_proof" in missing["message"] and missing["type"] == "GraphMethodException"
    wrong = assert_error(graph.request("GET", PAGE_ID, params={"appsecret_proof": proof(secret="x")}), 100)
    assert "Invalid appsecret_proof" in wrong["message"]
    assert graph.request("GET", PAGE_ID, params={"appsecret_proof": proof()}).json()["id"] == PAGE_ID
    sim.set_app(APP_ID, require_app_secret=False)
    assert graph.request("GET", PAGE_ID).status_code == 200
    assert sim.call("GET", "apps")["data"][0]["require_app_secret"] is False
