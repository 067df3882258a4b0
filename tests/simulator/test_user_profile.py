"""The User Profile API (Meta's Messenger Platform page "User Profile API", Identity): a person's
name and picture by PSID, with their Page's token only."""

from __future__ import annotations

import requests

from .helpers import PAGE_ID, Graph, assert_error


def test_a_persons_profile_by_psid_with_the_pages_token(sim, graph: Graph):
    psid = sim.create_person(PAGE_ID, "Grace Hopper")["psid"]
    fields = "first_name,last_name,profile_pic"
    profile = graph.request("GET", psid, params={"fields": fields}).json()
    assert (profile["id"], profile["first_name"], profile["last_name"]) == (psid, "Grace", "Hopper")
    picture = requests.get(profile["profile_pic"], timeout=10)
    assert picture.headers["Content-Type"].startswith("image/svg+xml") and ">GH<" in picture.text
    assert graph.request("GET", psid, params={"fields": "first_name"}).json() == {
        "id": psid,
        "first_name": "Grace",
    }
    page = graph.request("GET", PAGE_ID).json()
    assert page["id"] == PAGE_ID  # the Page itself, as before


def test_another_pages_token_or_an_unknown_field_gets_metas_errors(sim, graph: Graph):
    psid = sim.create_person(PAGE_ID, "Ada")["psid"]
    sim.create_page(page_id="100000000000002", name="Other", username="other", access_token="EAA-other")
    assert_error(graph.request("GET", psid, token="EAA-other"), 100, 33)
    assert_error(graph.request("GET", psid, params={"fields": "email"}), 100)
