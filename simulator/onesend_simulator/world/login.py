"""Facebook Login for Business as the "Connect a Facebook Page" flow meets it: business owners,
the OAuth dialog's grant, code exchange, ``/me/accounts``, permissions, token debugging and
revocation (https://developers.facebook.com/documentation/facebook-login/facebook-login-for-business).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from .. import errors
from ..errors import ControlError
from ..model import (
    PAGE_TASKS,
    Grant,
    User,
    new_digits,
)
from .base import WorldState, page_of


class LoginMixin(WorldState):
    """Facebook Login: business owners, grants and user tokens (a part of ``World``)."""

    def add_user(self, data: Mapping[str, Any]) -> tuple[User, bool]:
        """Create a business owner, or update the given fields (``name``, ``page_ids``, the
        ``businesses`` they work for with their Pages: ``portfolios``)."""
        user_id = str(data.get("user_id") or new_digits(15, self.users))
        if not user_id.isdigit():
            raise ControlError("user_id must be numeric")
        page_ids = data.get("page_ids", [])
        if not isinstance(page_ids, list):
            raise ControlError("page_ids must be a list of Page ids")
        for page_id in page_ids:
            self.page(page_id)
        user = self.users.get(user_id)
        created = user is None
        if user is None:
            user = self.users[user_id] = User(user_id, f"User {user_id}")
        if data.get("name"):
            user.name = str(data["name"])
        if "page_ids" in data:
            user.page_ids = [str(page_id) for page_id in page_ids]
        if "businesses" in data:
            user.businesses = self.businesses_of(data["businesses"])  # type: ignore[attr-defined]
        return user, created

    def user(self, user_id: str) -> User:
        user = self.users.get(str(user_id))
        if user is None:
            raise ControlError(f"No user {user_id}", 404)
        return user

    def authorize(
        self,
        user_id: str,
        client_id: str,
        redirect_uri: str,
        page_ids: list[str],
        requested: list[str],
        declined: list[str],
    ) -> str:
        """The owner pressed Continue in the login dialog: record their answers to the requested
        permissions, give the chosen Pages' tokens those permissions, return a one-use code."""
        user = self.user(user_id)
        foreign = set(page_ids) - set(self.reachable_pages(user))  # type: ignore[attr-defined]
        if foreign:
            raise ControlError(f"{user.name} does not manage Page(s) {', '.join(sorted(foreign))}")
        if not client_id.isdigit() or not redirect_uri:
            raise ControlError("client_id (numeric) and redirect_uri are required")
        given = [scope for scope in requested if scope not in declined]
        refused = [scope for scope in requested if scope in declined]
        user.granted = [s for s in user.granted if s not in requested] + given
        user.declined = [s for s in user.declined if s not in requested] + refused
        for page_id in page_ids:
            self.pages[page_id].scopes = list(user.granted)
        code = "AQ" + secrets.token_urlsafe(32)
        self.codes[code] = Grant(user.user_id, client_id, redirect_uri, list(page_ids))
        return code

    def exchange_code(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /oauth/access_token``: a code from the dialog becomes a user access token, once
        (with Facebook Login for Business, the configuration's token: ``business_token_answer``);
        ``grant_type=fb_exchange_token`` makes a user token long-lived. The chosen Pages are now
        the app's: their ``app_id`` becomes the client's."""
        client_id = str(params.get("client_id") or "")
        exchange = params.get("grant_type") == "fb_exchange_token"
        if not client_id or not params.get("client_secret") or not (exchange or params.get("code")):
            raise errors.param("Missing client_id, client_secret or code parameter")
        if params["client_secret"] != self.config.app_secret:
            raise errors.bad_client_secret()
        if exchange:
            return self.long_lived(params)  # type: ignore[attr-defined]
        grant = self.codes.get(str(params["code"]))
        if grant is None or grant.client_id != client_id:
            raise errors.bad_verification_code()
        if grant.used:
            raise errors.code_used()
        if params.get("redirect_uri") != grant.redirect_uri:
            raise errors.redirect_uri_mismatch()
        grant.used = True
        for page_id in grant.page_ids:
            self.pages[page_id].app_id = client_id
        if grant.config_id:
            return self.business_token_answer(grant)  # type: ignore[attr-defined]
        token = "EAA" + secrets.token_hex(32)
        self.user_tokens[token] = grant
        return {"access_token": token, "token_type": "bearer", "expires_in": 60 * 24 * 3600}

    def accounts(
        self, grant: Grant, params: Mapping[str, Any]
    ) -> tuple[list[dict], str | None, str | None, bool]:
        """One page of ``/me/accounts``: the Pages the owner chose, with Page tokens."""
        user = self.user(grant.user_id)
        page_ids = [page_id for page_id in grant.page_ids if page_id in user.page_ids]
        rows = [
            {
                "access_token": self.pages[page_id].access_token,
                "category": "Shopping & retail",
                "category_list": [{"id": "200600219953504", "name": "Shopping & retail"}],
                "name": self.pages[page_id].name,
                "id": page_id,
                "tasks": list(PAGE_TASKS),
            }
            for page_id in page_ids
        ]
        return page_of(rows, params, default_limit=25)

    def permissions(self, grant: Grant) -> list[dict[str, str]]:
        user = self.user(grant.user_id)
        return [{"permission": s, "status": "granted"} for s in user.granted] + [
            {"permission": s, "status": "declined"} for s in user.declined
        ]

    def debug_token(self, input_token: str | None) -> dict[str, Any]:
        """``GET /debug_token``: whether a user or Page token works, and its permissions."""
        if input_token in self.business_tokens:
            return self.business_token_debug(self.business_tokens[input_token])  # type: ignore[attr-defined]
        page = self._page_by_token.get(input_token) if input_token else None
        grant = self.user_tokens.get(input_token) if input_token else None
        if page is not None:
            owner = next((u.user_id for u in self.users.values() if page.page_id in u.page_ids), None)
            return {
                "app_id": page.app_id,
                "type": "PAGE",
                "application": "onesend",
                "expires_at": 0,
                "is_valid": True,
                "profile_id": page.page_id,
                "scopes": list(page.scopes),
                "user_id": owner,
            }
        if grant is not None:
            return {
                "app_id": grant.client_id,
                "type": "USER",
                "application": "onesend",
                "expires_at": 0,
                "is_valid": True,
                "scopes": list(self.user(grant.user_id).granted),
                "user_id": grant.user_id,
            }
        error = errors.revoked_token() if input_token in self.revoked else errors.invalid_access_token()
        return {
            "error": {"code": error.code, "message": str(error), "subcode": error.subcode},
            "is_valid": False,
            "scopes": [],
        }

    def revoke_token(self, token: Any) -> dict[str, Any]:
        """The owner removed the app, or Meta invalidated the session: the token answers 190/460
        from now on. A revoked Page token is replaced, so connecting the Page again works."""
        token = str(token or "")
        page = self._page_by_token.get(token)
        if page is not None:
            self.add_page({"page_id": page.page_id, "access_token": "EAA" + secrets.token_hex(24)})
            kind = "page"
        elif self.user_tokens.pop(token, None) is not None:
            kind = "user"
        elif self.business_tokens.pop(token, None) is not None:  # the business removed the app
            kind = "business"
        else:
            raise ControlError("No such user or Page access token", 404)
        self.revoked.add(token)
        return {"revoked": kind}

    def deny_permission(self, user_id: str, permission: Any) -> dict[str, Any]:
        """The owner removes one permission in their settings: their tokens and Page tokens lose it."""
        user = self.user(user_id)
        if not isinstance(permission, str) or not permission:
            raise ControlError("permission is required")
        user.granted = [scope for scope in user.granted if scope != permission]
        if permission not in user.declined:
            user.declined.append(permission)
        for page_id in user.page_ids:
            page = self.pages[page_id]
            page.scopes = [scope for scope in page.scopes if scope != permission]
        return self.user_view(user)
