"""The paid Marketing Messages API as Meta's pages document it: message campaigns, sends to
subscription tokens with tracking ids, the per-token eligibility rule, and the
``marketing_message_*`` webhooks."""

from __future__ import annotations

import pytest

from .helpers import PAGE_ID, Graph, assert_error


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
