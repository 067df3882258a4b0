"""A small, synchronous Meta Graph API client for Messenger (Send API, tokens, webhooks, batch,
and the Facebook Login calls that connect a Page).

Design choices:

* ``requests`` with one pooled ``Session``; pass your own to share the pool between the clients of
  several Pages. **No automatic retries**: the Send API has no idempotency key, so whether to
  resend after a timeout is the caller's decision (see :mod:`.errors`).
* Every failure is raised as a :class:`~.errors.GraphError` subclass that says what to do.
* The Page access token goes in an ``Authorization: Bearer`` header, never in a URL (urllib3's debug
  log prints URLs); only the Graph batch call carries it as the ``access_token`` form field, as Meta
  documents. It is scrubbed from every error message we build and never appears in ``repr``,
  exception text or our logs. An app access token (``{app_id}|{app_secret}``, for the code
  exchange and ``debug_token``) has its secret scrubbed as well.
* ``base_url`` is a parameter so the same client talks to the local simulator in tests and demos.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from .errors import GraphError, TransientError, Usage, error_from_response
from .events import parse_timestamp

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v25.0"
DEFAULT_TIMEOUT = (3.05, 20)
#: Connections kept open per host: enough for a thread pool sending near Meta's per-Page rate.
POOL_SIZE = 32
#: Graph batch requests are limited to 50 calls.
MAX_BATCH = 50
#: Opt-in template titles are limited to 65 characters.
MAX_OPTIN_TITLE = 65

# Failures where no (complete) answer came back. Other requests exceptions are programming errors.
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclass(frozen=True)
class SendResult:
    """A successful send. ``recipient_id`` is absent for some recipient kinds (e.g. tokens)."""

    message_id: str | None
    recipient_id: str | None
    usage: Usage | None = None


@dataclass(frozen=True)
class TokenInfo:
    """A marketing-messages token as listed by Graph (``notification_message_tokens``)."""

    token: str
    recipient_id: str | None
    topic_title: str | None
    timezone: str | None
    token_status: str | None
    created_at: datetime | None
    expires_at: datetime | None
    next_eligible_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_graph(cls, data: dict[str, Any], token: str | None = None) -> TokenInfo:
        """Build from a Graph token object; timestamps may be seconds or ms (Meta is inconsistent)."""
        return cls(
            token=str(data.get("notification_messages_token") or token or ""),
            recipient_id=data.get("recipient_id"),
            topic_title=data.get("topic_title"),
            timezone=data.get("notification_messages_timezone"),
            token_status=data.get("user_token_status"),
            created_at=parse_timestamp(data.get("creation_timestamp")),
            expires_at=parse_timestamp(data.get("token_expiry_timestamp")),
            next_eligible_at=parse_timestamp(data.get("next_eligible_time")),
            raw=data,
        )


@dataclass(frozen=True)
class ManagedPage:
    """A Page the person who logged in chose for the app (``/me/accounts``), with its Page token."""

    page_id: str
    name: str
    access_token: str = field(repr=False)
    tasks: tuple[str, ...] = ()


@dataclass(frozen=True)
class TokenCheck:
    """What ``debug_token`` says about a user or Page token: does it work, with which permissions."""

    is_valid: bool
    scopes: frozenset[str] = frozenset()
    app_id: str | None = None
    profile_id: str | None = None
    error: str = ""

    @classmethod
    def from_graph(cls, data: dict[str, Any]) -> TokenCheck:
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        return cls(
            is_valid=bool(data.get("is_valid")),
            scopes=frozenset(data.get("scopes") or ()),
            app_id=str(data["app_id"]) if data.get("app_id") else None,
            profile_id=str(data["profile_id"]) if data.get("profile_id") else None,
            error=str(error.get("message") or ""),
        )


def _send_body(
    *,
    recipient: dict[str, Any],
    message: dict[str, Any] | None,
    messaging_type: str | None,
    tag: str | None,
    sender_action: str | None,
) -> dict[str, Any]:
    """The Send API body, shared by single and batched sends."""
    if (message is None) == (sender_action is None):
        # Meta rejects both together (100/2018014); with neither there is nothing to send.
        raise ValueError("give exactly one of message or sender_action")
    body = {
        "recipient": recipient,
        "messaging_type": messaging_type,
        "tag": tag,
        "message": message,
        "sender_action": sender_action,
    }
    return {name: value for name, value in body.items() if value is not None}


@dataclass(frozen=True)
class BatchRequest:
    """One call inside a Graph batch; ``body`` values that are not strings are sent as JSON."""

    relative_url: str
    body: dict[str, Any]
    method: str = "POST"

    @classmethod
    def send(
        cls,
        *,
        recipient: dict[str, Any],
        message: dict[str, Any] | None = None,
        messaging_type: str | None = None,
        tag: str | None = None,
        sender_action: str | None = None,
    ) -> BatchRequest:
        """A Send API call; same arguments as :meth:`GraphClient.send_message`."""
        body = _send_body(
            recipient=recipient,
            message=message,
            messaging_type=messaging_type,
            tag=tag,
            sender_action=sender_action,
        )
        return cls("me/messages", body)

    def as_batch_item(self) -> dict[str, str]:
        body = "&".join(f"{_quote(name)}={_quote(_as_text(v))}" for name, v in self.body.items())
        return {"method": self.method, "relative_url": self.relative_url, "body": body}

    def as_form_item(self) -> str:
        """``quote_plus(json.dumps(self.as_batch_item()))``, from cached pieces: quoting works
        character by character, and a quoted body holds no character JSON would escape."""
        head = json.dumps({"method": self.method, "relative_url": self.relative_url})[:-1] + ', "body": "'
        body = "%26".join(
            f"{_quote(_quote(name))}%3D{_quote(_quote(_as_text(v)))}" for name, v in self.body.items()
        )
        return f"{_quote(head)}{body}%22%7D"


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@lru_cache(maxsize=256)
def _quote(text: str) -> str:
    """``quote_plus``, remembered. It runs byte by byte in Python, and a broadcast's message is
    the same string in each of its batch items (quoted twice: in the item's body, then in the
    form): quoting it afresh for every recipient was most of a sending worker's client CPU."""
    return quote_plus(text)


class _BearerAuth(AuthBase):
    """Sets ``Authorization: Bearer <token>`` on each request.

    Passed as ``auth=`` rather than as a header so that requests never replaces it with credentials
    from ``~/.netrc`` (it does so whenever a request has no ``auth``). One client's token is never set
    on a possibly shared ``Session``. The default ``repr`` does not show the token.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


class _NoAuth(AuthBase):
    """No ``Authorization`` header, and no ``~/.netrc`` credentials either (for the batch call)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


_NO_AUTH = _NoAuth()


def make_session(pool_size: int = POOL_SIZE) -> requests.Session:
    """A ``Session`` with a connection pool and retries disabled (see the module docstring)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class GraphClient:
    """Graph API calls made with one access token: a Page's (most calls), a user's
    (``managed_pages``, ``permissions``) or the app's (``exchange_code``, ``debug_token``)."""

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        version: str = DEFAULT_VERSION,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self._access_token = access_token
        self._secrets = {access_token, quote_plus(access_token)}
        if "|" in access_token:  # an app access token: its secret may travel alone (code exchange)
            secret = access_token.partition("|")[2]
            self._secrets |= {secret, quote_plus(secret)}
        self._secrets.discard("")
        self._auth = _BearerAuth(access_token)
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.timeout = timeout
        self._owns_session = session is None
        self.session = session or make_session()

    def __repr__(self) -> str:
        return f"GraphClient(base_url={self.base_url!r}, version={self.version!r})"

    def close(self) -> None:
        """Close the connection pool if this client created it."""
        if self._owns_session:
            self.session.close()

    # -- Send API ---------------------------------------------------------------------------

    def send_message(
        self,
        *,
        recipient: dict[str, Any],
        message: dict[str, Any] | None = None,
        messaging_type: str | None = None,
        tag: str | None = None,
        sender_action: str | None = None,
    ) -> SendResult:
        """``POST /me/messages``: give ``message`` or ``sender_action``, not both."""
        body = _send_body(
            recipient=recipient,
            message=message,
            messaging_type=messaging_type,
            tag=tag,
            sender_action=sender_action,
        )
        return _send_result(*self._call("POST", "me/messages", json_body=body))

    def send_to_psid(
        self, *, psid: str, message: dict[str, Any], messaging_type: str = "RESPONSE"
    ) -> SendResult:
        """Message a person inside the 24 h window."""
        return self.send_message(recipient={"id": psid}, message=message, messaging_type=messaging_type)

    def send_to_token(self, *, token: str, message: dict[str, Any]) -> SendResult:
        """Message a subscriber through their marketing-messages token (no ``messaging_type``, as
        every known sender does)."""
        return self.send_message(recipient={"notification_messages_token": token}, message=message)

    def send_optin_request(
        self,
        *,
        psid: str,
        title: str,
        payload: str,
        image_url: str | None = None,
        cta_text: str | None = None,
        timezone: str | None = None,
    ) -> SendResult:
        """Send the marketing-messages opt-in template (inside the window). ``title`` is the topic:
        one request per title per person per week; ``payload`` comes back in the opt-in webhook."""
        if not 0 < len(title) <= MAX_OPTIN_TITLE:
            raise ValueError(f"opt-in title must be 1-{MAX_OPTIN_TITLE} characters, got {len(title)}")
        template = {
            "template_type": "notification_messages",
            "title": title,
            "payload": payload,
            "image_url": image_url,
            "notification_messages_cta_text": cta_text,
            "notification_messages_timezone": timezone,
        }
        attachment = {
            "type": "template",
            "payload": {name: value for name, value in template.items() if value is not None},
        }
        return self.send_to_psid(psid=psid, message={"attachment": attachment})

    def upload_attachment(
        self, *, page_id: str, attachment_type: str, url: str, is_reusable: bool = True
    ) -> str:
        """Upload media by URL once and return its ``attachment_id`` (valid for 90 days)."""
        message = {
            "attachment": {"type": attachment_type, "payload": {"url": url, "is_reusable": is_reusable}}
        }
        body, _ = self._call("POST", f"{page_id}/message_attachments", json_body={"message": message})
        return _expect(body, "attachment_id")

    def batch(self, calls: list[BatchRequest]) -> list[SendResult | GraphError]:
        """Run up to 50 calls in one Graph batch; per-call outcomes in request order.

        A failed item is returned (not raised) as its :class:`GraphError`; a ``null`` item means Meta
        timed it out (it may still have been sent). Failure of the batch call itself raises.
        """
        if len(calls) > MAX_BATCH:
            raise ValueError(f"a Graph batch holds at most {MAX_BATCH} calls, got {len(calls)}")
        form = f"batch=%5B{'%2C'.join(call.as_form_item() for call in calls)}%5D"  # a JSON array
        items, usage = self._call("POST", "", form=form)
        if not isinstance(items, list) or len(items) != len(calls):
            raise TransientError(message="Graph batch response does not match the request", usage=usage)
        usages: dict[tuple, Usage | None] = {}  # the items' usage headers mostly repeat: parse each once
        return [self._batch_item_result(item, usage, usages) for item in items]

    def _batch_item_result(
        self, item: Any, call_usage: Usage | None, usages: dict[tuple, Usage | None]
    ) -> SendResult | GraphError:
        if not isinstance(item, dict):  # Meta answers ``null`` for a call that timed out
            return TransientError(message="batch call timed out", usage=call_usage)
        pairs = tuple(
            (h.get("name", ""), h.get("value", "")) for h in item.get("headers") or () if isinstance(h, dict)
        )
        headers = dict(pairs)
        if pairs not in usages:
            usages[pairs] = Usage.from_headers(headers)
        usage = usages[pairs] or call_usage
        status = item.get("code")
        body = self._redact(str(item.get("body") or ""))
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        parsed = parsed if isinstance(parsed, dict) else {}
        if status == 200 and "error" not in parsed:
            # Meta accepted the call even if its answer is garbled (cf. 1/1357046): don't invite a resend.
            return _send_result(parsed, usage)
        error = error_from_response(status if isinstance(status, int) else 500, body, headers)
        error.usage = usage
        return error

    # -- Webhook subscription -----------------------------------------------------------------

    def subscribe_app(self, *, page_id: str, fields: list[str]) -> None:
        """Subscribe this app to the Page's webhook ``fields`` (replaces the previous list)."""
        self._call("POST", f"{page_id}/subscribed_apps", params={"subscribed_fields": ",".join(fields)})

    def subscribed_apps(self, *, page_id: str) -> list[dict[str, Any]]:
        """Apps subscribed to the Page; alert if ours disappears (Meta unsubscribes failing webhooks)."""
        body, _ = self._call("GET", f"{page_id}/subscribed_apps")
        return list(body.get("data") or [])

    def unsubscribe_app(self, *, page_id: str) -> None:
        self._call("DELETE", f"{page_id}/subscribed_apps")

    # -- Facebook Login: connecting Pages ------------------------------------------------------

    def exchange_code(self, *, redirect_uri: str, code: str) -> str:
        """The login dialog's ``code`` for a user access token (one use; ``redirect_uri`` must be
        the dialog's). Call it on a client made with the app access token ``{app_id}|{app_secret}``.
        Meta documents a GET with the secret in the query string; it is scrubbed from our errors."""
        client_id, _, client_secret = self._access_token.partition("|")
        params = {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        }
        body, _ = self._call("GET", "oauth/access_token", params=params, auth=_NO_AUTH)
        return _expect(body, "access_token")

    def managed_pages(self, *, limit: int = 100) -> list[ManagedPage]:
        """The Pages the user chose for the app, with their Page tokens (user token; every page)."""
        return [
            ManagedPage(
                page_id=str(item.get("id") or ""),
                name=str(item.get("name") or ""),
                access_token=str(item.get("access_token") or ""),
                tasks=tuple(item.get("tasks") or ()),
            )
            for item in self._paged("me/accounts", {"limit": limit})
        ]

    def permissions(self) -> dict[str, str]:
        """Permission name → ``granted``/``declined`` for the user who logged in (user token)."""
        body, _ = self._call("GET", "me/permissions")
        return {
            str(item.get("permission")): str(item.get("status"))
            for item in body.get("data") or ()
            if isinstance(item, dict)
        }

    def debug_token(self, *, input_token: str) -> TokenCheck:
        """Whether ``input_token`` (a Page or user token) still works and its permissions; call it
        with the app access token. A dead token is an answer (``is_valid`` False), not an error."""
        body, _ = self._call("GET", "debug_token", params={"input_token": input_token})
        return TokenCheck.from_graph(body.get("data") if isinstance(body.get("data"), dict) else {})

    # -- Marketing-messages tokens ------------------------------------------------------------

    def list_tokens(self, *, page_id: str, limit: int = 100) -> Iterator[TokenInfo]:
        """Every marketing-messages token of the Page, fetching page after page lazily."""
        for item in self._paged(f"{page_id}/notification_message_tokens", {"limit": limit}):
            yield TokenInfo.from_graph(item)

    def get_token(self, *, token: str) -> TokenInfo:
        """One token's settings, e.g. its ``next_eligible_at``."""
        body, _ = self._call("GET", f"notification_messages_{token}")
        return TokenInfo.from_graph(body, token)

    # -- Marketing Messages on Messenger API (paid, ad-account based) -------------------------

    def create_marketing_campaign(
        self,
        *,
        ad_account_id: str,
        name: str,
        page_id: str,
        daily_budget: int | None = None,
        lifetime_budget: int | None = None,
    ) -> str:
        """Create a message campaign and return its id; give exactly one budget, in cents."""
        if (daily_budget is None) == (lifetime_budget is None):
            raise ValueError("give exactly one of daily_budget or lifetime_budget")
        fields = {
            "name": name,
            "page_id": page_id,
            "daily_budget": daily_budget,
            "lifetime_budget": lifetime_budget,
        }
        campaign = {key: value for key, value in fields.items() if value is not None}
        body, _ = self._call("POST", f"{_ad_account(ad_account_id)}/message_campaign", json_body=campaign)
        return _expect(body, "id")

    def send_marketing_message(
        self, *, ad_account_id: str, message_id: str, subscription_token: str, message: dict[str, Any]
    ) -> SendResult:
        """Send a paid marketing message to a subscriber of the new API."""
        body = {
            "message_id": message_id,
            "messenger_delivery_data": {"subscription_token": subscription_token},
            "message": message,
        }
        return _send_result(*self._call("POST", f"{_ad_account(ad_account_id)}/messages", json_body=body))

    # -- HTTP ---------------------------------------------------------------------------------

    def _paged(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paged Graph list, fetching page after page lazily.

        Pages are followed with the ``after`` cursor against our own ``base_url`` rather than by
        fetching ``paging.next``: that URL embeds the access token and always points at Meta.
        """
        while True:
            body, _ = self._call("GET", path, params=params)
            data = body.get("data") or []
            yield from (item for item in data if isinstance(item, dict))
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not data or not paging.get("next") or not after or after == params.get("after"):
                return
            params = {**params, "after": after}

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        form: str | None = None,
        auth: AuthBase | None = None,
    ) -> tuple[Any, Usage | None]:
        """One Graph call: returns the parsed JSON body and usage, or raises a :class:`GraphError`.

        ``form`` is an already encoded form body. The token goes in the ``Authorization`` header,
        or in the form for form-encoded calls (the batch call), never in the URL; ``auth=_NO_AUTH``
        sends none (the code exchange).
        """
        auth = auth or self._auth
        headers = None
        if form is not None:
            form, auth = f"access_token={quote_plus(self._access_token)}&{form}", _NO_AUTH
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        url = f"{self.base_url}/{self.version}/{path}"
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                data=form,
                headers=headers,
                auth=auth,
                timeout=self.timeout,
            )
        except _NETWORK_ERRORS as exc:
            # ``from None``: the original exception's request holds the token (header or batch form).
            raise TransientError(message=self._redact(f"{type(exc).__name__}: {exc}")) from None
        logger.debug("Graph %s /%s/%s -> HTTP %s", method, self.version, path, response.status_code)
        text = self._redact(response.content.decode("utf-8", errors="replace"))
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if (
            response.status_code >= 400
            or not isinstance(body, (dict, list))
            or (isinstance(body, dict) and "error" in body)
        ):
            raise error_from_response(response.status_code, text, response.headers)
        return body, Usage.from_headers(response.headers)

    def _redact(self, text: str) -> str:
        """``text`` without the access token or app secret (raw or URL-encoded)."""
        for secret in self._secrets:
            text = text.replace(secret, "[access_token]")
        return text


def _send_result(body: dict[str, Any], usage: Usage | None) -> SendResult:
    return SendResult(message_id=body.get("message_id"), recipient_id=body.get("recipient_id"), usage=usage)


def _expect(body: dict[str, Any], key: str) -> str:
    """``body[key]`` as a string; a 2xx answer without it means something other than Graph answered."""
    value = body.get(key) if isinstance(body, dict) else None
    if value is None:
        raise TransientError(message=f"Graph response has no {key!r}")
    return str(value)


def _ad_account(ad_account_id: str) -> str:
    """Graph addresses ad accounts as ``act_<id>``; accept the id with or without the prefix."""
    return ad_account_id if ad_account_id.startswith("act_") else f"act_{ad_account_id}"
