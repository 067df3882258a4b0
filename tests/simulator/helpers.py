"""Helpers for the simulator's own tests: a stand-in webhook receiver, a tiny Graph client, asserts."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from onesend_simulator.remote import SimulatorRemote, wait_for

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
PAGE_ID = "100000000000001"
PAGE_TOKEN = "EAA-test-page-token"


class WebhookReceiver:
    """Stands in for the app's webhook view: records raw POSTs, answers scripted statuses (then 200)
    and Meta's ``hub.challenge`` GET."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.statuses: deque[int] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.statuses.popleft() if receiver.statuses else 200
                receiver.posts.append((dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                query = parse_qs(urlsplit(self.path).query)
                ok = query.get("hub.mode") == ["subscribe"] and query.get("hub.verify_token") == [
                    VERIFY_TOKEN
                ]
                body = query["hub.challenge"][0].encode() if ok else b"forbidden"
                self.send_response(200 if ok else 403)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhook"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.posts]

    def events(self) -> list[dict[str, Any]]:
        """Every ``messaging`` event received, in arrival order (duplicates included)."""
        return [
            event for body in self.bodies() for entry in body["entry"] for event in entry.get("messaging", [])
        ]

    def changes(self, field: str) -> list[dict[str, Any]]:
        """The ``value`` of every ``changes`` item of this ``field`` received, in arrival order."""
        changes = (c for body in self.bodies() for entry in body["entry"] for c in entry.get("changes", []))
        return [change["value"] for change in changes if change["field"] == field]

    def of(self, key: str) -> list[dict[str, Any]]:
        """The received events of one kind: ``message``, ``postback``, ``optin``, ``delivery``, ``read`` ..."""
        return [event for event in self.events() if key in event]

    def wait(self, key: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until ``count`` events of kind ``key`` arrived; returns them."""
        return wait_for(
            lambda: len(self.of(key)) >= count and self.of(key), timeout, what=f"{count} {key} webhooks"
        )


class Graph:
    """Calls the simulator's Graph API like the app does (JSON body, token in the query string)."""

    def __init__(self, remote: SimulatorRemote) -> None:
        self.remote = remote
        self.http = requests.Session()

    def request(
        self, method: str, path: str, token: str | None = PAGE_TOKEN, **kwargs: Any
    ) -> requests.Response:
        params = kwargs.pop("params", {})
        if token is not None:
            params["access_token"] = token
        return self.http.request(method, self.remote.graph_url(path), params=params, timeout=10, **kwargs)

    def send(self, recipient: dict[str, Any] | str, message: dict[str, Any] | None = None, **fields: Any):
        """POST me/messages; a str recipient is a PSID."""
        recipient = {"id": recipient} if isinstance(recipient, str) else recipient
        body = {"recipient": recipient, **({"message": message} if message is not None else {}), **fields}
        token = body.pop("token", PAGE_TOKEN)
        return self.request("POST", "me/messages", token=token, json=body)

    def optin(self, psid: str, title: str = "Weekly deals", token: str = PAGE_TOKEN, **fields: Any):
        """Send an opt-in request; ``fields`` go into the template payload unless they are send fields."""
        send_fields = {key: fields.pop(key) for key in ("messaging_type", "tag") if key in fields}
        payload = {
            "template_type": "notification_messages",
            "title": title,
            "payload": "campaign=7",
            **fields,
        }
        return self.send(
            psid, {"attachment": {"type": "template", "payload": payload}}, token=token, **send_fields
        )


def assert_error(
    response: requests.Response, code: int, subcode: int | None = None, status: int = 400
) -> dict:
    """Meta's error envelope with this code/subcode; returns the ``error`` object."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error.get("error_subcode")) == (code, subcode), error
    assert error["message"].startswith(f"(#{code}) ")
    assert error["type"] and error["fbtrace_id"]
    return error


def contacted_person(sim: SimulatorRemote, name: str = "Ann", ref: str | None = "qr1") -> str:
    """A person who opened the Page's m.me link (so the 24 h window is open); returns the PSID."""
    psid = sim.create_person(PAGE_ID, name)["psid"]
    sim.open_link(psid, ref)
    return psid


def subscriber(
    sim: SimulatorRemote, graph: Graph, title: str = "Weekly deals", name: str = "Ann"
) -> tuple[str, str]:
    """A person who accepted an opt-in request for ``title``: (PSID, token)."""
    psid = contacted_person(sim, name)
    assert graph.optin(psid, title).status_code == 200
    return psid, sim.accept_optin(psid)["token"]
