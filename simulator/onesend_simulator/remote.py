"""``SimulatorRemote``: a small synchronous client of the control API, for tests and the demo.

Every method is one control-API call (see ``docs/simulator.md``) and returns its decoded JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

T = TypeVar("T")


class SimulatorError(RuntimeError):
    """A control-API call answered with an error status."""

    def __init__(self, status: int, payload: Any) -> None:
        super().__init__(f"simulator answered {status}: {payload}")
        self.status = status
        self.payload = payload


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.02,
    what: str | Callable[[], str] = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy (and return that); fail after ``timeout``.
    The default is generous: it only bounds a failing test, and a shared CI machine can be slow.
    ``what`` names the condition in the error; a callable is asked then, to tell the state at the end."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout} s waiting for {what() if callable(what) else what}"
            )
        time.sleep(interval)


class SimulatorRemote:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    def graph_url(self, path: str = "", version: str = "v25.0") -> str:
        """The simulator's Graph API URL for ``path`` (e.g. ``me/messages``)."""
        return f"{self.base_url}/{version}/{path.lstrip('/')}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, **query: Any) -> Any:
        params = {key: value for key, value in query.items() if value is not None}
        response = self.http.request(
            method, f"{self.base_url}/_sim/{path}", json=body, params=params, timeout=self.timeout
        )
        payload = response.json()
        if response.status_code >= 400:
            raise SimulatorError(response.status_code, payload)
        return payload

    # -------------------------------------------------------------------------------- set-up

    def reset(self) -> Any:
        return self.call("POST", "reset")

    def config(self) -> dict[str, Any]:
        return self.call("GET", "config")

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self.call("PATCH", "config", changes)

    def create_page(self, **fields: Any) -> dict[str, Any]:
        """``page_id``, ``name``, ``username``, ``access_token``, ``app_id``, ``subscribed_fields``,
        ``scopes``, ``get_started`` (its Get Started payload, or None: no button) (all optional)."""
        return self.call("POST", "pages", fields)

    def pages(self) -> list[dict[str, Any]]:
        return self.call("GET", "pages")["data"]

    def set_app(self, app_id: str, **settings: Any) -> dict[str, Any]:
        """Change a Meta app's settings: ``require_app_secret`` (bool), ``app_secret``."""
        return self.call("POST", "apps", {"app_id": app_id, **settings})

    def create_user(self, **fields: Any) -> dict[str, Any]:
        """A business owner for the login dialog: ``user_id``, ``name``, ``page_ids``, ``businesses``
        (``[{"id", "name", "owned_page_ids", "client_page_ids"}]``) (all optional)."""
        return self.call("POST", "users", fields)

    def users(self) -> list[dict[str, Any]]:
        return self.call("GET", "users")["data"]

    def deny_permission(self, user_id: str, permission: str) -> dict[str, Any]:
        """The owner takes ``permission`` back: their user and Page tokens lose it."""
        return self.call("POST", f"users/{user_id}/deny", {"permission": permission})

    def revoke_token(self, token: str) -> dict[str, Any]:
        """A user or Page access token stops working (190/460); a Page gets a new token."""
        return self.call("POST", "tokens/revoke", {"token": token})

    def create_ad_account(self, **fields: Any) -> dict[str, Any]:
        """An ad account, or changes to one: ``account_id``, ``name``, ``currency``,
        ``account_status``, ``disable_reason``, ``business_country_code``, ``funding_source`` (the
        payment method's display string, None: none), ``terms_accepted``, ``user_id`` (who may
        pick it in a Login for Business dialog)."""
        return self.call("POST", "ad_accounts", fields)

    def create_login_config(self, flow: str, config_id: str | None = None) -> dict[str, Any]:
        """A Facebook Login for Business configuration: ``flow`` is ``business``, ``asset`` or
        ``partner`` (Flows 1, 2 and 3)."""
        return self.call("POST", "login_configs", {"flow": flow, "config_id": config_id})

    def create_business_token(self, **fields: Any) -> dict[str, Any]:
        """A token as a finished Login for Business gives it, without the dialog: ``flow``,
        ``page_ids``, ``ad_account_ids``, ``app_id``. Returns it with its ``token``."""
        return self.call("POST", "business_tokens", fields)

    def create_person(self, page_id: str, name: str | None = None, country: str = "") -> dict[str, Any]:
        """A person of the Page; ``country`` is where Meta places them (the paid API's regions)."""
        return self.call("POST", "people", {"page_id": page_id, "name": name, "country": country})

    def create_people(
        self,
        page_id: str,
        count: int,
        *,
        title: str | None = None,
        subscribed: bool = True,
        timezone: str = "UTC",
        payload: str | None = None,
        at_ms: int | None = None,
        names: list[str] | None = None,
        contacts: list[dict[str, str]] | None = None,
        country: str = "",
    ) -> list[dict[str, Any]]:
        """``count`` people who opened the thread and (``subscribed``) accepted the opt-in for
        ``title`` (default: the opt-in template's default title), in one call and without webhooks:
        ``[{"psid", "token"}, ...]`` (``token`` is None when not subscribed). ``at_ms`` dates it
        (default now): tokens the Page already held before it came to us. ``names``: one per person
        (default "Person <n>"). ``contacts``: one ``{"email", "phone"}`` per person, what they gave
        Meta, which a Custom Audience upload is matched against. ``country``: where Meta places them
        (the paid API's regions)."""
        body = {"page_id": page_id, "count": count, "subscribed": subscribed, "timezone": timezone}
        body["country"] = country
        optional = (
            ("title", title), ("payload", payload), ("at_ms", at_ms), ("names", names), ("contacts", contacts)
        )  # fmt: skip
        body.update({key: value for key, value in optional if value is not None})
        return self.call("POST", "people/bulk", body)["data"]

    def drop_tokens(
        self, page_id: str, count: int | None = None, tokens: list[str] | None = None
    ) -> list[str]:
        """Meta no longer holds these tokens of the Page (its first ``count`` as listed, or
        ``tokens``): no longer listed, refused when sent to. Returns those dropped."""
        body = {"page_id": page_id, "count": count, "tokens": tokens}
        return self.call("POST", "tokens/drop", {k: v for k, v in body.items() if v is not None})["dropped"]

    def audiences(self) -> list[dict[str, Any]]:
        """Every Custom Audience: its Page, rows received, invalid rows, people matched."""
        return self.call("GET", "audiences")["data"]

    def audience(self, audience_id: str) -> dict[str, Any]:
        """One Custom Audience with ``received``: every uploaded row, as it arrived."""
        return self.call("GET", f"audiences/{audience_id}")

    def people(self, page_id: str | None = None) -> list[dict[str, Any]]:
        return self.call("GET", "people", page_id=page_id)["data"]

    def person(self, psid: str) -> dict[str, Any]:
        """The person with their whole thread and tokens."""
        return self.call("GET", f"people/{psid}")

    # ------------------------------------------------------------------------ the person acts

    def act(self, psid: str, action: str, **body: Any) -> dict[str, Any]:
        return self.call("POST", f"people/{psid}/{action}", {k: v for k, v in body.items() if v is not None})

    def open_link(self, psid: str, ref: str | None = None, tap_get_started: bool = True) -> dict[str, Any]:
        """Open the Page's m.me link; in a new thread, also tap its Get Started button (if the
        Page has one) unless ``tap_get_started`` is False (then call :meth:`get_started`)."""
        return self.act(psid, "open_link", ref=ref, tap_get_started=tap_get_started)

    def get_started(self, psid: str) -> dict[str, Any]:
        return self.act(psid, "get_started")

    def accept_optin(self, psid: str, message_id: str | None = None) -> dict[str, Any]:
        return self.act(psid, "accept_optin", message_id=message_id)

    def decline_optin(self, psid: str, message_id: str | None = None) -> dict[str, Any]:
        return self.act(psid, "decline_optin", message_id=message_id)

    def send_text(self, psid: str, text: str, quick_reply_payload: str | None = None) -> dict[str, Any]:
        return self.act(psid, "send_text", text=text, quick_reply_payload=quick_reply_payload)

    def tap(self, psid: str, payload: str, title: str | None = None) -> dict[str, Any]:
        return self.act(psid, "tap", payload=payload, title=title)

    def stop_notifications(self, psid: str, title: str | None = None) -> dict[str, Any]:
        return self.act(psid, "stop_notifications", title=title)

    def resume_notifications(self, psid: str, title: str | None = None) -> dict[str, Any]:
        return self.act(psid, "resume_notifications", title=title)

    def read(self, psid: str) -> dict[str, Any]:
        return self.act(psid, "read")

    def click_paid(self, psid: str, message_id: str | None = None) -> dict[str, Any]:
        """The person taps a button of a paid marketing message (``message_id``: its mid; else
        their last one)."""
        return self.act(psid, "click_paid", message_id=message_id)

    def refuse_sends(self, psid: str, code: int, count: int = 1) -> dict[str, Any]:
        """The person's next ``count`` sends get Meta's error ``code``: 1200 (temporary) or a
        paid-API frequency cap (2300042-2300044)."""
        return self.act(psid, "refuse_sends", code=code, count=count)

    def fail_paid_delivery(self, psid: str, error_message: str | None = None) -> dict[str, Any]:
        """Meta drops the person's last paid marketing message after accepting it."""
        return self.act(psid, "fail_paid_delivery", error_message=error_message)

    def block(self, psid: str) -> dict[str, Any]:
        return self.act(psid, "block")

    def unblock(self, psid: str) -> dict[str, Any]:
        return self.act(psid, "unblock")

    # ------------------------------------------------------------------------------ observing

    def stats(self) -> dict[str, Any]:
        return self.call("GET", "stats")

    def messages(self, page_id: str | None = None, psid: str | None = None) -> list[dict[str, Any]]:
        """Every accepted send, oldest first."""
        return self.call("GET", "messages", page_id=page_id, psid=psid)["data"]

    def pending_webhooks(self) -> dict[str, int]:
        return self.call("GET", "webhooks/pending")

    def verify_webhook(self) -> dict[str, Any]:
        return self.call("POST", "webhooks/verify")

    def wait_webhooks_drained(self, timeout: float = 10.0) -> None:
        """Wait until every emitted webhook was answered 200 (nothing queued, delayed or retrying)."""
        wait_for(lambda: self.pending_webhooks()["pending"] == 0, timeout, what="the webhook queue to drain")
