"""The control API (``/_sim/``, JSON over HTTP): set up Pages and people, play the people, read the
simulator's stats. Documented in ``docs/simulator.md``; wrapped for Python by ``remote.SimulatorRemote``.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from .errors import ControlError
from .webhooks import WebhookEmitter
from .world import World

# What a person can do: POST /_sim/people/{psid}/{action} with a JSON body.
ACTIONS: dict[str, Callable[[World, str, dict[str, Any]], dict[str, Any]]] = {
    "open_link": lambda world, psid, body: world.open_link(
        psid, body.get("ref"), body.get("tap_get_started", True) is not False
    ),
    "get_started": lambda world, psid, body: world.get_started(psid),
    "accept_optin": lambda world, psid, body: world.accept_optin(psid, body.get("message_id")),
    "decline_optin": lambda world, psid, body: world.decline_optin(psid, body.get("message_id")),
    "send_text": lambda world, psid, body: world.send_text(
        psid, body.get("text"), body.get("quick_reply_payload")
    ),
    "tap": lambda world, psid, body: world.tap(psid, body.get("payload"), body.get("title")),
    "stop_notifications": lambda world, psid, body: world.set_notifications(psid, True, body.get("title")),
    "resume_notifications": lambda world, psid, body: world.set_notifications(psid, False, body.get("title")),
    "read": lambda world, psid, body: world.read(psid),
    "click_paid": lambda world, psid, body: world.click_paid(psid, body.get("message_id")),
    "fail_paid_delivery": lambda world, psid, body: world.fail_paid_delivery(
        psid, body.get("error_message", "Unknown Error")
    ),
    "refuse_sends": lambda world, psid, body: world.refuse_sends(
        psid, body.get("code"), body.get("count", 1)
    ),
    "block": lambda world, psid, body: world.set_blocked(psid, True),
    "unblock": lambda world, psid, body: world.set_blocked(psid, False),
}


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(payload), status=status, content_type="application/json")


def endpoint(method: Callable[..., Any]) -> Callable[..., Any]:
    """Parse the JSON body, run the (sync or async) handler, turn ``ControlError`` into a JSON error.

    A handler returns the payload, or ``(status, payload)``.
    """

    @functools.wraps(method)
    async def handler(self: ControlApi, request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.body_exists else {}
        except ValueError:
            body = None
        try:
            if not isinstance(body, dict):
                raise ControlError("The body must be a JSON object")
            result = method(self, request, body)
            if inspect.isawaitable(result):
                result = await result
        except ControlError as error:
            return json_response({"error": {"message": str(error)}}, error.status)
        status, payload = result if isinstance(result, tuple) else (200, result)
        return json_response(payload, status)

    return handler


class ControlApi:
    def __init__(self, world: World, emitter: WebhookEmitter) -> None:
        self.world = world
        self.emitter = emitter

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_sim/reset", self.reset),
            web.get("/_sim/config", self.get_config),
            web.patch("/_sim/config", self.patch_config),
            web.post("/_sim/pages", self.add_page),
            web.get("/_sim/pages", self.pages),
            web.post("/_sim/people", self.add_person),
            web.post("/_sim/people/bulk", self.add_people_bulk),
            web.get("/_sim/people", self.people),
            web.get("/_sim/audiences", self.audiences),
            web.get("/_sim/audiences/{audience_id}", self.audience),
            web.get("/_sim/people/{psid}", self.person),
            web.post("/_sim/people/{psid}/{action}", self.act),
            web.get("/_sim/messages", self.messages),
            web.get("/_sim/stats", self.stats),
            web.get("/_sim/webhooks/pending", self.pending),
            web.post("/_sim/webhooks/verify", self.verify),
            web.get("/_sim/attachments/{attachment_id}", self.attachment),
            web.post("/_sim/apps", self.set_app),
            web.get("/_sim/apps", self.apps),
            web.post("/_sim/users", self.add_user),
            web.get("/_sim/users", self.users),
            web.post("/_sim/users/{user_id}/deny", self.deny),
            web.post("/_sim/tokens/revoke", self.revoke),
            web.post("/_sim/tokens/drop", self.drop_tokens),
            web.post("/_sim/ad_accounts", self.add_ad_account),
            web.get("/_sim/ad_accounts", self.ad_accounts),
            web.post("/_sim/login_configs", self.add_login_config),
            web.post("/_sim/business_tokens", self.add_business_token),
        ]

    @endpoint
    async def reset(self, request: web.Request, body: dict) -> Any:
        self.world.reset()
        await self.emitter.clear()
        return {"ok": True}

    @endpoint
    def get_config(self, request: web.Request, body: dict) -> Any:
        return self.world.config.to_dict()

    @endpoint
    def patch_config(self, request: web.Request, body: dict) -> Any:
        self.world.config.update(body)
        self.emitter.wake()
        return self.world.config.to_dict()

    @endpoint
    def add_page(self, request: web.Request, body: dict) -> Any:
        page, created = self.world.add_page(body)
        return (201 if created else 200), self.world.page_view(page)

    @endpoint
    def pages(self, request: web.Request, body: dict) -> Any:
        return {"data": [self.world.page_view(page) for page in self.world.pages.values()]}

    @endpoint
    def add_person(self, request: web.Request, body: dict) -> Any:
        if not body.get("page_id"):
            raise ControlError("page_id is required")
        person = self.world.add_person(str(body["page_id"]), body.get("name"), body.get("country", ""))
        return 201, self.world.person_view(person)

    @endpoint
    def add_people_bulk(self, request: web.Request, body: dict) -> Any:
        if not body.get("page_id"):
            raise ControlError("page_id is required")
        people = self.world.add_people_bulk(
            str(body["page_id"]),
            body.get("count"),
            subscribed=body.get("subscribed", True),
            title=body.get("title"),
            timezone=body.get("timezone", "UTC"),
            payload=body.get("payload", "-"),
            at_ms=body.get("at_ms"),
            names=body.get("names"),
            country=body.get("country", ""),
        )
        if body.get("contacts") is not None:
            self.world.set_contacts([self.world.people[p["psid"]] for p in people], body["contacts"])
        return 201, {"data": people}

    @endpoint
    def drop_tokens(self, request: web.Request, body: dict) -> Any:
        if not body.get("page_id"):
            raise ControlError("page_id is required")
        return {
            "dropped": self.world.drop_tokens(str(body["page_id"]), body.get("count"), body.get("tokens"))
        }

    @endpoint
    def people(self, request: web.Request, body: dict) -> Any:
        page_id = request.query.get("page_id")
        people = (p for p in self.world.people.values() if page_id is None or p.page_id == page_id)
        return {"data": [self.world.person_view(person) for person in people]}

    @endpoint
    def audiences(self, request: web.Request, body: dict) -> Any:
        return {"data": [self.world.audience_view(a) for a in self.world.audiences.values()]}

    @endpoint
    def audience(self, request: web.Request, body: dict) -> Any:
        """One Custom Audience with every row uploaded to it, as received."""
        audience = self.world.audiences.get(request.match_info["audience_id"])
        if audience is None:
            raise ControlError(f"No audience {request.match_info['audience_id']}", 404)
        return self.world.audience_view(audience, rows=True)

    @endpoint
    def person(self, request: web.Request, body: dict) -> Any:
        return self.world.person_view(self.world.person(request.match_info["psid"]), full=True)

    @endpoint
    def act(self, request: web.Request, body: dict) -> Any:
        action = ACTIONS.get(request.match_info["action"])
        if action is None:
            raise ControlError(f"Unknown action {request.match_info['action']!r}", 404)
        return action(self.world, request.match_info["psid"], body)

    @endpoint
    def messages(self, request: web.Request, body: dict) -> Any:
        return {"data": self.world.messages(request.query.get("page_id"), request.query.get("psid"))}

    @endpoint
    def stats(self, request: web.Request, body: dict) -> Any:
        return {**self.world.stats(), "webhooks": self.emitter.stats()}

    @endpoint
    def pending(self, request: web.Request, body: dict) -> Any:
        return self.emitter.pending()

    @endpoint
    def verify(self, request: web.Request, body: dict) -> Any:
        return self.emitter.verify()

    @endpoint
    def set_app(self, request: web.Request, body: dict) -> Any:
        return asdict(self.world.set_app(body))

    @endpoint
    def apps(self, request: web.Request, body: dict) -> Any:
        return {"data": [asdict(app) for app in self.world.apps.values()]}

    @endpoint
    def add_user(self, request: web.Request, body: dict) -> Any:
        user, created = self.world.add_user(body)
        return (201 if created else 200), self.world.user_view(user)

    @endpoint
    def users(self, request: web.Request, body: dict) -> Any:
        return {"data": [self.world.user_view(user) for user in self.world.users.values()]}

    @endpoint
    def deny(self, request: web.Request, body: dict) -> Any:
        return self.world.deny_permission(request.match_info["user_id"], body.get("permission"))

    @endpoint
    def revoke(self, request: web.Request, body: dict) -> Any:
        return self.world.revoke_token(body.get("token"))

    @endpoint
    def add_ad_account(self, request: web.Request, body: dict) -> Any:
        account, created = self.world.add_ad_account(body)
        return (201 if created else 200), self.world.ad_account_view(account)

    @endpoint
    def ad_accounts(self, request: web.Request, body: dict) -> Any:
        return {"data": [self.world.ad_account_view(a) for a in self.world.ad_accounts.values()]}

    @endpoint
    def add_login_config(self, request: web.Request, body: dict) -> Any:
        return 201, self.world.add_login_config(body)

    @endpoint
    def add_business_token(self, request: web.Request, body: dict) -> Any:
        return 201, asdict(self.world.add_business_token(body))

    async def attachment(self, request: web.Request) -> web.Response:
        """The bytes of a file uploaded with ``filedata`` (the thread page shows them)."""
        stored = self.world.attachments.get(request.match_info["attachment_id"])
        if stored is None or stored.data is None:
            raise web.HTTPNotFound()
        return web.Response(body=stored.data, content_type=stored.content_type or "application/octet-stream")
