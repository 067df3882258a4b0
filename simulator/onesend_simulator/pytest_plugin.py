"""pytest plugin (entry point ``pytest11``): the real Graph API simulator for a test session.

Installing ``onesend-simulator`` makes these fixtures available to every test suite:

* ``simulator_server`` (session): the simulator served on 127.0.0.1 on a free port from a background
  thread with its own asyncio loop; yields a ``SimulatorRemote`` (``.base_url``, ``.graph_url()``).
* ``simulator`` (function): the same server, reset to an empty world and start-up config.
* ``simulator_page`` (function): a Page registered in that reset world (``page_id``, ``access_token``…).
* ``simulator_subscribers`` (function): ``simulator_subscribers(page_id, n, send_optin=None)`` makes
  n people subscribe through the real opt-in flow and returns ``[{"psid", "token"}, ...]``.

Wait on conditions with ``wait_for`` (or ``simulator.wait_webhooks_drained()``), never with sleeps.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from .app import build_app
from .config import Config
from .remote import SimulatorRemote, wait_for

__all__ = [
    "running_simulator",
    "simulator",
    "simulator_page",
    "simulator_server",
    "simulator_subscribers",
    "subscribe",
    "wait_for",
]

OPTIN_TITLE = "Updates"


class _ServerThread(threading.Thread):
    """Runs one simulator app in its own event loop until ``stop()``."""

    def __init__(self, app: web.Application) -> None:
        super().__init__(name="onesend-simulator", daemon=True)
        self.app = app
        self.port = 0
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self.app, access_log=None)
        try:
            self.loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
        except BaseException as error:  # reported to the starting thread
            self.error = error
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(timeout=10)


@contextmanager
def running_simulator(config: Config | None = None, state_file: Path | None = None) -> Iterator[str]:
    """Serve a simulator until the block ends (saving ``state_file`` then); yields its base URL."""
    thread = _ServerThread(build_app(config or Config(), state_file))
    thread.start()
    if not thread.ready.wait(timeout=10):
        raise RuntimeError("the simulator did not start within 10 s")
    if thread.error is not None:
        raise RuntimeError("the simulator failed to start") from thread.error
    try:
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.stop()


def send_optin_request(simulator: SimulatorRemote, page: dict[str, Any], psid: str) -> None:
    """Send the Page's opt-in request to ``psid`` through the Graph API, as an app does."""
    template = {"template_type": "notification_messages", "title": OPTIN_TITLE, "payload": "-"}
    response = simulator.http.post(
        simulator.graph_url("me/messages"),
        json={
            "recipient": {"id": psid},
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "template", "payload": template}},
        },
        headers={"Authorization": f"Bearer {page['access_token']}"},
        timeout=simulator.timeout,
    )
    response.raise_for_status()


def set_get_started(simulator: SimulatorRemote, page: dict[str, Any]) -> None:
    """Give the Page a Get Started button through the Graph API, as an app does (a new person's
    link click reaches the app only through it)."""
    response = simulator.http.post(
        simulator.graph_url("me/messenger_profile"),
        json={"get_started": {"payload": "GET_STARTED"}},
        headers={"Authorization": f"Bearer {page['access_token']}"},
        timeout=simulator.timeout,
    )
    response.raise_for_status()


def subscribe(
    simulator: SimulatorRemote,
    page_id: str,
    count: int,
    send_optin: Callable[[str], object] | None = None,
) -> list[dict[str, str]]:
    """``count`` new people who open the Page's link, tap Get Started (given to a Page without
    the button first), receive its opt-in request (sent by ``send_optin(psid)``, the app under
    test, or else straight through the Graph API) and accept it: ``[{"psid", "token"}, ...]``.
    Slower than ``create_people`` but every step is the real one."""
    [page] = [page for page in simulator.pages() if page["page_id"] == page_id]
    if not page["get_started"]:
        set_get_started(simulator, page)
    if send_optin is None:
        send_optin = functools.partial(send_optin_request, simulator, page)
    people = []
    for _ in range(count):
        psid = simulator.create_person(page_id)["psid"]
        simulator.open_link(psid)
        send_optin(psid)
        people.append({"psid": psid, "token": simulator.accept_optin(psid)["token"]})
    return people


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[SimulatorRemote]:
    with running_simulator() as base_url:
        yield SimulatorRemote(base_url)


@pytest.fixture
def simulator(simulator_server: SimulatorRemote) -> SimulatorRemote:
    simulator_server.reset()
    return SimulatorRemote(simulator_server.base_url)


@pytest.fixture
def simulator_page(simulator: SimulatorRemote) -> dict[str, Any]:
    """A Page registered in the reset simulator (generated id, username and access token)."""
    return simulator.create_page()


@pytest.fixture
def simulator_subscribers(simulator: SimulatorRemote) -> Callable[..., list[dict[str, str]]]:
    """``simulator_subscribers(page_id, n, send_optin=None)``: see ``subscribe``."""
    return functools.partial(subscribe, simulator)
