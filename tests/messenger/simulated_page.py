"""The simulated Page the GraphClient-against-simulator tests share: its ids, a client, its people.

Used by the ``sim`` and ``graph`` fixtures in this folder's conftest and by the tests themselves.
"""

from __future__ import annotations

from typing import Any

from onesend_simulator.remote import SimulatorRemote

from onesend_plugin.messenger.client import GraphClient

PAGE_ID = "100000000000001"
PAGE_TOKEN = "EAA-client-simulator-page-token"
APP_ID = "9223487165081970"
OTHER_PAGE_ID = "100000000000002"
OTHER_TOKEN = "EAA-client-simulator-other-token"
TITLE = "Weekly deals"
TEXT = {"text": "Summer sale: 30% off today only"}


def make_client(sim: SimulatorRemote, token: str = PAGE_TOKEN, **kwargs: Any) -> GraphClient:
    return GraphClient(token, base_url=sim.base_url, **{"timeout": (2, 10), **kwargs})


def new_person(sim: SimulatorRemote, *, wrote: bool = True, page_id: str = PAGE_ID) -> str:
    """A person of the Page; ``wrote``: they opened the m.me link, so the 24 h window is open."""
    psid = sim.create_person(page_id)["psid"]
    if wrote:
        sim.open_link(psid, ref="summer")
    return psid


def subscribe(sim: SimulatorRemote, graph: GraphClient, psid: str, title: str = TITLE) -> str:
    """Send the opt-in request and have the person accept it; returns the marketing token."""
    graph.send_optin_request(psid=psid, title=title, payload="campaign=7")
    return sim.accept_optin(psid)["token"]


def subscriber(
    sim: SimulatorRemote, graph: GraphClient, title: str = TITLE, page_id: str = PAGE_ID
) -> tuple[str, str]:
    """A new person of ``page_id`` who subscribed to ``title``: (psid, token)."""
    psid = new_person(sim, page_id=page_id)
    return psid, subscribe(sim, graph, psid, title)
