"""Pages and apps: created and updated through the control API, found by id, username
or access token, and the app's webhook subscription (``subscribed_apps``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from .. import errors
from ..errors import ControlError
from ..model import (
    App,
    Grant,
    Page,
    new_digits,
)
from .base import WorldState, country_code

PAID_WEBHOOK_FIELDS = (
    "marketing_message_echoes",
    "marketing_message_deliveries",
    "marketing_message_reads",
    "marketing_message_clicks",
    "marketing_message_delivery_failed",
    # Grow your Audience for Marketing Message API for Messenger: a Custom Audience upload's status.
    "marketing_messages_subscriber_upload_status",
)
WEBHOOK_FIELDS = frozenset(
    {
        "messages",
        "messaging_postbacks",
        "messaging_optins",
        "message_deliveries",
        "message_reads",
        "messaging_referrals",
        "message_echoes",
        "message_reactions",
        "messaging_handovers",
        "messaging_policy_enforcement",
        "standby",
        # The paid Marketing Messages API's (Send Messages on Marketing Message API for Messenger,
        # "Webhooks"; named in Page.SubscribedFields of Meta's Python business SDK).
        *PAID_WEBHOOK_FIELDS,
    }
)
DEFAULT_FIELDS = (
    "messages",
    "messaging_postbacks",
    "messaging_optins",
    "message_deliveries",
    "message_reads",
    "messaging_referrals",
)


class PagesMixin(WorldState):
    """Pages and apps (a part of ``World``)."""

    def add_page(self, data: Mapping[str, Any]) -> tuple[Page, bool]:
        """Create a Page, or update the given fields of an existing one (so set-up scripts can re-run)."""
        page_id = str(data.get("page_id") or new_digits(15, self.pages))
        if not page_id.isdigit() or not str(data.get("app_id") or 0).isdigit():
            raise ControlError("page_id and app_id must be numeric")
        page = self.pages.get(page_id)
        created = page is None
        if page is None:
            page = Page(
                page_id=page_id,
                name=f"Page {page_id}",
                username=page_id,
                access_token="EAA" + secrets.token_hex(24),
                app_id=new_digits(16, {}),
                subscribed_fields=list(DEFAULT_FIELDS),
            )
        names = ("name", "username", "access_token", "app_id")
        changes: dict[str, Any] = {key: str(data[key]) for key in names if data.get(key)}
        if "subscribed_fields" in data:
            changes["subscribed_fields"] = self._fields(data["subscribed_fields"])
        if "scopes" in data:
            changes["scopes"] = self._scopes(data["scopes"])
        if "business_country" in data:
            changes["business_country"] = country_code(data["business_country"])
        if "get_started" in data:  # set-up scripts; apps use messenger_profile
            changes["get_started"] = self._get_started_payload(data["get_started"], ControlError)
        for index, key in ((self._page_by_token, "access_token"), (self._page_by_username, "username")):
            owner = index.get(changes.get(key, getattr(page, key)))
            if owner is not None and owner is not page:
                raise ControlError(f"{key} is already used by Page {owner.page_id}", 409)
        self._page_by_token.pop(page.access_token, None)
        self._page_by_username.pop(page.username, None)
        for key, value in changes.items():
            setattr(page, key, value)
        self.pages[page_id] = page
        self._page_by_token[page.access_token] = page
        self._page_by_username[page.username] = page
        return page, created

    @staticmethod
    def _fields(value: Any) -> list[str]:
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ControlError("subscribed_fields must be a list of field names")
        names = [name.strip() for name in names if name.strip()]
        unknown = sorted(set(names) - WEBHOOK_FIELDS)
        if unknown:
            raise ControlError(f"Unknown webhook fields: {', '.join(unknown)}")
        return names

    @staticmethod
    def _scopes(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(scope, str) for scope in value):
            raise ControlError("scopes must be a list of permission names")
        return list(dict.fromkeys(value))

    def page(self, page_id: str) -> Page:
        page = self.pages.get(str(page_id))
        if page is None:
            raise ControlError(f"No Page {page_id}", 404)
        return page

    def page_by_name(self, username_or_id: str) -> Page:
        page = self._page_by_username.get(username_or_id) or self.pages.get(username_or_id)
        if page is None:
            raise ControlError(f"No Page {username_or_id}", 404)
        return page

    def page_for_token(self, access_token: str | None) -> Page:
        page = self._page_by_token.get(access_token) if access_token else None
        if page is None:
            raise errors.revoked_token() if access_token in self.revoked else errors.invalid_access_token()
        return page

    def grant_for_token(self, access_token: str | None) -> Grant:
        """The grant behind a user access token (``/me/accounts``, ``/me/permissions``)."""
        grant = self.user_tokens.get(access_token) if access_token else None
        if grant is None:
            raise errors.revoked_token() if access_token in self.revoked else errors.invalid_access_token()
        return grant

    def check_app_token(self, access_token: str | None) -> None:
        """An app access token is ``{app_id}|{app_secret}``; the simulator knows one secret."""
        app_id, _, secret = (access_token or "").partition("|")
        if not app_id.isdigit() or secret != self.config.app_secret:
            raise errors.invalid_access_token()

    def set_app(self, data: Mapping[str, Any]) -> App:
        """Change an app's settings (``require_app_secret``, ``app_secret``); given fields only."""
        app_id = str(data.get("app_id") or "")
        if not app_id.isdigit():
            raise ControlError("app_id must be numeric")
        app = self.apps.setdefault(app_id, App(app_id))
        require, secret = data.get("require_app_secret", app.require_app_secret), data.get("app_secret")
        if not isinstance(require, bool) or (secret is not None and not isinstance(secret, str)):
            raise ControlError("require_app_secret must be true or false, app_secret a string")
        app.require_app_secret = require
        app.app_secret = app.app_secret if secret is None else secret
        return app

    def check_proof(self, app_id: str, token: str | None, proof: Any) -> None:
        """An app with "Require App Secret" takes a call only with the token's ``appsecret_proof``
        (Graph API, "Securing Graph API Requests"); Meta's errors are code 100."""
        app = self.apps.get(app_id)
        if app is None or not app.require_app_secret or token is None:
            return
        if not proof:
            raise errors.appsecret_proof_required()
        key = (app.app_secret or self.config.app_secret).encode()
        if not hmac.compare_digest(str(proof), hmac.new(key, token.encode(), hashlib.sha256).hexdigest()):
            raise errors.invalid_appsecret_proof()

    def subscribed_apps(self, page: Page, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if method == "GET":
            if not page.subscribed_fields:
                return {"data": []}
            return {
                "data": [{"id": page.app_id, "name": "onesend", "subscribed_fields": page.subscribed_fields}]
            }
        if "pages_manage_metadata" not in page.scopes:
            raise errors.missing_permission("pages_manage_metadata")
        if method == "DELETE":
            page.subscribed_fields = []
            return {"success": True}
        if "subscribed_fields" not in params:
            raise errors.param("The parameter subscribed_fields is required")
        try:
            page.subscribed_fields = self._fields(params["subscribed_fields"])
        except ControlError as error:
            raise errors.param(f"Param subscribed_fields: {error}") from None
        return {"success": True}

    @staticmethod
    def _get_started_payload(value: Any, error: Any) -> str | None:
        """A Get Started payload: a string of 1-1000 characters, or None (no button)."""
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 1000):
            raise error("get_started payload must be a string of 1-1000 characters")
        return value

    def messenger_profile(self, page: Page, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``/me/messenger_profile``, its ``get_started`` property (the welcome screen's button);
        other properties are accepted and not simulated. Needs ``pages_messaging``. (Messenger
        Profile API:
        https://developers.facebook.com/docs/messenger-platform/reference/messenger-profile-api/)"""
        if "pages_messaging" not in page.scopes:
            raise errors.missing_permission("pages_messaging")
        if method == "POST":
            if "get_started" in params:
                button = params["get_started"]
                payload = button.get("payload") if isinstance(button, dict) else None
                page.get_started = self._get_started_payload(payload or "", errors.param)
            return {"result": "success"}
        fields = params.get("fields")
        names = fields.split(",") if isinstance(fields, str) else fields
        if not isinstance(names, list) or not names:
            raise errors.param("The parameter fields is required")
        if method == "DELETE":
            if "get_started" in names:
                page.get_started = None
            return {"result": "success"}
        if "get_started" in names and page.get_started:
            return {"data": [{"get_started": {"payload": page.get_started}}]}
        return {"data": []}
