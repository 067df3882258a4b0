"""The click-through web page, the console script and the state file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests
from onesend_simulator import Config
from onesend_simulator.pytest_plugin import running_simulator
from onesend_simulator.remote import SimulatorRemote, wait_for

from .helpers import PAGE_ID, VERIFY_TOKEN, Graph, contacted_person


def test_mme_link_form_creates_a_person_and_fires_the_referral(sim, receiver):
    browser = requests.Session()
    form = browser.get(f"{sim.base_url}/m.me/acme", params={"ref": "summer"})
    assert form.status_code == 200 and 'data-testid="continue"' in form.text and 'value="summer"' in form.text
    opened = browser.post(f"{sim.base_url}/m.me/acme", data={"person": "new", "name": "Zoe", "ref": "summer"})
    assert opened.status_code == 200 and opened.url.startswith(f"{sim.base_url}/_sim/ui/")
    psid = opened.url.rsplit("/", 1)[1]
    assert sim.person(psid)["name"] == "Zoe" and sim.person(psid)["get_started_button"]
    assert receiver.posts == []  # the welcome screen waits for the tap
    sim.get_started(psid)
    assert receiver.wait("postback")[0]["postback"]["referral"]["ref"] == "summer"

    again = browser.get(f"{sim.base_url}/m.me/{PAGE_ID}", params={"ref": "winter"})  # id works as well
    assert f'value="{psid}" data-testid="person-existing" checked' in again.text
    browser.post(f"{sim.base_url}/m.me/{PAGE_ID}", data={"person": psid, "ref": "winter"})
    assert receiver.wait("referral")[0]["referral"]["ref"] == "winter"
    assert browser.get(f"{sim.base_url}/m.me/nobody").status_code == 404


def test_thread_page_and_index(sim, graph: Graph):
    psid = contacted_person(sim, "Ann <script>")
    page = requests.get(f"{sim.base_url}/_sim/ui/{psid}").text
    for testid in ("thread", "message-input", "message-send", "stop-notifications", "resume-notifications"):
        assert f'data-testid="{testid}"' in page
    assert "<script>" not in page.replace('<script src="/_sim/static/thread.js"></script>', "")
    script = requests.get(f"{sim.base_url}/_sim/static/thread.js").text
    for testid in (
        "optin-accept",
        "optin-decline",
        "thread-message",
        "quick-reply",
        "postback-button",
        "get-started",
    ):
        assert testid in script
    index = requests.get(f"{sim.base_url}/_sim/").text
    assert f"/_sim/ui/{psid}" in index and "/m.me/acme" in index
    assert requests.get(f"{sim.base_url}/_sim/ui/0").status_code == 404


def test_control_api_errors(simulator):
    for method, path, body in [
        ("GET", "people/0", None),
        ("POST", "people", {"page_id": "1"}),
        ("POST", "pages", {"page_id": "abc"}),
        ("POST", "people/0/dance", {}),
        ("PATCH", "config", {"batch_max": 0}),
    ]:
        response = requests.request(method, f"{simulator.base_url}/_sim/{path}", json=body)
        assert response.status_code in (400, 404) and response.json()["error"]["message"]
    assert requests.post(f"{simulator.base_url}/_sim/pages", data="[").status_code == 400


def test_pages_are_upserted(simulator):
    created = simulator.create_page(page_id=PAGE_ID, name="Acme", access_token="t1")
    updated = simulator.create_page(page_id=PAGE_ID, access_token="t2")
    assert updated == {**created, "access_token": "t2"}
    assert [page["page_id"] for page in simulator.pages()] == [PAGE_ID]
    simulator.create_page(page_id="200000000000002", access_token="t3")
    response = requests.post(
        f"{simulator.base_url}/_sim/pages", json={"page_id": PAGE_ID, "access_token": "t3"}
    )
    assert response.status_code == 409


def test_state_survives_a_restart(tmp_path: Path):
    state_file = tmp_path / "state.json"
    with running_simulator(Config(), state_file) as base_url:
        remote = SimulatorRemote(base_url)
        remote.create_page(page_id=PAGE_ID, username="acme", access_token="tok", get_started="GET_STARTED")
        psid = remote.create_person(PAGE_ID, "Ann")["psid"]
        remote.open_link(psid, "x")
        graph = Graph(remote)
        graph.optin(psid, token="tok")
        token = remote.accept_optin(psid)["token"]
    assert json.loads(state_file.read_text())["tokens"][0]["token"] == token
    with running_simulator(Config(), state_file) as base_url:
        remote = SimulatorRemote(base_url)
        assert remote.person(psid)["tokens"][0]["notification_messages_token"] == token
        sent = Graph(remote).send({"notification_messages_token": token}, {"text": "hi"}, token="tok")
        assert sent.status_code == 200
        assert len(remote.messages()) == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_console_script_runs_the_server(tmp_path: Path, receiver):
    port = free_port()
    state_file = tmp_path / "state.json"
    command = [
        sys.executable,
        "-m",
        "onesend_simulator",
        "--port",
        str(port),
        "--cooldown-hours",
        "48",
        "--text-rate",
        "250",
        "--no-receipts",
        "--batch-max",
        "5",
        "--state-file",
        str(state_file),
        "--webhook-url",
        receiver.url,
        "--verify-token",
        VERIFY_TOKEN,
        "--verify-webhook",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    try:
        remote = SimulatorRemote(f"http://127.0.0.1:{port}")

        def config():
            try:
                return remote.config()
            except requests.ConnectionError:
                return None

        settings = wait_for(config, timeout=10, what="the simulator to start")
        assert (
            settings["cooldown_hours"],
            settings["text_rate"],
            settings["receipts"],
            settings["batch_max"],
        ) == (48, 250, False, 5)
        verification = wait_for(
            lambda: remote.stats()["webhooks"]["verification"], what="the hub.challenge GET"
        )
        assert verification["ok"] is True
        remote.create_page(page_id=PAGE_ID)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert json.loads(state_file.read_text())["pages"][0]["page_id"] == PAGE_ID
