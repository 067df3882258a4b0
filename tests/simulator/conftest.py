"""Fixtures for the simulator's own tests (the server fixtures come from the simulator's pytest plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from onesend_simulator.pytest_plugin import set_get_started
from onesend_simulator.remote import SimulatorRemote

from .helpers import APP_SECRET, PAGE_ID, PAGE_TOKEN, VERIFY_TOKEN, Graph, WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def sim(simulator: SimulatorRemote, receiver: WebhookReceiver) -> SimulatorRemote:
    """A reset simulator with one Page (``PAGE_ID``/``PAGE_TOKEN``, with a Get Started button, as
    apps give it) posting webhooks to ``receiver``."""
    simulator.configure(webhook_url=receiver.url, app_secret=APP_SECRET, verify_token=VERIFY_TOKEN)
    simulator.create_page(page_id=PAGE_ID, name="Acme", username="acme", access_token=PAGE_TOKEN)
    set_get_started(simulator, {"access_token": PAGE_TOKEN})
    return simulator


@pytest.fixture
def graph(sim: SimulatorRemote) -> Graph:
    return Graph(sim)
