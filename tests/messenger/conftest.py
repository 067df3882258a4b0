"""Fixtures for GraphClient tests: a fake transport and a client mounted on it, and a simulated Page.

``client`` here is a GraphClient, not Django's test client: no Messenger test uses the latter.
"""

from collections.abc import Iterator

import pytest
import requests
from onesend_simulator.remote import SimulatorRemote

from onesend_plugin.messenger.client import GraphClient

from .graph_fake import BASE, TOKEN, FakeTransport
from .simulated_page import APP_ID, PAGE_ID, PAGE_TOKEN, make_client


@pytest.fixture
def transport():
    return FakeTransport()


@pytest.fixture
def client(transport):
    session = requests.Session()
    session.mount(BASE, transport)
    return GraphClient(TOKEN, base_url=BASE + "/", version="v99.0", timeout=(1, 2), session=session)


@pytest.fixture
def sim(simulator: SimulatorRemote) -> SimulatorRemote:
    """A reset simulator with one Page (``PAGE_ID``, ``PAGE_TOKEN``) that has a Get Started
    button (so a new person's link click reaches the app)."""
    simulator.create_page(
        page_id=PAGE_ID, name="Acme", username="acme", access_token=PAGE_TOKEN, app_id=APP_ID
    )
    make_client(simulator).set_get_started()
    return simulator


@pytest.fixture
def graph(sim: SimulatorRemote) -> Iterator[GraphClient]:
    client = make_client(sim)
    yield client
    client.close()
