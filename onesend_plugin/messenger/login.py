"""Facebook Login's browser side (Facebook Login for Business's too): the dialog's URL, and what Meta sends the browser back with.

The server side (the code exchange, the Pages chosen, ``debug_token``) is in :mod:`.client`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode


def dialog_url(
    base_url: str,
    version: str,
    *,
    app_id: str,
    redirect_uri: str,
    state: str,
    scopes: Iterable[str] = (),
    config_id: str | None = None,
) -> str:
    """Meta's login dialog asking ``scopes`` for the app; Meta answers at ``redirect_uri``.

    With ``config_id`` it is Facebook Login for Business: the configuration, made in the App
    Dashboard, says which token, assets and permissions are asked (so no ``scope``), and a
    system-user token needs ``response_type=code`` with ``override_default_response_type``
    (Onboard Businesses with Marketing Message API for Messenger, "Login dialog"; Facebook Login
    for Business, https://developers.facebook.com/documentation/facebook-login/facebook-login-for-business)."""
    query = {"client_id": app_id, "redirect_uri": redirect_uri, "state": state}
    if config_id:
        query |= {"config_id": config_id, "override_default_response_type": "true"}
    else:
        query["scope"] = ",".join(scopes)
    query["response_type"] = "code"
    return f"{base_url.rstrip('/')}/{version}/dialog/oauth?{urlencode(query)}"


@dataclass(frozen=True)
class DialogAnswer:
    """The dialog's redirect: a one-use ``code``, or why the person cancelled (``error``)."""

    state: str
    code: str
    error: str


def read_answer(params: Mapping[str, str]) -> DialogAnswer:
    """The query string Meta sends the browser back with."""
    error = params.get("error") or ""
    return DialogAnswer(
        state=params.get("state", ""),
        code=params.get("code", ""),
        error=(params.get("error_reason") or error) if error else "",
    )
