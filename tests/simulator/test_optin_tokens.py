"""Opt-in requests, marketing-message tokens, cooldown, stop/resume/block and the token edges."""

from __future__ import annotations

import pytest
from onesend_simulator.remote import SimulatorError, wait_for

from .helpers import PAGE_ID, Graph, assert_error, contacted_person, subscriber

PROMO = {"text": "Summer sale: 30% off"}


def test_optin_request_accept_and_token_send(sim, graph: Graph, receiver):
    psid = contacted_person(sim)
    response = graph.optin(
        psid, "Weekly deals", image_url="https://x/o.png", notification_messages_timezone="Europe/Paris"
    )
    assert response.status_code == 200
    card = sim.person(psid)["thread"][-1]
    assert card["type"] == "optin" and card["optin"]["state"] == "pending"
    assert card["optin"]["cta_label"] == "Get updates" and card["optin"]["image_url"] == "https://x/o.png"

    token = sim.accept_optin(psid)["token"]
    assert token.isdigit()
    optin = receiver.wait("optin")[-1]["optin"]
    assert optin == {
        "type": "notification_messages",
        "payload": "campaign=7",
        "notification_messages_token": token,
        "notification_messages_timezone": "Europe/Paris",
        "title": "Weekly deals",
        "user_token_status": "NOT_REFRESHED",
    }
    assert sim.person(psid)["thread"][-2]["optin"] == {**card["optin"], "state": "accepted", "token": token}

    sim.configure(window_seconds=0)  # token sends work outside the window
    sent = graph.send({"notification_messages_token": token}, PROMO)
    assert sent.status_code == 200 and sent.json()["recipient_id"] == psid
    assert sim.messages(psid=psid)[-1]["via"] == "token"


def test_optin_card_in_elements_is_accepted_and_decline_sends_nothing(sim, graph: Graph, receiver):
    psid = contacted_person(sim)
    payload = {"template_type": "notification_messages", "elements": [{"title": "News", "payload": "p"}]}
    assert graph.send(psid, {"attachment": {"type": "template", "payload": payload}}).status_code == 200
    assert sim.decline_optin(psid)["webhooks"] == []
    assert sim.person(psid)["thread"][-1]["optin"]["state"] == "declined"
    with pytest.raises(SimulatorError) as raised:
        sim.accept_optin(psid)
    assert raised.value.status == 404
    sim.wait_webhooks_drained()
    assert receiver.of("optin") == []


def test_optin_rules(sim, graph: Graph):
    psid = contacted_person(sim)
    assert_error(graph.optin(psid, "x" * 66), 100)
    assert graph.optin(psid, "x" * 65).status_code == 200
    assert graph.optin(psid, "Weekly deals").status_code == 200
    assert_error(graph.optin(psid, "Weekly deals"), 613, 1893016)
    assert graph.optin(psid, "Daily deals").status_code == 200
    assert_error(graph.optin(psid, "Other", notification_messages_cta_text="PLEASE"), 100)

    sim.configure(optin_topic_seconds=0)
    assert graph.optin(psid, "Weekly deals").status_code == 200

    stranger = sim.create_person(PAGE_ID, "Stranger")["psid"]
    assert_error(graph.optin(stranger), 10, 2018278)
    tagged = graph.optin(stranger, messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE")
    assert_error(tagged, 10, 2018278)


def test_cooldown_is_per_person_across_tokens(sim, graph: Graph):
    sim.configure(followup_limit=0)  # campaign sends, not follow-ups to the opt-in
    psid, weekly = subscriber(sim, graph, "Weekly deals")
    assert graph.optin(psid, "Daily deals").status_code == 200
    daily = sim.accept_optin(psid)["token"]
    assert graph.send({"notification_messages_token": weekly}, PROMO).status_code == 200
    assert_error(graph.send({"notification_messages_token": weekly}, PROMO), 4, 2018354)
    assert_error(graph.send({"notification_messages_token": daily}, PROMO), 4, 2018354)
    other_psid, other = subscriber(sim, graph, "Weekly deals", name="Bob")
    assert graph.send({"notification_messages_token": other}, PROMO).status_code == 200
    assert sim.stats()["cooldown_skips"] == 2

    sim.configure(cooldown_seconds=0.3)
    wait_for(
        lambda: graph.send({"notification_messages_token": daily}, PROMO).status_code == 200, what="cooldown"
    )


def test_up_to_three_followups_after_an_optin_skip_the_cooldown(sim, graph: Graph):
    """Marketing Messages: up to 3 follow-ups may go to the new token within 2 minutes of the
    opt-in; the next one is the marketing message the cooldown counts."""
    psid, token = subscriber(sim, graph)
    sim.configure(window_seconds=0)  # accepting opened no window: only the token reaches them
    for _ in range(3):
        assert graph.send({"notification_messages_token": token}, PROMO).status_code == 200
    assert sim.person(psid)["last_marketing_at"] is None
    assert graph.send({"notification_messages_token": token}, PROMO).status_code == 200
    assert sim.person(psid)["last_marketing_at"] is not None
    assert_error(graph.send({"notification_messages_token": token}, PROMO), 4, 2018354)
    sent = [
        message.get("followup", False) for message in sim.messages(psid=psid) if message["via"] == "token"
    ]
    assert sent == [True, True, True, False]


def test_followups_end_two_minutes_after_the_optin(sim, graph: Graph):
    psid, token = subscriber(sim, graph)
    sim.configure(followup_seconds=0)  # as if the 2 minutes were over
    assert graph.send({"notification_messages_token": token}, PROMO).status_code == 200
    assert_error(graph.send({"notification_messages_token": token}, PROMO), 4, 2018354)
    # A new opt-in (here: to another topic) gives its own token its own follow-ups.
    sim.configure(followup_seconds=120)
    assert graph.optin(psid, "Daily deals").status_code == 200
    daily = sim.accept_optin(psid)["token"]
    assert graph.send({"notification_messages_token": daily}, PROMO).status_code == 200


def test_cooldown_hours_setting(sim):
    assert sim.configure(cooldown_hours=48)["cooldown_seconds"] == 48 * 3600
    with pytest.raises(SimulatorError):
        sim.configure(cooldown_hours=-1)
    with pytest.raises(SimulatorError):
        sim.configure(no_such_setting=1)


def test_invalid_tokens(sim, graph: Graph):
    assert_error(graph.send({"notification_messages_token": "123"}, PROMO), 100)
    sim.create_page(page_id="200000000000002", access_token="other-token")
    _, token = subscriber(sim, graph)
    assert_error(graph.send({"notification_messages_token": token}, PROMO, token="other-token"), 100)


def test_stop_resume_and_block(sim, graph: Graph, receiver):
    psid, token = subscriber(sim, graph)
    stopped = sim.stop_notifications(psid)
    assert stopped["tokens"] == [token]
    event = receiver.wait("optin", 2)[-1]
    assert event["optin"]["notification_messages_status"] == "STOP_NOTIFICATIONS"
    assert event["optin"]["notification_messages_token"] == token
    assert_error(graph.send({"notification_messages_token": token}, PROMO), 10, 1893015)

    sim.resume_notifications(psid)
    assert receiver.wait("optin", 3)[-1]["optin"]["notification_messages_status"] == "RESUME_NOTIFICATIONS"
    sim.block(psid)
    assert_error(graph.send({"notification_messages_token": token}, PROMO), 551)
    with pytest.raises(SimulatorError) as raised:
        sim.send_text(psid, "hi")
    assert raised.value.status == 409
    sim.unblock(psid)
    assert graph.send({"notification_messages_token": token}, PROMO).status_code == 200


def test_stop_one_topic_only(sim, graph: Graph):
    psid, weekly = subscriber(sim, graph, "Weekly deals")
    graph.optin(psid, "Daily deals")
    daily = sim.accept_optin(psid)["token"]
    assert sim.stop_notifications(psid, title="Daily deals")["tokens"] == [daily]
    assert_error(graph.send({"notification_messages_token": daily}, PROMO), 10, 1893015)
    assert graph.send({"notification_messages_token": weekly}, PROMO).status_code == 200


def test_reoptin_refreshes_the_same_token(sim, graph: Graph, receiver):
    psid, token = subscriber(sim, graph)
    sim.stop_notifications(psid)
    sim.configure(optin_topic_seconds=0)
    graph.optin(psid)
    assert sim.accept_optin(psid)["token"] == token
    assert receiver.wait("optin", 3)[-1]["optin"]["user_token_status"] == "REFRESHED"
    assert graph.send({"notification_messages_token": token}, PROMO).status_code == 200


def test_token_listing_with_paging(sim, graph: Graph):
    tokens = [subscriber(sim, graph, name=f"P{i}")[1] for i in range(5)]
    seen, params = [], {"limit": "2"}
    while True:
        body = graph.request("GET", f"{PAGE_ID}/notification_message_tokens", params=params).json()
        seen += [row["notification_messages_token"] for row in body["data"]]
        if "next" not in body.get("paging", {}):
            break
        assert len(body["data"]) == 2 and body["paging"]["next"].startswith(sim.base_url)
        params = {"limit": "2", "after": body["paging"]["cursors"]["after"]}
    assert seen == tokens

    row = graph.request("GET", "me/notification_message_tokens").json()["data"][0]
    assert set(row) >= {
        "notification_messages_token",
        "recipient_id",
        "creation_timestamp",
        "user_token_status",
        "topic_title",
        "notification_messages_timezone",
        "next_eligible_time",
    }
    assert row["topic_title"] == "Weekly deals"
    assert_error(graph.request("GET", "me/notification_message_tokens", params={"limit": "0"}), 100)


def test_token_listing_without_duplicates_and_single_token(sim, graph: Graph):
    sim.configure(followup_limit=0)  # a campaign send, not a follow-up to the opt-in
    psid, weekly = subscriber(sim, graph, "Weekly deals")
    graph.optin(psid, "Daily deals")
    sim.accept_optin(psid)
    path = "me/notification_message_tokens"
    assert len(graph.request("GET", path).json()["data"]) == 2
    assert len(graph.request("GET", path, params={"do_not_return_duplicates": "true"}).json()["data"]) == 1

    single = graph.request("GET", f"notification_messages_{weekly}").json()
    assert single["recipient_id"] == psid and single["topic_title"] == "Weekly deals"
    graph.send({"notification_messages_token": weekly}, PROMO)
    info = graph.request("GET", f"notification_messages_{weekly}").json()
    assert info["next_eligible_time"] >= info["creation_timestamp"] + 24 * 3600 - 1
    assert_error(graph.request("GET", "notification_messages_999"), 100)
