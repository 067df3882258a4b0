"""Facebook Login for Business as the paid Marketing Messages API meets it: configurations
(``config_id``), the tokens each flow gives, ad accounts, and who may make a paid call
(https://developers.facebook.com/documentation/business-messaging/messenger-platform/marketing-messages-on-messenger/onboard-businesses,
"Onboard Businesses with Marketing Message API for Messenger", cited below as Onboard; and
https://developers.facebook.com/documentation/facebook-login/facebook-login-for-business).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from .. import errors
from ..errors import ControlError
from ..model import AdAccount, BusinessToken, Grant, Page, new_digits, now_ms
from .base import WorldState

#: Onboard, the three configurations: the token each gives, and the permissions it asks besides
#: ``ads_management`` and ``pages_messaging``. Flow 1 (business portfolio) and Flow 3 (Partner
#: Billing) give a system-business token that never expires; Flow 2 (asset based) a user token of
#: about an hour. Flow 3 takes Pages only: the partner's own ad account is billed.
FLOWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "business": ("system_user", ("paid_marketing_messages",)),
    "asset": ("user", ("marketing_messages_messenger",)),
    "partner": ("system_user", ("paid_marketing_messages", "business_management")),
}
BASE_SCOPES = ("ads_management", "pages_messaging")
#: Onboard: Flow 2's user token lasts about an hour.
SHORT_LIVED_SECONDS = 3600
#: Long-Lived Access Tokens (Facebook Login): "generally lasts about 60 days".
LONG_LIVED_SECONDS = 60 * 24 * 3600
#: Where a business may send paid marketing messages from (every Marketing Message API page).
PAID_BUSINESS_REGIONS = frozenset("AU BR CL CO HK IN ID IL MY MX NZ PE PH SA SG TW TH AE US VN".split())


def business_scopes(flow: str) -> tuple[str, ...]:
    """The permissions a configuration of ``flow`` asks (Onboard, "Creating a configuration")."""
    return (*BASE_SCOPES, *FLOWS[flow][1])


class BusinessMixin(WorldState):
    """Login for Business configurations, ad accounts and business tokens (a part of ``World``)."""

    # -- control API -----------------------------------------------------------------------

    def add_login_config(self, data: Mapping[str, Any]) -> dict[str, str]:
        """A configuration made in the App Dashboard: its ``config_id`` and which flow it is."""
        config_id, flow = str(data.get("config_id") or new_digits(15, {})), data.get("flow")
        if not config_id.isdigit() or flow not in FLOWS:
            raise ControlError(f"config_id must be numeric and flow one of {', '.join(FLOWS)}")
        self.login_configs[config_id] = flow
        return {"config_id": config_id, "flow": flow}

    def add_ad_account(self, data: Mapping[str, Any]) -> tuple[AdAccount, bool]:
        """Create an ad account or change the given fields (a scenario makes one without payment
        method, out of region, disabled or without the terms accepted)."""
        account_id = str(data.get("account_id") or new_digits(15, self.ad_accounts)).removeprefix("act_")
        if not account_id.isdigit():
            raise ControlError("account_id must be numeric (act_ optional)")
        account = self.ad_accounts.get(account_id)
        created = account is None
        account = account or AdAccount(account_id, f"Ad account {account_id}")
        kinds = {f.name: f.type for f in fields(AdAccount)}
        for key, value in data.items():
            if key == "user_id":
                continue
            if key not in kinds:
                raise ControlError(f"Unknown ad account field {key!r}")
            if key != "account_id":
                setattr(account, key, _coerce(key, kinds[key], value))
        self.ad_accounts[account_id] = account
        owner = data.get("user_id")
        if owner is not None:
            self.user(str(owner)).ad_account_ids.append(account_id)
        return account, created

    def add_business_token(self, data: Mapping[str, Any]) -> BusinessToken:
        """A token as if a business had finished a configuration's login (tests skip the dialog)."""
        flow = data.get("flow", "business")
        if flow not in FLOWS:
            raise ControlError(f"flow must be one of {', '.join(FLOWS)}")
        page_ids, account_ids = data.get("page_ids", []), data.get("ad_account_ids", [])
        if not isinstance(page_ids, list) or not isinstance(account_ids, list):
            raise ControlError("page_ids and ad_account_ids must be lists")
        for page_id in page_ids:
            self.page(page_id)
        return self._issue(flow, str(data.get("app_id") or "1"), page_ids, account_ids, None)

    # -- the dialog and the code exchange ----------------------------------------------------

    def authorize_business(
        self,
        user_id: str,
        grant: Grant,
        ad_account_ids: list[str],
    ) -> str:
        """The business pressed Continue in a configuration's dialog: a one-use code for the
        chosen Pages and ad accounts (Flow 3 takes Pages only)."""
        user = self.user(user_id)
        foreign = set(ad_account_ids) - set(user.ad_account_ids)
        if foreign or set(grant.page_ids) - set(user.page_ids):
            raise ControlError(f"{user.name} does not manage all the chosen assets")
        if self.login_configs[grant.config_id] == "partner":
            ad_account_ids = []
        grant.ad_account_ids = list(ad_account_ids)
        code = "AQ" + secrets.token_urlsafe(32)
        self.codes[code] = grant
        return code

    def business_token_answer(self, grant: Grant) -> dict[str, Any]:
        """``oauth/access_token`` for a Login for Business code (Onboard: "exchange the code").
        Onboard shows no response body: the usual OAuth fields, ``expires_in`` only for the user
        token of Flow 2 (a system-business token's expiration is "Never")."""
        flow = self.login_configs[grant.config_id]
        issued = self._issue(flow, grant.client_id, grant.page_ids, grant.ad_account_ids, grant.user_id)
        answer: dict[str, Any] = {"access_token": issued.token, "token_type": "bearer"}
        if issued.expires_ms:
            answer["expires_in"] = SHORT_LIVED_SECONDS
        return answer

    def long_lived(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``grant_type=fb_exchange_token``: a short-lived user token for one of about 60 days
        (Long-Lived Access Tokens, Facebook Login). The short one keeps working until it expires."""
        short = self.business_tokens.get(str(params.get("fb_exchange_token") or ""))
        if short is None or short.kind != "user" or short.expires_ms < now_ms():
            raise errors.param(
                "Invalid or expired fb_exchange_token: only a valid user token can be exchanged"
            )
        token = "EAAU" + secrets.token_hex(32)
        self.business_tokens[token] = BusinessToken(
            token, short.user_id, "user", short.app_id, list(short.page_ids), list(short.ad_account_ids),
            list(short.scopes), now_ms() + LONG_LIVED_SECONDS * 1000,
        )  # fmt: skip
        return {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS - 56}

    def _issue(
        self, flow: str, app_id: str, page_ids: list[str], account_ids: list[str], user_id: str | None
    ) -> BusinessToken:
        kind = FLOWS[flow][0]
        expires = now_ms() + SHORT_LIVED_SECONDS * 1000 if kind == "user" else 0
        prefix = "EAAU" if kind == "user" else "EAAS"
        token = prefix + secrets.token_hex(32)
        owner = user_id if kind == "user" and user_id else new_digits(15, {})  # the BISU of a SUAT
        issued = BusinessToken(
            token, owner, kind, app_id, [str(p) for p in page_ids],
            [str(a).removeprefix("act_") for a in account_ids], list(business_scopes(flow)), expires,
        )  # fmt: skip
        self.business_tokens[token] = issued
        return issued

    # -- using the tokens ------------------------------------------------------------------

    def business_token(self, token: str | None) -> BusinessToken:
        """The Login for Business token a call carries (190 for an unknown, revoked or expired one)."""
        issued = self.business_tokens.get(token) if token else None
        if issued is None:
            raise errors.revoked_token() if token in self.revoked else errors.invalid_access_token()
        if issued.expires_ms and issued.expires_ms < now_ms():
            raise errors.GraphError(
                190, "Error validating access token: Session has expired", 463, status=400
            )
        return issued

    def paid_page(self, token: str | None, ad_account_id: str | None, page_id: Any) -> Page:
        """The Page a paid call acts for, if ``token`` may make it. Meta's samples show the
        business's system-user token on every paid call and a Page token only for
        ``act_/messages`` (API References; Send Messages shows the system-user token there too):
        ``paid_token`` = ``system_user`` refuses Page tokens, ``any`` takes both. A business token
        must hold the ad account ("Object ... does not exist, cannot be loaded due to missing
        permissions") and the Page (2300039, no permission for the Page)."""
        page = self._page_by_token.get(token) if token else None
        if page is not None:
            if self.config.paid_token == "system_user":
                raise errors.GraphError(
                    200,
                    "The Marketing Messages API takes the business's system user access token from "
                    "Facebook Login for Business, not a Page access token",
                    status=403,
                )
            return page
        issued = self.business_token(token)
        if ad_account_id is not None and ad_account_id not in issued.ad_account_ids:
            raise errors.no_object(f"act_{ad_account_id}", "get")
        if page_id is None:  # the call names a campaign this business has not got
            raise self._paid_error(2300001, "The message id is invalid or you do not have access to it")  # type: ignore[attr-defined]
        page = self.pages.get(str(page_id))
        if page is None:
            raise errors.param("Param page_id must be a Page of this business")
        if page.page_id not in issued.page_ids:
            raise self._paid_error(2300039, "You do not have permission to message for this Page")  # type: ignore[attr-defined]
        return page

    def ad_account_fields(self, issued: BusinessToken, account_id: str, wanted: Any) -> dict[str, Any]:
        """``GET act_{id}?fields=...`` (Ad Account reference): the fields asked for, and ``id``.
        Without a payment method ``funding_source`` and its details are left out, as Graph
        leaves out empty fields (Meta documents no other shape)."""
        account = self.ad_accounts.get(account_id)
        if account is None or account_id not in issued.ad_account_ids:
            raise errors.no_object(f"act_{account_id}", "get")
        shown: dict[str, Any] = {
            "account_id": account.account_id,
            "name": account.name,
            "currency": account.currency,
            "account_status": account.account_status,
            "disable_reason": account.disable_reason,
            "business_country_code": account.business_country_code,
        }
        if account.funding_source:
            funding_id = account.account_id[::-1]
            shown["funding_source"] = funding_id
            shown["funding_source_details"] = {
                "id": funding_id, "display_string": account.funding_source, "type": 1
            }  # fmt: skip
        names = str(wanted or "").split(",") if wanted else ["account_id", "name"]
        return {"id": f"act_{account.account_id}", **{k: v for k, v in shown.items() if k in names}}

    def account_refusal(self, ad_account_id: str) -> tuple[int, str] | None:
        """What Meta answers every paid call of an ad account that can't pay for one (API
        References: 2300011 no payment method, 2300013 terms not accepted, 2300030 not in a
        supported region); unknown ad accounts are taken as able."""
        account = self.ad_accounts.get(ad_account_id)
        if account is None:
            return None
        if account.business_country_code not in PAID_BUSINESS_REGIONS:
            return 2300030, "The ad account is not in a supported region"
        if not account.funding_source:
            return 2300011, "The ad account has no payment method"
        if not account.terms_accepted:
            return 2300013, "The business has not accepted the Marketing Messages terms"
        return None

    def me(self, token: str | None) -> dict[str, Any]:
        """``GET /me``: a Page token's Page, or a business token's (system) user: Onboard, Flow 3,
        ``GET /me?fields=id`` gives the business integration system user's id."""
        if token in self.business_tokens:
            return {"id": self.business_token(token).user_id}
        page = self.page_for_token(token)
        return {"id": page.page_id, "name": page.name, "username": page.username}

    def connect_asset(self, issued: BusinessToken, user_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST api.facebook.com/system_accounts/{BISU}/asset-connections`` with ``asset_id``
        (Onboard, Flow 3): the partner's ad account becomes the system user's to send with."""
        if issued.kind != "system_user" or issued.user_id != user_id:
            raise errors.no_object(user_id, "post")
        asset = str(params.get("asset_id") or "").removeprefix("act_")
        if asset not in self.ad_accounts:
            raise errors.param("Param asset_id must be an ad account")
        if asset not in issued.ad_account_ids:
            issued.ad_account_ids.append(asset)
        return {"success": True}

    def business_token_debug(self, issued: BusinessToken) -> dict[str, Any]:
        """``debug_token`` of a Login for Business token."""
        valid = not issued.expires_ms or issued.expires_ms >= now_ms()
        return {
            "app_id": issued.app_id,
            "type": "SYSTEM_USER" if issued.kind == "system_user" else "USER",
            "application": "onesend",
            "expires_at": issued.expires_ms // 1000,
            "is_valid": valid,
            "scopes": list(issued.scopes),
            "user_id": issued.user_id,
        }

    def ad_account_view(self, account: AdAccount) -> dict[str, Any]:
        return asdict(account)


def _coerce(key: str, kind: str, value: Any) -> Any:
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "str" and isinstance(value, str) and value:
        return value.upper() if key in ("currency", "business_country_code") else value
    if kind == "str | None" and (value is None or (isinstance(value, str) and value)):
        return value
    raise ControlError(f"Bad value for {key}: {value!r}")
