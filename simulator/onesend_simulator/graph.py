"""The Graph API surface: HTTP parsing, auth, routing, the error envelope and batches (Meta's pages:
https://developers.facebook.com/docs/messenger-platform/reference/send-api/ and
https://developers.facebook.com/docs/graph-api/batch-requests).

``GraphApi.call`` is transport-free (method, path, params, token) so that batch items go through
exactly the same code as plain requests. Kept lean: it is the benchmark's hot path.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web

from . import errors
from .errors import GraphError
from .model import BusinessToken, Grant, Page, Upload
from .world import World

VERSION = re.compile(r"v\d+\.\d+(?:/|$)")
MAX_BATCH = 50
USAGE_HEADER = "X-Business-Use-Case-Usage"
CONTENT_TYPE = [{"name": "Content-Type", "value": "application/json"}]
dumps = json.JSONEncoder(separators=(",", ":")).encode


@dataclass
class GraphResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """What a route handler gets besides the authenticated Page."""

    match: re.Match[str]
    method: str
    params: dict[str, Any]
    token: str | None
    root: str  # scheme://host/version, for paging links


@dataclass
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Callable[..., Any]
    sends: bool = False  # a Send API call: counted in the stats and answered with the usage header
    # The token it takes: "page", "user", "app" ({id}|{secret}), "paid" (a paid Marketing Messages
    # API call: World.paid_page), "business" (a Facebook Login for Business token), "token" (the
    # handler reads it) or "none".
    auth: str = "page"


def route(methods: str, pattern: str, handler: Callable[..., Any], **options: Any) -> Route:
    """A route from its methods (space-separated), its path pattern and its handler."""
    return Route(frozenset(methods.split()), re.compile(pattern), handler, **options)


def _decode(params: dict[str, Any]) -> dict[str, Any]:
    """Form and query values holding JSON (``recipient``, ``message``, ``batch`` ...) become objects."""
    for key, value in params.items():
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                params[key] = json.loads(value)
            except ValueError:
                raise errors.param(f"Param {key} must be valid JSON") from None
    return params


def strip_version(path: str) -> tuple[str | None, str]:
    path = path.lstrip("/")
    match = VERSION.match(path)
    if match is None:
        return None, path
    return match.group().rstrip("/"), path[match.end() :]


class GraphApi:
    def __init__(self, world: World) -> None:
        self.world = world
        page = r"(?P<page>me|\d+)"
        self.routes_table = [
            route("GET", r"oauth/access_token", self._exchange, auth="none"),
            route("GET", r"me/accounts", self._accounts, auth="user"),
            route("GET", r"me/permissions", self._permissions, auth="user"),
            route("GET", r"me/businesses", self._businesses, auth="user"),
            route(
                "GET",
                r"(?P<business>\d+)/(?P<edge>owned_pages|client_pages)",
                self._business_pages,
                auth="user",
            ),
            route("GET", r"debug_token", self._debug_token, auth="app"),
            route("POST", r"act_(?P<account>\d+)/message_campaign", self._campaign, auth="paid"),
            route("POST", r"act_(?P<account>\d+)/messages", self._marketing, sends=True, auth="paid"),
            route("GET", r"act_(?P<account>\d+)/message_delivery_estimate", self._estimate, auth="paid"),
            route("POST", r"act_(?P<account>\d+)/customaudiences", self._create_audience, auth="paid"),
            route("GET", r"act_(?P<account>\d+)/customaudiences", self._audiences, auth="business"),
            route("POST DELETE", r"(?P<audience>238\d{14})/users", self._audience_users, auth="paid"),
            route("GET", r"act_(?P<account>\d+)", self._ad_account, auth="business"),
            route("GET", r"(?P<campaign>120\d{15})/insights", self._insights, auth="paid"),
            route("GET DELETE", r"(?P<campaign>120\d{15})", self._campaign_object, auth="paid"),
            route(
                "POST",
                r"system_accounts/(?P<user>\d+)/asset-connections",
                self._asset_connection,
                auth="business",
            ),
            route("GET", r"me", self._me, auth="token"),
            route("POST", page + "/messages", self._send, sends=True),
            route("POST", page + "/message_attachments", self._upload),
            route("POST", page + "/messaging_customer_base/unsubscribe", self._unsubscribe_customers),
            route("GET POST DELETE", page + "/subscribed_apps", self._subscribed),
            route("GET POST DELETE", page + "/messenger_profile", self._profile),
            route("GET", page + "/notification_message_tokens", self._tokens),
            route("GET", r"notification_messages_(?P<token>[^/]+)", self._token),
            route("GET", r"(?P<node>me|\d+)", self._node),
        ]

    def routes(self) -> list[web.RouteDef]:
        """A catch-all: register it after every other route."""
        return [web.route("*", "/{tail:.*}", self.handle)]

    # ------------------------------------------------------------------------------------- HTTP

    async def handle(self, request: web.Request) -> web.Response:
        """Answer a Graph call. The call is judged (rate windows, cooldowns) when it arrives, as
        Meta stamps it; the configured latency delays only the answer, so a busy event loop waking
        late from the sleep cannot make on-time sends look like a burst."""
        response = await self._answer(request)
        latency = self.world.config.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        return response

    async def _answer(self, request: web.Request) -> web.Response:
        version, path = strip_version(request.match_info["tail"])
        root = f"{request.scheme}://{request.host}/{version or 'v25.0'}"
        try:
            params = _decode(dict(request.query))
            params.update(await self._body(request))
        except GraphError as error:
            return self._response(self._error(error))
        authorization = request.headers.get("Authorization", "")
        token = params.pop("access_token", None) or (
            authorization[7:] if authorization[:7] == "Bearer " else None
        )
        proof = params.pop("appsecret_proof", None)
        if path == "" and request.method == "POST":
            return self._response(self.batch(params, token, root, proof))
        if path.startswith("system_accounts/") and (version or request.content_type != "multipart/form-data"):
            # Onboard Businesses (Flow 3): api.facebook.com, no version segment, multipart form data.
            return self._response(self._error(errors.unknown_path(f"{version}/{path}" if version else path)))
        return self._response(self.call(request.method, path, params, token, root, proof))

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if not request.body_exists:
            return {}
        if request.content_type == "application/json":
            try:
                body = json.loads(await request.read())
            except ValueError:
                raise errors.param("The request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise errors.param("The request body must be a JSON object")
            return _decode(body)
        params: dict[str, Any] = {}
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                params[key] = Upload(value.filename, value.content_type, value.file.read())
            else:
                params[key] = value
        return _decode(params)

    @staticmethod
    def _response(response: GraphResponse) -> web.Response:
        return web.Response(
            body=dumps(response.body).encode(),
            status=response.status,
            headers=response.headers,
            content_type="application/json",
        )

    # ------------------------------------------------------------------------------- dispatching

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        token: str | None,
        root: str,
        proof: Any = None,
    ) -> GraphResponse:
        """One Graph call; every failure becomes Meta's error envelope. ``proof`` is the call's
        ``appsecret_proof``, checked for apps that require it."""
        for route in self.routes_table:
            match = route.pattern.fullmatch(path)
            if match is not None:
                break
        else:
            return self._error(errors.unknown_path(path))
        if method not in route.methods:
            return self._error(errors.no_object(path.split("/")[0], method))
        page: Page | None = None
        error: GraphError | None = None
        try:
            subject: Any = None
            if route.auth == "page":
                subject = page = self.world.page_for_token(token)
                ref = match.groupdict().get("page")
                if ref is not None and ref not in ("me", page.page_id):
                    raise errors.no_object(ref, method)
                if route.sends and "pages_messaging" not in page.scopes:
                    raise errors.missing_permission("pages_messaging")
            elif route.auth == "paid":
                subject = page = self._paid_page(token, match, params)
            elif route.auth == "business":
                subject = self.world.business_token(token)
            elif route.auth == "token":
                subject = token
            elif route.auth == "user":
                subject = self.world.grant_for_token(token)
            elif route.auth == "app":
                self.world.check_app_token(token)
            if route.auth != "none":
                self.world.check_proof(self._app_id(route.auth, subject, token), token, proof)
            if self.world.config.failure_rate and random.random() < self.world.config.failure_rate:
                raise errors.transient()
            answer = route.handler(subject, Call(match, method, params, token, root))
            response = answer if isinstance(answer, GraphResponse) else GraphResponse(200, answer)
        except GraphError as raised:
            error = raised
            response = self._error(raised)
        if route.sends:
            self.world.count_send(error)
            if page is not None:
                response.headers[USAGE_HEADER] = dumps(self.world.usage(page))
        return response

    def _app_id(self, auth: str, subject: Any, token: str | None) -> str:
        """The app a call is made for: the app token's, the one a user logged in to, or that of
        the Page or business token."""
        if auth == "app":
            return (token or "").partition("|")[0]
        if auth == "token":  # any token: whichever kind it is
            world, key = self.world, token or ""
            subject = (
                world.business_tokens.get(key) or world.user_tokens.get(key) or world._page_by_token.get(key)
            )
        if isinstance(subject, Grant):
            return subject.client_id
        return getattr(subject, "app_id", "")

    def _paid_page(self, token: str | None, match: re.Match[str], params: dict[str, Any]) -> Page:
        """The Page a paid call acts for, named by its campaign (the path's, or ``message_id``),
        its ``page_id`` or its ``promoted_object`` (``World.paid_page`` checks the token)."""
        groups = match.groupdict()
        if groups.get("audience"):
            audience = self.world.audience_of(groups["audience"])
            return self.world.paid_page(token, audience.ad_account_id, audience.page_id)
        key = groups.get("campaign") or params.get("message_id")
        campaign = self.world.campaigns.get(str(key or ""))
        if campaign is not None:
            return self.world.paid_page(
                token, groups.get("account") or campaign.ad_account_id, campaign.page_id
            )
        promoted = params.get("promoted_object") or params.get("marketing_message_channels")
        named = promoted.get("page_id") or promoted.get("MESSENGER") if isinstance(promoted, dict) else None
        page_id = params.get("page_id") or named
        return self.world.paid_page(token, groups.get("account"), None if key else page_id)

    @staticmethod
    def _error(error: GraphError) -> GraphResponse:
        return GraphResponse(error.status, error.envelope())

    def batch(self, params: dict[str, Any], token: str | None, root: str, proof: Any = None) -> GraphResponse:
        """``POST /{v}/`` with ``batch``: each item is a separate call, answered in order. An item
        without a token of its own uses the call's, with the call's ``appsecret_proof`` (Meta's
        batch sample in "Securing Graph API Requests"); one with its own token needs its own proof."""
        items = params.get("batch")
        if not isinstance(items, list) or not items:
            return self._error(errors.param("The parameter batch is required and must be a JSON array"))
        if len(items) > MAX_BATCH:
            return self._error(
                errors.param(f"Too many requests in batch message. Maximum batch size is {MAX_BATCH}")
            )
        answers = [self._batch_item(item, token, root, proof) for item in items]
        if self.world.config.garbled_batch_replies:
            self.world.config.garbled_batch_replies -= 1
            return self._error(errors.invalid_json_reply())
        return GraphResponse(200, answers)

    def _batch_item(self, item: Any, token: str | None, root: str, proof: Any) -> dict[str, Any]:
        if isinstance(item, dict) and isinstance(item.get("relative_url"), str):
            url = urlsplit(item["relative_url"])
            try:
                params = _decode(dict(parse_qsl(url.query)))
                body = item.get("body") or {}
                params.update(_decode(dict(parse_qsl(body))) if isinstance(body, str) else body)
            except GraphError as error:
                response = self._error(error)
            else:
                own, own_proof = params.pop("access_token", None), params.pop("appsecret_proof", None)
                item_token, item_proof = (own, own_proof) if own else (token, own_proof or proof)
                method = str(item.get("method", "GET")).upper()
                path = strip_version(url.path)[1]
                response = self.call(method, path, params, item_token, root, item_proof)
        else:
            response = self._error(errors.param("Each batch item needs a method and a relative_url"))
        headers = CONTENT_TYPE + [{"name": name, "value": value} for name, value in response.headers.items()]
        return {"code": response.status, "headers": headers, "body": dumps(response.body)}

    # ---------------------------------------------------------------------------------- handlers

    def _send(self, page: Page, call: Call) -> Any:
        return self.world.send(page, call.params)

    def _marketing(self, page: Page, call: Call) -> Any:
        return self.world.send_marketing(page, call.match["account"], call.params)

    def _campaign(self, page: Page, call: Call) -> Any:
        return self.world.create_campaign(call.match["account"], call.params)

    def _campaign_object(self, page: Page, call: Call) -> Any:
        if call.method == "DELETE":
            return self.world.delete_campaign(page, call.match["campaign"])
        return self.world.campaign_fields(page, call.match["campaign"])

    def _estimate(self, page: Page, call: Call) -> Any:
        return self.world.delivery_estimate(call.params)

    def _insights(self, page: Page, call: Call) -> Any:
        return self.world.campaign_insights(page, call.match["campaign"])

    def _create_audience(self, page: Page, call: Call) -> Any:
        return self.world.create_audience(call.match["account"], page, call.params)

    def _audiences(self, issued: BusinessToken, call: Call) -> Any:
        if call.match["account"] not in issued.ad_account_ids:
            raise errors.no_object(f"act_{call.match['account']}", "get")
        return self.world.list_audiences(call.match["account"])

    def _audience_users(self, page: Page, call: Call) -> Any:
        audience = self.world.audience_of(call.match["audience"])
        return self.world.audience_users(audience, call.method, call.params)

    def _unsubscribe_customers(self, page: Page, call: Call) -> Any:
        return self.world.unsubscribe_customers(page, call.params)

    def _upload(self, page: Page, call: Call) -> Any:
        return self.world.upload_attachment(page, call.params)

    def _subscribed(self, page: Page, call: Call) -> Any:
        return self.world.subscribed_apps(page, call.method, call.params)

    def _profile(self, page: Page, call: Call) -> Any:
        return self.world.messenger_profile(page, call.method, call.params)

    def _token(self, page: Page, call: Call) -> Any:
        return self.world.token_info(page, call.match["token"])

    def _node(self, page: Page, call: Call) -> Any:
        """The Page itself, or one of its people by PSID (the User Profile API)."""
        node = call.match["node"]
        if node in ("me", page.page_id):
            return {"id": page.page_id, "name": page.name, "username": page.username}
        return self.world.profile(page, node, call.params.get("fields"), call.root)

    def _ad_account(self, issued: BusinessToken, call: Call) -> Any:
        return self.world.ad_account_fields(issued, call.match["account"], call.params.get("fields"))

    def _asset_connection(self, issued: BusinessToken, call: Call) -> Any:
        """Onboard Businesses, Flow 3: "HTTP/2 202" with ``{"success": true}``."""
        return GraphResponse(202, self.world.connect_asset(issued, call.match["user"], call.params))

    def _me(self, token: str | None, call: Call) -> Any:
        return self.world.me(token)

    def _exchange(self, _: None, call: Call) -> Any:
        return self.world.exchange_code(call.params)

    def _accounts(self, grant: Grant, call: Call) -> Any:
        data, before, after, more = self.world.accounts(grant, call.params)
        return self._paged(data, before, after, more, call, "me/accounts", ("limit",))

    def _businesses(self, grant: Grant, call: Call) -> Any:
        data, before, after, more = self.world.businesses(grant, call.params)
        return self._paged(data, before, after, more, call, "me/businesses", ("limit",))

    def _business_pages(self, grant: Grant, call: Call) -> Any:
        business, edge = call.match["business"], call.match["edge"]
        data, before, after, more = self.world.business_pages(grant, business, edge, call.params)
        return self._paged(data, before, after, more, call, f"{business}/{edge}", ("limit", "fields"))

    def _permissions(self, grant: Grant, call: Call) -> Any:
        return {"data": self.world.permissions(grant)}

    def _debug_token(self, _: None, call: Call) -> Any:
        return {"data": self.world.debug_token(call.params.get("input_token"))}

    @staticmethod
    def _paged(
        data: list, before: str | None, after: str | None, more: bool, call: Call, path: str, keep: tuple
    ) -> dict[str, Any]:
        """A list answer with Graph's ``paging``: cursors, and ``next`` while there is more."""
        body: dict[str, Any] = {"data": data}
        if after is not None:
            body["paging"] = {"cursors": {"before": before, "after": after}}
            if more:
                query = {key: call.params[key] for key in keep if key in call.params}
                query.update(access_token=call.token, after=after)
                body["paging"]["next"] = f"{call.root}/{path}?{urlencode(query)}"
        return body

    def _tokens(self, page: Page, call: Call) -> Any:
        data, before, after, more = self.world.list_tokens(page, call.params)
        path = f"{page.page_id}/notification_message_tokens"
        return self._paged(data, before, after, more, call, path, ("limit", "do_not_return_duplicates"))
