"""A small, synchronous Meta Graph API client for Messenger: the Send API, the batch, the paid
Marketing Messages API, webhook subscriptions, marketing-messages tokens, and the Facebook Login
calls that connect a Page.

Each method names one endpoint: bodies come from :mod:`.builders`, answers are read by
:mod:`.responses`, the HTTP (token handling, errors) is :mod:`.http`'s and the batch encoding
:mod:`.batch`'s. Every failure is raised as a :class:`~.errors.GraphError` subclass that says what
to do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import batch as graph_batch
from . import builders
from .audiences import AudienceCalls
from .batch import MAX_BATCH, BatchRequest
from .builders import MAX_OPTIN_TITLE
from .errors import GraphError
from .http import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    DEFAULT_VERSION,
    NO_AUTH,
    POOL_SIZE,
    GraphHttp,
    make_session,
)
from .responses import (
    USER_PROFILE_FIELDS,
    AccessToken,
    AdAccount,
    AppSubscription,
    CampaignInsights,
    DeliveryEstimate,
    MalformedAnswer,
    ManagedPage,
    SendResult,
    TokenCheck,
    TokenInfo,
    UserProfile,
    expect,
    get_started_payload,
    token_page,
)

#: The most tokens Meta lists per page (changelog 2025-09-08: raised from 100 to 1000).
MAX_TOKEN_PAGE = 1000

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_VERSION",
    "MAX_BATCH",
    "MAX_OPTIN_TITLE",
    "MAX_TOKEN_PAGE",
    "POOL_SIZE",
    "AccessToken",
    "AdAccount",
    "AppSubscription",
    "BatchRequest",
    "CampaignInsights",
    "DeliveryEstimate",
    "GraphClient",
    "MalformedAnswer",
    "ManagedPage",
    "SendResult",
    "TokenCheck",
    "TokenInfo",
    "make_session",
]


#: What a business's Page edges are asked for: the Page, its token and the person's tasks on it.
PAGE_FIELDS = "id,name,access_token,tasks"


class GraphClient(AudienceCalls, GraphHttp):
    """Graph API calls made with one access token: a Page's (most calls), a user's
    (``managed_pages``, ``permissions``) or the app's (``exchange_code``, ``debug_token``); the
    Custom Audience calls are :class:`~.audiences.AudienceCalls`'."""

    # -- Send API ---------------------------------------------------------------------------

    def send_message(
        self,
        *,
        recipient: Mapping[str, Any],
        message: Mapping[str, Any] | None = None,
        messaging_type: str | None = None,
        tag: str | None = None,
        sender_action: str | None = None,
    ) -> SendResult:
        """``POST /me/messages``: give ``message`` or ``sender_action``, not both."""
        body = builders.send_body(
            recipient=recipient,
            message=message,
            messaging_type=messaging_type,
            tag=tag,
            sender_action=sender_action,
        )
        return SendResult.from_graph(*self._call("POST", "me/messages", json_body=body))

    def send_to_psid(
        self, *, psid: str, message: Mapping[str, Any], messaging_type: str = "RESPONSE"
    ) -> SendResult:
        """Message a person inside the 24 h window."""
        return self.send_message(
            recipient=builders.to_psid(psid), message=message, messaging_type=messaging_type
        )

    def send_to_token(self, *, token: str, message: Mapping[str, Any]) -> SendResult:
        """Message a subscriber through their marketing-messages token (no ``messaging_type``, as
        every known sender does)."""
        return self.send_message(recipient=builders.to_token(token), message=message)

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
        """Send the marketing-messages opt-in template (inside the window); see
        :func:`.builders.optin_request`."""
        message = builders.optin_request(
            title=title, payload=payload, image_url=image_url, cta_text=cta_text, timezone=timezone
        )
        return self.send_to_psid(psid=psid, message=message)

    def upload_attachment(
        self, *, page_id: str, attachment_type: str, url: str, is_reusable: bool = True
    ) -> str:
        """Upload media by URL once and return its ``attachment_id`` (valid for 90 days)."""
        body = builders.upload_body(attachment_type=attachment_type, url=url, is_reusable=is_reusable)
        answer, _ = self._call("POST", f"{page_id}/message_attachments", json_body=body)
        return expect(answer, "attachment_id")

    def batch(self, calls: list[BatchRequest]) -> list[SendResult | GraphError]:
        """Run up to 50 calls in one Graph batch; per-call outcomes in request order.

        A failed item is returned (not raised) as its :class:`GraphError`; a ``null`` item means Meta
        timed it out (it may still have been sent). Failure of the batch call itself raises.
        """
        items, usage = self._call("POST", "", form=graph_batch.form(calls))
        return graph_batch.results(items, calls, usage, self._redact)

    # -- Webhook subscription -----------------------------------------------------------------

    def subscribe_app(self, *, page_id: str, fields: list[str]) -> None:
        """Subscribe this app to the Page's webhook ``fields`` (replaces the previous list)."""
        self._call("POST", f"{page_id}/subscribed_apps", params={"subscribed_fields": ",".join(fields)})

    def subscribed_apps(self, *, page_id: str) -> list[dict[str, Any]]:
        """Apps subscribed to the Page; alert if ours disappears (Meta unsubscribes failing webhooks)."""
        body, _ = self._call("GET", f"{page_id}/subscribed_apps")
        return list(body.get("data") or [])

    def app_subscription(self, *, page_id: str, app_id: str) -> AppSubscription | None:
        """``app_id``'s subscription to the Page's webhooks, None if it is not subscribed."""
        apps = (AppSubscription.from_graph(a) for a in self.subscribed_apps(page_id=page_id))
        return next((a for a in apps if a.app_id == app_id), None)

    def unsubscribe_app(self, *, page_id: str) -> None:
        self._call("DELETE", f"{page_id}/subscribed_apps")

    # -- Messenger Profile: the Get Started button ----------------------------------------------

    def get_started(self) -> str | None:
        """The payload of the Page's Get Started button, None if its welcome screen has none."""
        body, _ = self._call("GET", "me/messenger_profile", params={"fields": "get_started"})
        return get_started_payload(body)

    def set_get_started(self, *, payload: str = builders.GET_STARTED_PAYLOAD) -> None:
        """Give the Page's welcome screen a Get Started button. A person new to the Page who opens
        its m.me link reaches the webhook only by tapping it (``messaging_postbacks`` with the
        link's ``referral``); without one Meta never tells the app (Messenger Profile API, Get
        Started button). Meta allows 10 Messenger Profile calls per Page per 10 minutes."""
        self._call("POST", "me/messenger_profile", json_body=builders.get_started(payload))

    # -- Facebook Login: connecting Pages ------------------------------------------------------

    def exchange_code(self, *, redirect_uri: str, code: str) -> str:
        """The login dialog's ``code`` for a user access token (see :meth:`access_token_for_code`)."""
        return self.access_token_for_code(redirect_uri=redirect_uri, code=code).value

    def access_token_for_code(self, *, redirect_uri: str, code: str) -> AccessToken:
        """The login dialog's ``code`` for its token (one use; ``redirect_uri`` must be the
        dialog's): a user token, or with Facebook Login for Business the configuration's token,
        e.g. a system-user token (Onboard Businesses with Marketing Message API for Messenger,
        "exchange the code"). Call it on a client made with the app access token
        ``{app_id}|{app_secret}``. Meta documents a GET with the secret in the query string; it is
        scrubbed from our errors."""
        return self._oauth({"redirect_uri": redirect_uri, "code": code})

    def long_lived_token(self, *, token: str) -> AccessToken:
        """A short-lived user token (about an hour) for a long-lived one (about 60 days):
        ``grant_type=fb_exchange_token`` (Facebook Login, "Long-Lived Access Tokens",
        https://developers.facebook.com/documentation/facebook-login/guides/access-tokens/get-long-lived).
        On the app's client, like :meth:`access_token_for_code`."""
        return self._oauth({"grant_type": "fb_exchange_token", "fb_exchange_token": token})

    def _oauth(self, params: dict[str, str]) -> AccessToken:
        client_id, _, client_secret = self._access_token.partition("|")
        query = {"client_id": client_id, "client_secret": client_secret, **params}
        body, _ = self._call("GET", "oauth/access_token", params=query, auth=NO_AUTH)
        return AccessToken.from_graph(body)

    def managed_pages(self, *, limit: int = 100) -> list[ManagedPage]:
        """The Pages the user chose for the app, with their Page tokens (user token; every page)."""
        return [ManagedPage.from_graph(item) for item in self._paged("me/accounts", {"limit": limit})]

    def business_pages(self, *, limit: int = 100) -> list[ManagedPage]:
        """The Pages the user's businesses own or are a client of in Business Manager, with Page
        tokens (user token with ``business_management``): ``/me/businesses``, then each business's
        ``owned_pages`` and ``client_pages`` (Graph API reference: User businesses, Business
        owned_pages, Business client_pages). A Page held only through a business is not in
        ``/me/accounts``. A Page may come twice (owned by one business, a client of another)."""
        pages = []
        for business in self._paged("me/businesses", {"limit": limit}):
            for edge in ("owned_pages", "client_pages"):
                items = self._paged(f"{business.get('id')}/{edge}", {"fields": PAGE_FIELDS, "limit": limit})
                pages += [ManagedPage.from_graph(item) for item in items]
        return pages

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

    # -- Ad accounts and system users (Facebook Login for Business) ------------------------

    def ad_account(self, *, ad_account_id: str) -> AdAccount:
        """The ad account's name, currency, status, country and payment method (Ad Account
        reference); with the system-user token that may use it."""
        path = builders.ad_account_path(ad_account_id)
        body, _ = self._call("GET", path, params={"fields": ",".join(builders.AD_ACCOUNT_FIELDS)})
        return AdAccount.from_graph(body)

    def me_id(self) -> str:
        """``GET /me?fields=id``: with a system-user token, its business integration system user
        (Onboard Businesses with Marketing Message API for Messenger, Flow 3)."""
        body, _ = self._call("GET", "me", params={"fields": "id"})
        return expect(body, "id")

    def connect_ad_account(self, *, system_user_id: str, ad_account_id: str, base_url: str) -> None:
        """Let the business's system user send with a partner's ad account (Flow 3, Partner
        Billing; same page): ``POST https://api.facebook.com/system_accounts/{id}/asset-connections``,
        the only call on that host, without a version segment, as multipart form data."""
        self._call(
            "POST",
            f"system_accounts/{system_user_id}/asset-connections",
            multipart={"asset_id": builders.ad_account_path(ad_account_id).removeprefix("act_")},
            base_url=base_url,
        )

    # -- Marketing-messages tokens ------------------------------------------------------------

    def list_tokens(self, *, page_id: str, limit: int = 100) -> Iterator[TokenInfo]:
        """Every marketing-messages token of the Page, fetching page after page lazily."""
        for page in self.token_pages(page_id=page_id, limit=limit):
            yield from page

    def token_pages(self, *, page_id: str, limit: int = MAX_TOKEN_PAGE) -> Iterator[list[TokenInfo]]:
        """The Page's marketing-messages tokens one Graph page at a time, following Meta's
        ``after`` cursor (``GET {page_id}/notification_message_tokens``, Get subscription tokens
        with Marketing Message API for Messenger). Every token, one per topic: without
        ``do_not_return_duplicates``, which would cap the list at 10,000. A page that is not as
        documented raises :class:`~.responses.MalformedAnswer` before any of it is returned."""
        for body in self._pages(f"{page_id}/notification_message_tokens", {"limit": limit}):
            yield token_page(body)

    def user_profile(self, *, psid: str) -> UserProfile:
        """The person's name and picture, with the Page's token (User Profile API: ``GET /<PSID>``
        with ``fields``; Meta's Messenger Platform page "User Profile API", Identity). Meta gives
        it once the person started the conversation (Get Started, a message, ...)."""
        body, _ = self._call("GET", psid, params={"fields": ",".join(USER_PROFILE_FIELDS)})
        return UserProfile.from_graph(body)

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
        """Create a message campaign and return its id (sent as ``message_id`` with each message);
        at most one budget, in cents: see :func:`.builders.marketing_campaign`."""
        campaign = builders.marketing_campaign(
            name=name, page_id=page_id, daily_budget=daily_budget, lifetime_budget=lifetime_budget
        )
        path = f"{builders.ad_account_path(ad_account_id)}/message_campaign"
        body, _ = self._call("POST", path, json_body=campaign)
        return expect(body, "id")

    def delete_marketing_campaign(self, *, campaign_id: str) -> bool:
        """``DELETE /{message_campaign_id}``: Meta's answer ``success`` (Send Messages on Marketing
        Message API for Messenger, "Delete a message campaign": it cannot be undone)."""
        body, _ = self._call("DELETE", campaign_id)
        return bool(body.get("success"))

    def delivery_estimate(
        self,
        *,
        ad_account_id: str,
        page_id: str,
        daily_budget: int | None = None,
        lifetime_budget: int | None = None,
    ) -> DeliveryEstimate:
        """What a paid campaign of the Page would reach and cost (no budget: the full audience)."""
        query = builders.delivery_estimate_query(
            page_id=page_id, daily_budget=daily_budget, lifetime_budget=lifetime_budget
        )
        path = f"{builders.ad_account_path(ad_account_id)}/message_delivery_estimate"
        body, _ = self._call("GET", path, params=query)
        return DeliveryEstimate.from_graph(body)

    def campaign_insights(self, *, campaign_id: str) -> CampaignInsights:
        """Meta's figures for a message campaign: delivered, read rate, clicks, spend (Measure
        Campaign Performance on Marketing Message API for Messenger)."""
        params = {"fields": ",".join(builders.INSIGHT_FIELDS), "date_preset": "maximum"}
        body, _ = self._call("GET", f"{campaign_id}/insights", params=params)
        return CampaignInsights.from_graph(body)

    def send_marketing_message(
        self,
        *,
        ad_account_id: str,
        message_id: str,
        subscription_token: str,
        message: Mapping[str, Any],
        min_conversation_gap_seconds: int | None = None,
    ) -> SendResult:
        """Send a paid marketing message to a subscriber (see :func:`.builders.paid_message`)."""
        call = BatchRequest.paid(
            ad_account_id=ad_account_id,
            message_id=message_id,
            subscription_token=subscription_token,
            message=message,
            min_conversation_gap_seconds=min_conversation_gap_seconds,
        )
        return SendResult.from_graph(*self._call("POST", call.relative_url, json_body=call.body))

    def unsubscribe_customers(self, *, page_id: str, psids: Sequence[str], tokens: Sequence[str] = ()) -> int:
        """Unsubscribe people from the Page's marketing messages at Meta (``POST
        {page_id}/messaging_customer_base/unsubscribe``, Grow your Audience for Marketing Message
        API for Messenger; changelog 2026-06-11), so their paid subscription tokens stop working:
        by PSID, or by ``tokens`` for people Meta gave no PSID for (Custom Audience matches).
        Returns Meta's ``invalid_rows_count``: the rows it could not use."""
        path = f"{page_id}/messaging_customer_base/unsubscribe"
        body, _ = self._call("POST", path, json_body=builders.unsubscribe_body(psids, tokens))
        return int(expect(body, "invalid_rows_count"))
