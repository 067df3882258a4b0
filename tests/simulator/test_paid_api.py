"""The paid Marketing Messages API as Meta's pages document it: message campaigns, sends to
subscription tokens with tracking ids, the per-token eligibility rule, and the
``marketing_message_*`` webhooks."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

import pytest
from onesend_simulator.remote import SimulatorError, wait_for

from .helpers import PAGE_ID, Graph, assert_error, subscriber

TEXT = {"text": "Hello"}


def create(graph: Graph, **fields):
    response = graph.request(
        "POST", "act_42/message_campaign", json={"name": "Summer", "page_id": PAGE_ID, **fields}
    )
    return response


@pytest.mark.parametrize(
    ("budget", "adset"),
    [
        ({}, {}),  # Meta's default budget mode
        ({"daily_budget": 1000}, {"daily_budget": "1000"}),
        ({"lifetime_budget": 3000}, {"lifetime_budget": "3000"}),
    ],
)
def test_a_campaign_is_created_read_and_deleted(sim, graph: Graph, budget, adset):
    created = create(graph, **budget)
    assert created.status_code == 200, created.text
    campaign_id = created.json()["id"]
    assert campaign_id.startswith("120") and len(campaign_id) == 18
    shown = graph.request("GET", campaign_id).json()
    assert shown == {
        "id": campaign_id,
        "campaign": {"name": "Summer"},
        "adset": adset,
        "creative": {"actor_id": PAGE_ID},
    }
    assert graph.request("DELETE", campaign_id).json() == {"success": True}
    assert_error(graph.request("GET", campaign_id), 100, 33)


@pytest.mark.parametrize("budget", [{"daily_budget": 0}, {"lifetime_budget": -1}, {"daily_budget": "ten"}])
def test_a_budget_must_be_above_zero(sim, graph: Graph, budget):
    assert_error(create(graph, **budget), 100)


def test_a_campaign_needs_a_name_and_a_page(sim, graph: Graph):
    assert_error(create(graph, name=""), 100)
    assert_error(create(graph, page_id="999"), 100)


PAID_FIELDS = [
    "marketing_message_echoes",
    "marketing_message_deliveries",
    "marketing_message_reads",
    "marketing_message_clicks",
    "marketing_message_delivery_failed",
]


@pytest.fixture
def paid(sim, graph: Graph):
    """A subscriber, a message campaign of ad account 42 and a ``send(**body)`` to that person."""
    [page] = [page for page in sim.pages() if page["page_id"] == PAGE_ID]
    sim.create_page(page_id=PAGE_ID, subscribed_fields=page["subscribed_fields"] + PAID_FIELDS)
    psid, token = subscriber(sim, graph)
    campaign_id = create(graph).json()["id"]

    def send(account: str = "act_42", **fields):
        body = {
            "message_id": campaign_id,
            "messenger_delivery_data": {"subscription_token": token},
            "message": TEXT,
            **fields,
        }
        return graph.request("POST", f"{account}/messages", json=body)

    return SimpleNamespace(psid=psid, token=token, campaign_id=campaign_id, send=send)


def test_a_send_answers_a_tracking_id_and_meta_webhooks_repeat_it(sim, graph: Graph, receiver, paid):
    sent = paid.send()
    assert sent.status_code == 200, sent.text
    assert sent.json()["success"] is True
    tracking_id = str(uuid.UUID(sent.json()["marketing_message_tracking_id"]))
    [item] = sim.messages(psid=paid.psid)[1:]  # after the opt-in request
    assert (item["via"], item["tracking_id"], item["text"]) == ("marketing", tracking_id, "Hello")
    for field in ("marketing_message_echoes", "marketing_message_deliveries"):
        [event] = wait_for(lambda field=field: receiver.changes(field), 5, what=field)
        assert event == {
            "recipient_id": int(paid.psid),
            "page_id": int(PAGE_ID),
            "app_id": event["app_id"],
            "timestamp": event["timestamp"],
            "mid": item["mid"],
            "marketing_message_tracking_id": tracking_id,
            "messenger_subscription_token": paid.token,
            "message_id": paid.campaign_id,
        }
    sim.read(paid.psid)
    [read] = wait_for(lambda: receiver.changes("marketing_message_reads"), 5, what="read")
    assert "mid" not in read and read["marketing_message_tracking_id"] == tracking_id
    sim.click_paid(paid.psid)
    [click] = wait_for(lambda: receiver.changes("marketing_message_clicks"), 5, what="click")
    assert "marketing_message_tracking_id" not in click and "app_id" not in click
    assert (click["messenger_subscription_token"], click["message_id"]) == (paid.token, paid.campaign_id)
    sim.fail_paid_delivery(paid.psid, "Unknown Error")
    [failed] = wait_for(lambda: receiver.changes("marketing_message_delivery_failed"), 5, what="failure")
    assert set(failed) == {
        "app_id",
        "business_id",
        "page_id",
        "messenger_subscription_token",
        "timestamp",
        "error_message",
        "message_id",
    }
    assert sim.messages(psid=paid.psid)[-1]["status"] == "failed"
    # Messenger's own receipts are for the opt-in request only, not for the paid message.
    assert item["mid"] not in [m for e in receiver.of("delivery") for m in e["delivery"].get("mids", [])]


def test_the_messaging_envelope_carries_the_flat_objects(sim, receiver, paid):
    sim.configure(paid_webhook_envelope="messaging")
    assert paid.send().status_code == 200
    echo = wait_for(lambda: [e for e in receiver.events() if e.get("field") == "marketing_message_echoes"], 5)
    assert echo[0]["messenger_subscription_token"] == paid.token
    sim.fail_paid_delivery(paid.psid)
    [failed] = receiver.wait("error_message")
    assert "field" not in failed  # as in Meta's sample


def test_one_paid_message_per_token_every_12_hours(sim, graph: Graph, paid):
    assert paid.send().status_code == 200
    assert_error(paid.send(), 2300035)
    listed = graph.request("GET", f"notification_messages_{paid.token}").json()
    sent_at = sim.messages(psid=paid.psid)[-1]["timestamp"] // 1000
    assert listed["next_eligible_time_for_paid_messaging"] == sent_at + 12 * 3600
    assert listed["next_eligible_time"] >= listed["next_eligible_time_for_paid_messaging"]
    sim.configure(paid_cooldown_seconds=0)
    assert paid.send().status_code == 200


def test_text_up_to_640_characters(paid):
    assert_error(paid.send(message={"text": "x" * 641}), 100)
    assert paid.send(message={"text": "x" * 640}).status_code == 200


def test_send_errors_as_the_api_references_list_them(sim, graph: Graph, paid):
    assert_error(paid.send(message_id="120000000000000001"), 2300001)
    assert_error(paid.send(account="act_43"), 2300014)
    assert_error(paid.send(messenger_delivery_data={"subscription_token": "404"}), 2300004)
    assert_error(paid.send(min_conversation_gap_seconds=3600), 2300052)  # they just opened the thread
    sim.block(paid.psid)
    assert_error(paid.send(), 2300036)
    sim.unblock(paid.psid)
    sim.stop_notifications(paid.psid)
    assert_error(paid.send(), 2300034)
    sim.configure(paid_error_field="subcode")
    assert_error(paid.send(), 100, 2300034)


def test_a_campaign_warms_up_before_it_sends(sim, graph: Graph, paid):
    sim.configure(campaign_warmup_seconds=3600)
    assert_error(paid.send(), 2300003)
    sim.configure(campaign_warmup_seconds=0)
    assert paid.send().status_code == 200


@pytest.mark.parametrize("code", [2300011, 2300013, 2300019, 2300030])
def test_an_ad_account_problem_refuses_campaigns_and_sends(sim, graph: Graph, paid, code):
    sim.configure(paid_account_error=code)
    assert_error(create(graph), code)
    assert_error(paid.send(), code)


def test_only_the_documented_account_problems_can_be_set(sim):
    with pytest.raises(SimulatorError):
        sim.configure(paid_account_error=2300004)


def test_estimate_and_insights_as_meta_shows_them(sim, graph: Graph, paid):
    query = {"promoted_object": json.dumps({"page_id": PAGE_ID}), "lifetime_budget": "10"}
    estimate = graph.request("GET", "act_42/message_delivery_estimate", params=query).json()
    assert estimate == {
        "data": [
            {
                "estimate_delivery_upper_bound": 1,
                "estimate_delivery_lower_bound": 0,
                "estimate_cost_upper_bound": 1,
                "estimate_cost_lower_bound": 0,
            }
        ]
    }
    assert_error(graph.request("GET", "act_42/message_delivery_estimate"), 100)
    assert paid.send().status_code == 200
    [row] = graph.request("GET", f"{paid.campaign_id}/insights").json()["data"]
    assert all(isinstance(value, str) for value in row.values())
    assert (row["marketing_messages_delivered"], row["marketing_messages_spend"]) == ("1", "0.01")


@pytest.mark.parametrize(("budget", "code"), [("lifetime_budget", 2300053), ("daily_budget", 2300054)])
def test_sends_stop_at_the_budget(sim, graph: Graph, paid, budget, code):
    sim.configure(paid_price_cents=2, paid_cooldown_seconds=0)
    campaign_id = create(graph, **{budget: 5}).json()["id"]
    assert paid.send(message_id=campaign_id).status_code == 200
    assert paid.send(message_id=campaign_id).status_code == 200
    assert_error(paid.send(message_id=campaign_id), code)


def unsubscribe(graph: Graph, *rows):
    path = f"{PAGE_ID}/messaging_customer_base/unsubscribe"
    return graph.request("POST", path, json={"data": list(rows)})


def test_the_unsubscribe_api_stops_a_persons_paid_messages(sim, graph: Graph, paid):
    mixed = {"psid": paid.psid, "email": "ann@example.com"}  # psid never mixes with anything
    answer = unsubscribe(graph, mixed, {"psid": "404"}, {"subscriber_token": "404"}, {"phone": "+15550100"})
    assert answer.json() == {"invalid_rows_count": 3}
    assert paid.send().status_code == 200  # no valid row named them
    sim.configure(paid_cooldown_seconds=0)
    assert unsubscribe(graph, {"psid": paid.psid}).json() == {"invalid_rows_count": 0}
    assert [token["stopped"] for token in sim.person(paid.psid)["tokens"]] == [True]
    assert_error(paid.send(), 2300034)


def test_the_unsubscribe_api_takes_a_subscriber_token_and_needs_rows(sim, graph: Graph, paid):
    assert_error(unsubscribe(graph), 100)
    assert unsubscribe(graph, {"subscriber_token": paid.token}).json() == {"invalid_rows_count": 0}
    assert_error(paid.send(), 2300034)


def test_meta_sends_no_paid_message_to_people_in_its_excluded_regions(sim, graph: Graph, paid):
    """Recipient regions excluded: the EU, Japan, South Korea, Australia, the UK (reference §1)."""
    [person] = sim.create_people(PAGE_ID, 1, country="fr")
    assert sim.person(person["psid"])["country"] == "FR"
    assert_error(paid.send(messenger_delivery_data={"subscription_token": person["token"]}), 2300032)
    [served] = sim.create_people(PAGE_ID, 1, country="US")
    assert paid.send(messenger_delivery_data={"subscription_token": served["token"]}).status_code == 200
