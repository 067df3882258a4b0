"""The HTTP core every Graph call goes through: one pooled ``Session``, the token kept out of URLs,
logs and errors, and each failure turned into a :class:`~.errors.GraphError`.

* ``requests`` with one pooled ``Session``; pass your own to share the pool between the clients of
  several Pages. **No automatic retries**: the Send API has no idempotency key, so whether to
  resend after a timeout is the caller's decision (see :mod:`.errors`).
* The access token goes in an ``Authorization: Bearer`` header, never in a URL (urllib3's debug
  log prints URLs); only the Graph batch call carries it as the ``access_token`` form field, as Meta
  documents. It is scrubbed from every error message we build and never appears in ``repr``,
  exception text or our logs. An app access token (``{app_id}|{app_secret}``, for the code
  exchange and ``debug_token``) has its secret scrubbed as well.
* Given the app's secret, every call that carries a token also carries ``appsecret_proof``, the
  hex HMAC-SHA256 of that token keyed with the app secret (Graph API, "Securing Graph API
  Requests": an app with "Require App Secret" refuses calls without it; harmless otherwise). It
  goes in the query string, and in the form of the batch call beside its ``access_token``, as
  Meta's batch sample shows; batch items carry no token of their own, so the call's proof covers
  them.
* ``base_url`` is a parameter so the same client talks to the local simulator in tests and demos.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from .errors import TransientError, Usage, error_from_response

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v25.0"
DEFAULT_TIMEOUT = (3.05, 20)
#: Connections kept open per host: enough for a thread pool sending near Meta's per-Page rate.
POOL_SIZE = 32

# Failures where no (complete) answer came back. Other requests exceptions are programming errors.
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


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


NO_AUTH = _NoAuth()


def _object(body: Any, key: str) -> dict[str, Any]:
    """``body[key]`` when both are JSON objects, else an empty one."""
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, dict) else {}


def make_session(pool_size: int = POOL_SIZE) -> requests.Session:
    """A ``Session`` with a connection pool and retries disabled (see the module docstring)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class GraphHttp:
    """Graph calls made with one access token; :class:`~.client.GraphClient` names the endpoints."""

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        version: str = DEFAULT_VERSION,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        app_secret: str | None = None,
    ) -> None:
        self._access_token = access_token
        self._proof = appsecret_proof(access_token, app_secret) if app_secret else None
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
        return f"{type(self).__name__}(base_url={self.base_url!r}, version={self.version!r})"

    def close(self) -> None:
        """Close the connection pool if this client created it."""
        if self._owns_session:
            self.session.close()

    def _paged(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paged Graph list, fetching page after page lazily."""
        for body in self._pages(path, params):
            yield from (item for item in body.get("data") or () if isinstance(item, dict))

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[Any]:
        """Each answer (one page) of a cursor-paged Graph list, fetched lazily.

        Pages are followed with the ``after`` cursor against our own ``base_url`` rather than by
        fetching ``paging.next``: that URL embeds the access token and always points at Meta.
        """
        while True:
            body, _ = self._call("GET", path, params=params)
            yield body
            data = body.get("data") if isinstance(body, dict) else None
            paging = _object(body, "paging")
            after = _object(paging, "cursors").get("after")
            if not data or not paging.get("next") or not after or after == params.get("after"):
                return
            params = {**params, "after": after}

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        form: str | None = None,
        multipart: dict[str, str] | None = None,
        auth: AuthBase | None = None,
        base_url: str | None = None,
    ) -> tuple[Any, Usage | None]:
        """One Graph call: returns the parsed JSON body and usage, or raises a :class:`GraphError`.

        ``form`` is an already encoded form body. The token goes in the ``Authorization`` header,
        or in the form for form-encoded calls (the batch call), never in the URL; ``auth=NO_AUTH``
        sends none (the code exchange). ``multipart`` fields go as ``multipart/form-data``;
        ``base_url`` calls another host, without the version segment (Meta's
        ``api.facebook.com/system_accounts`` endpoint).
        """
        headers, proof = None, self._proof if auth is not NO_AUTH else None  # NO_AUTH: no token
        auth = auth or self._auth
        if form is not None:
            form, auth = f"access_token={quote_plus(self._access_token)}&{form}", NO_AUTH
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            if proof:
                form, proof = f"appsecret_proof={proof}&{form}", None
        if proof:
            params = {**(params or {}), "appsecret_proof": proof}
        url = f"{base_url.rstrip('/')}/{path}" if base_url else f"{self.base_url}/{self.version}/{path}"
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                data=form,
                files={name: (None, value) for name, value in multipart.items()} if multipart else None,
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


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """The hex HMAC-SHA256 of ``access_token`` keyed with ``app_secret`` (Graph API, "Securing
    Graph API Requests")."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()
