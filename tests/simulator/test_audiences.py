"""Custom Audiences as Grow your Audience for Marketing Message API for Messenger documents them
(§7.1 of the paid-API reference): an audience for a Page, hashed uploads matched asynchronously,
the matched people's tokens, the upload-status webhook, removal and the Unsubscribe API by contact;
and the opt-in high-volume lock of Meta's rate-limiting page."""

from __future__ import annotations

import hashlib

import pytest
from onesend_simulator.remote import wait_for

from .helpers import PAGE_ID, Graph, assert_error, contacted_person

STATUS = "marketing_messages_subscriber_upload_status"
AUDIENCE = {
    "subtype": "CUSTOM",
    "customer_file_source": "USER_PROVIDED_ONLY",
    "name": "Shop customers",
    "description": "Customers who accepted marketing",
    "use_for_products": ["MARKETING_MESSAGES"],
    "subscription_info": ["MESSENGER"],
    "marketing_message_channels": {"MESSENGER": PAGE_ID},
}


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def audience(sim, graph: Graph) -> str:
    """An audience of ad account 42 for the Page, whose app hears the upload status."""
    [page] = [page for page in sim.pages() if page["page_id"] == PAGE_ID]
    sim.create_page(page_id=PAGE_ID, subscribed_fields=[*page["subscribed_fields"], STATUS])
    answer = graph.request("POST", "act_42/customaudiences", json=AUDIENCE)
    assert answer.status_code == 200, answer.text
    [created] = answer.json()["data"]
    return created["id"]


def upload(graph: Graph, audience: str, rows, method: str = "POST", **body):
    payload = {"schema": ["EMAIL", "PHONE", "FN", "LN"], "data": rows}
    return graph.request(method, f"{audience}/users", json={"payload": payload, **body})


def listed(graph: Graph) -> list[dict]:
    return graph.request("GET", f"{PAGE_ID}/notification_message_tokens").json()["data"]


@pytest.mark.parametrize("key", sorted(AUDIENCE))
def test_every_parameter_of_an_audience_is_required(sim, graph: Graph, key):
    body = {k: v for k, v in AUDIENCE.items() if k != key}
    assert_error(graph.request("POST", "act_42/customaudiences", json=body), 100)


def test_a_hashed_upload_is_matched_later_and_its_tokens_listed_then(sim, graph: Graph, audience, receiver):
    sim.configure(audience_match_seconds=0.5)
    people = sim.create_people(
        PAGE_ID, 3, subscribed=False, contacts=[{"email": "ann@example.com"}, {"phone": "+84 912345678"}, {}]
    )
    rows = [
        [sha("ann@example.com"), "", sha("ann"), ""],
        ["", sha("84912345678"), "", ""],  # Meta's example: (+84) 091-2345678
        [sha("nobody@example.com"), "", "", ""],
        ["ann@example.com", "", "", ""],  # not hashed: invalid, never matched
        ["", "", sha("fn"), sha("ln")],  # neither EMAIL nor PHONE
    ]
    session = {"session_id": 7, "batch_seq": 1, "last_batch_flag": True, "estimated_num_total": 5}
    answer = upload(graph, audience, rows, session=session).json()
    assert answer == {
        "audience_id": audience,
        "session_id": 7,
        "num_received": 5,
        "num_invalid_entries": 2,
        "invalid_entry_samples": {"ann@example.com": "not a SHA-256 hash"},
    }
    assert listed(graph) == []  # Meta matches asynchronously
    [status] = wait_for(lambda: receiver.changes(STATUS), what="the upload status webhook")
    assert status["custom_audience_id"] == int(audience) and status["num_rows"] == 5
    assert status["approximate_count_lower_bound"] == 2 and status["batch_uploading_status"] == "SUCCESS"
    tokens = listed(graph)
    assert len(tokens) == 2
    assert all(set(t) == {"notification_messages_token", "topic_title", "notification_messages_reoptin",
                          "custom_audience_ids"} for t in tokens)  # fmt: skip
    assert {p["psid"] for p in people[:2]} == {
        p["psid"] for p in sim.people(PAGE_ID) if sim.person(p["psid"])["tokens"]
    }
    assert sim.audience(audience)["received"] == rows


def test_an_upload_takes_at_most_ten_thousand_rows(sim, graph: Graph, audience):
    assert_error(upload(graph, audience, [[sha("a"), "", "", ""]] * 10_001), 100)
    assert upload(graph, audience, [[sha("a"), "", "", ""]] * 10_000).json()["num_received"] == 10_000


def test_removal_keeps_the_opt_in_and_the_unsubscribe_api_takes_contacts(sim, graph: Graph, audience):
    sim.configure(audience_match_seconds=0)
    [ann] = sim.create_people(PAGE_ID, 1, subscribed=False, contacts=[{"email": "ann@example.com"}])
    upload(graph, audience, [[sha("ann@example.com"), "", "", ""]])
    removed = upload(graph, audience, [[sha("ann@example.com"), "", "", ""]], method="DELETE").json()
    assert removed["num_received"] == 1 and "session_id" in removed
    [token] = listed(graph)
    assert token["custom_audience_ids"] == []  # out of the audience, still subscribed (2026-05-05)
    path = f"{PAGE_ID}/messaging_customer_base/unsubscribe"
    answer = graph.request("POST", path, json={"data": [{"email": sha("ann@example.com")}]})
    assert answer.json() == {"invalid_rows_count": 0}
    assert [t["stopped"] for t in sim.person(ann["psid"])["tokens"]] == [True]


def test_the_high_volume_lock_stops_a_page_until_its_volume_drops(sim, graph: Graph):
    sim.configure(high_volume_lock=True, high_volume_rate=5)
    psid = contacted_person(sim)
    answers = [graph.send(psid, {"text": f"hi {n}"}) for n in range(6)]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    assert "high-volume" in assert_error(answers[5], 613)["message"]
    # Calls made while locked count too: a sender slowed below the rate gets through again.
    wait_for(lambda: graph.send(psid, {"text": "later"}).status_code == 200, interval=0.3, what="unlock")


def test_the_high_volume_lock_is_off_by_default(sim, graph: Graph):
    psid = contacted_person(sim)
    assert all(graph.send(psid, {"text": f"hi {n}"}).status_code == 200 for n in range(45))


def test_a_paid_message_to_a_matched_person_hides_who_they_are(sim, graph: Graph, audience, receiver):
    sim.configure(audience_match_seconds=0)
    [page] = [page for page in sim.pages() if page["page_id"] == PAGE_ID]
    sim.create_page(
        page_id=PAGE_ID, subscribed_fields=[*page["subscribed_fields"], "marketing_message_echoes"]
    )
    sim.create_people(PAGE_ID, 1, subscribed=False, contacts=[{"email": "ann@example.com"}])
    upload(graph, audience, [[sha("ann@example.com"), "", "", ""]])
    [token] = listed(graph)
    campaign = graph.request("POST", "act_42/message_campaign", json={"name": "S", "page_id": PAGE_ID}).json()
    body = {
        "message_id": campaign["id"],
        "messenger_delivery_data": {"subscription_token": token["notification_messages_token"]},
        "message": {"text": "Hello"},
    }
    assert graph.request("POST", "act_42/messages", json=body).status_code == 200
    [echo] = wait_for(lambda: receiver.changes("marketing_message_echoes"), what="the echo")
    assert echo["recipient_id"] is None and "mid" not in echo and echo["marketing_message_tracking_id"]
