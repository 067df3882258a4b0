"""``POST /_sim/people/bulk``: many subscribed people at once, for benchmarks and big fixtures."""

from __future__ import annotations

import time

import pytest
from onesend_simulator.remote import SimulatorError

from .helpers import PAGE_ID, Graph, assert_error

PROMO = {"text": "Summer sale: 30% off"}


def test_bulk_people_are_subscribed_without_webhooks(sim, graph: Graph, receiver):
    people = sim.create_people(PAGE_ID, 300, title="Weekly deals", timezone="Europe/Paris")
    assert len(people) == 300
    assert len({p["psid"] for p in people}) == 300 and len({p["token"] for p in people}) == 300
    assert all(p["psid"].isdigit() and len(p["psid"]) == 16 and p["token"].isdigit() for p in people)

    psid, token = people[0]["psid"], people[0]["token"]
    person = sim.person(psid)
    assert person["contacted"] and person["window_open"] and person["last_marketing_at"] is None
    assert [item["type"] for item in person["thread"]] == ["postback", "optin", "optin_accepted"]
    assert (
        person["thread"][1]["optin"]["state"] == "accepted" and person["thread"][1]["optin"]["token"] == token
    )
    [info] = person["tokens"]
    assert (info["topic_title"], info["notification_messages_timezone"], info["stopped"]) == (
        "Weekly deals",
        "Europe/Paris",
        False,
    )

    # Set-up, not traffic: no webhook, no send counted; the tokens work like accepted opt-ins.
    assert sim.stats()["send"] == {"accepted": 0, "rejected": {}}
    assert graph.send({"notification_messages_token": token}, PROMO).status_code == 200
    assert_error(graph.send({"notification_messages_token": token}, PROMO), 4, 2018354)  # cooldown
    assert sim.messages(psid=psid)[-1]["via"] == "token"
    sim.wait_webhooks_drained()
    assert receiver.of("optin") == [] and receiver.of("postback") == []
    # the one-per-week topic rule knows they were asked already
    assert_error(graph.optin(psid, "Weekly deals"), 613, 1893016)
    # people can act as usual afterwards
    assert sim.stop_notifications(people[1]["psid"])["tokens"] == [people[1]["token"]]
    assert_error(graph.send({"notification_messages_token": people[1]["token"]}, PROMO), 10, 1893015)


def test_bulk_people_not_subscribed_and_defaults(sim, graph: Graph):
    [contacted] = sim.create_people(PAGE_ID, 1, subscribed=False)
    assert contacted["token"] is None
    assert sim.person(contacted["psid"])["tokens"] == []
    assert graph.send(contacted["psid"], PROMO).status_code == 200  # their 24 h window is open
    [default] = sim.create_people(PAGE_ID, 1)
    assert sim.person(default["psid"])["tokens"][0]["topic_title"] == "Updates and promotions"
    assert sim.person(default["psid"])["name"].startswith("Person ")


def test_bulk_people_can_be_named(sim):
    people = sim.create_people(PAGE_ID, 2, names=["Léa", "Hugo"])
    assert [sim.person(p["psid"])["name"] for p in people] == ["Léa", "Hugo"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"page_id": "999", "count": 1}, 404),
        ({"count": 1}, 400),
        ({"page_id": PAGE_ID, "count": 0}, 400),
        ({"page_id": PAGE_ID, "count": "10"}, 400),
        ({"page_id": PAGE_ID, "count": 1, "title": "x" * 66}, 400),
        ({"page_id": PAGE_ID, "count": 1, "subscribed": "yes"}, 400),
        ({"page_id": PAGE_ID, "count": 1, "timezone": ""}, 400),
        ({"page_id": PAGE_ID, "count": 2, "names": ["Léa"]}, 400),
        ({"page_id": PAGE_ID, "count": 1, "names": [""]}, 400),
        ({"page_id": PAGE_ID, "count": 1, "names": "Léa"}, 400),
    ],
)
def test_bulk_people_validation(sim, body, status):
    with pytest.raises(SimulatorError) as raised:
        sim.call("POST", "people/bulk", body)
    assert raised.value.status == status
    assert sim.people(PAGE_ID) == []


def test_bulk_people_scale(sim):
    """A benchmark audience is made in seconds (100 000 take about a second on a CI machine)."""
    started = time.monotonic()
    people = sim.create_people(PAGE_ID, 20_000)
    assert len({p["token"] for p in people}) == 20_000
    assert time.monotonic() - started < 10
