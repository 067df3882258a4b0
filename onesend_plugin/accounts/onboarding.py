"""Connecting Facebook Pages through Meta's login flow, and checking a connection's health.

The flow: the admin sends the browser to Meta's login dialog with a signed ``state`` bound to the
session; Meta sends it back with a one-use ``code``; the app exchanges the code for a user token,
reads the granted permissions and the Pages the person chose (``/me/accounts``, with Page
tokens), stores the Pages it is asked to and subscribes the app to their webhooks. The health
check asks Meta again later whether a Page's token still works, with which permissions, and
whether the app is still subscribed (Meta unsubscribes apps whose webhook keeps failing).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db import transaction
from django.utils import timezone

from .. import broadcast, conf
from ..messenger import audience_events, login
from ..messenger import events as meta_events
from ..messenger.client import ManagedPage
from ..messenger.errors import AuthError, GraphError
from ..meta import app_client, client_for, client_with
from ..models import Account, MessengerPage, MetaApp
from . import get_started

#: Without it nothing can be sent (Meta answers 200 to every send).
REQUIRED_PERMISSIONS = ("pages_messaging",)
#: The paid Marketing Messages API channel needs these too (reference §6); reported when missing.
MARKETING_PERMISSIONS = ("ads_management", "paid_marketing_messages")
#: What the dialog asks for: listing the person's Pages, subscribing to their webhooks, messaging.
#: Lists the Pages a business holds in Business Manager (owned, or as a client), which
#: ``/me/accounts`` misses when the person has no role of their own on them; optional.
BUSINESS_PERMISSION = "business_management"
SCOPES = (
    "pages_show_list",
    "pages_manage_metadata",
    *REQUIRED_PERMISSIONS,
    *MARKETING_PERMISSIONS,
    BUSINESS_PERMISSION,
)
#: The webhook fields onesend handles (opt-ins, messages, postbacks, receipts, referrals).
WEBHOOK_FIELDS = (
    "messages",
    "messaging_postbacks",
    "messaging_optins",
    "message_deliveries",
    "message_reads",
    "messaging_referrals",
)
#: A Page on the paid Marketing Messages API also needs its ``marketing_message_*`` receipts
#: (Send Messages on Marketing Message API for Messenger, "Webhooks").
PAID_WEBHOOK_FIELDS = (*meta_events.PAID_KINDS, audience_events.FIELD)

logger = logging.getLogger(__name__)

STATE_SALT = "onesend.page-onboarding"
#: Seconds a person may spend in Meta's dialog before the ``state`` expires.
STATE_MAX_AGE = 15 * 60
#: Session keys: the nonce the pending ``state`` carries; the login being finished.
NONCE_KEY = "onesend_onboarding_nonce"
LOGIN_KEY = "onesend_onboarding_login"


class OnboardingError(Exception):
    """Something the person connecting a Page must be told (the message says what to do)."""


def dialog_url(app: MetaApp, redirect_uri: str, state: str) -> str:
    """Meta's login dialog asking ``app``'s permissions for the person's Pages."""
    return login.dialog_url(
        conf.get("OAUTH_DIALOG_BASE_URL"),
        conf.get("GRAPH_API_VERSION"),
        app_id=app.app_id,
        redirect_uri=redirect_uri,
        state=state,
        scopes=SCOPES,
    )


def make_state(session, purpose: str, data: dict[str, Any]) -> str:
    """A signed ``state`` for a dialog started for ``purpose`` (``data``: what the answer is
    for). Its nonce lives in this session only, so a state made for someone else (CSRF) or already
    used (replay) is refused by :func:`read_state`."""
    nonce = secrets.token_urlsafe(16)
    session[NONCE_KEY] = nonce
    return signing.dumps({**data, "nonce": nonce, "purpose": purpose}, salt=STATE_SALT)


def read_state(session, state: str, purpose: str) -> dict[str, Any]:
    """The ``data`` of a ``state`` this session made for ``purpose`` and has not used yet."""
    nonce = session.pop(NONCE_KEY, None)
    try:
        data = signing.loads(state or "", salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.SignatureExpired:
        raise OnboardingError("The Facebook login took too long. Please start again.") from None
    except signing.BadSignature:
        data = None
    if (
        not isinstance(data, dict)
        or nonce is None
        or not secrets.compare_digest(str(data.get("nonce")), nonce)
        or data.get("purpose") != purpose
    ):
        raise OnboardingError(
            "This Facebook login was not started from this browser session (or was already used). "
            "Please start again."
        )
    return {key: value for key, value in data.items() if key not in ("nonce", "purpose")}


@dataclass(frozen=True)
class Login:
    """A finished Facebook login: the user token, what was granted, and the Pages chosen."""

    user_token: str
    permissions: dict[str, str]
    pages: list[ManagedPage]

    @property
    def missing_required(self) -> list[str]:
        return [name for name in REQUIRED_PERMISSIONS if self.permissions.get(name) != "granted"]

    @property
    def missing_marketing(self) -> list[str]:
        return [name for name in MARKETING_PERMISSIONS if self.permissions.get(name) != "granted"]


def finish_login(app: MetaApp, redirect_uri: str, code: str) -> Login:
    """Exchange the dialog's code and read the permissions and Pages (GraphError on failure)."""
    user_token = app_client(app).exchange_code(redirect_uri=redirect_uri, code=code)
    return read_login(user_token, app)


def read_login(user_token: str, app: MetaApp) -> Login:
    """The permissions and the Pages chosen: the person's own (``/me/accounts``), then, with
    ``business_management``, those their businesses own or are a client of, each Page once."""
    user = client_with(user_token, app.app_secret)
    permissions = user.permissions()
    pages = user.managed_pages()
    if permissions.get(BUSINESS_PERMISSION) == "granted":
        pages += user.business_pages()
    return Login(user_token, permissions, _each_once(pages))


def _each_once(pages: list[ManagedPage]) -> list[ManagedPage]:
    """Each Page once, in order, as first listed (``/me/accounts`` before the businesses')."""
    first: dict[str, ManagedPage] = {}
    for page in pages:
        first.setdefault(page.page_id, page)
    return list(first.values())


def connect(account: Account, app: MetaApp, managed: ManagedPage) -> MessengerPage:
    """Store a chosen Page (new, or a new token for one of this account's), subscribe the app to
    its webhooks and check it (the check pauses it if Meta refuses its token). A Page of another
    account is refused, never moved."""
    with transaction.atomic():
        page = MessengerPage.objects.select_for_update().filter(page_id=managed.page_id).first()
        if page is not None and page.account_id != account.pk:
            raise OnboardingError(
                f"{managed.name} is connected to another client account. Agency staff can move it "
                "by changing the Page's account."
            )
        page = page or MessengerPage(account=account, page_id=managed.page_id, name=managed.name)
        page.app = app
        page.access_token = managed.access_token
        page.status, page.status_reason = MessengerPage.Status.ACTIVE, ""
        page.save()
    refresh(page)
    return page


def refresh(page: MessengerPage) -> dict[str, Any]:
    """After connecting (the Page, or its ad account): subscribe the app to the Page's webhook
    fields (a paid Page's ``marketing_message_*`` too) and check the connection."""
    try:
        client_for(page).subscribe_app(page_id=page.page_id, fields=webhook_fields(page))
    except GraphError as exc:  # the Page is stored; its health panel shows the app unsubscribed
        logger.warning("Subscribing the app to Page %s failed: %s", page.page_id, exc)
    return check_health(page)


def webhook_fields(page: MessengerPage) -> list[str]:
    """The webhook fields the app subscribes to for ``page`` (the paid channel's receipts too)."""
    return [*WEBHOOK_FIELDS, *(PAID_WEBHOOK_FIELDS if page.sends_paid else ())]


def needs_subscribing(health: dict[str, Any]) -> bool:
    """The token works, but Meta sends none (or not all) of the Page's webhooks to the app."""
    return bool(health.get("token_valid")) and (
        not health.get("app_subscribed") or bool(health.get("fields_missing"))
    )


#: A Page's fields that make a new connection when saved with a token.
CONNECTION_FIELDS = ("access_token", "app_id", "page_id", "channel")


def connection(pk: int | None) -> tuple | None:
    """The saved Page's :data:`CONNECTION_FIELDS`, None for a new Page."""
    return MessengerPage.objects.filter(pk=pk).values_list(*CONNECTION_FIELDS).first() if pk else None


def is_new_connection(page: MessengerPage, before: tuple | None) -> bool:
    """Whether saving ``page`` by hand made a connection to subscribe and check, as "Connect a
    Facebook Page" does: it has a token, and it is new or its token, app, id or channel changed."""
    return bool(page.access_token) and before != tuple(getattr(page, name) for name in CONNECTION_FIELDS)


def is_healthy(health: dict[str, Any]) -> bool:
    """Whether the Page can send: its token, permissions, webhooks, and for a paid Page its ad
    account and token (``check_paid``)."""
    return bool(
        health.get("token_valid")
        and not health.get("permissions_missing")
        and health.get("app_subscribed")
        and not health.get("fields_missing")
        and health.get("paid", {}).get("ok", True)
        and health.get("get_started")
    )


def check_health(page: MessengerPage) -> dict[str, Any]:
    """Ask Meta about the Page's connection, give it a Get Started button if it has none
    (``get_started``), and store the answers on the Page. A dead token pauses
    the Page (and its campaigns, as a send that met it would); a healthy check makes a paused Page
    active again (its campaigns stay paused until someone resumes them)."""
    health: dict[str, Any] = {
        "token_valid": None,
        "permissions_missing": [],
        "marketing_missing": [],
        "app_subscribed": None,
        "fields_missing": [],
        "get_started": None,
        "get_started_error": "",
        "error": "",
    }
    try:
        _ask_meta(page, health)
    except GraphError as exc:  # Meta or the network failed: nothing learnt about the rest
        health["error"] = str(exc)
    if page.sends_paid:
        health["paid"] = check_paid(page)
    if health["token_valid"]:
        health["get_started"], health["get_started_error"] = get_started.ensure(page)
    checked_at = timezone.now()
    MessengerPage.objects.filter(pk=page.pk).update(health=health, health_checked_at=checked_at)
    page.health, page.health_checked_at = health, checked_at
    if health["token_valid"] is False:
        broadcast.pause_page(page, f"The Page token no longer works: {health['error']}")
        page.refresh_from_db(fields=["status", "status_reason"])
    elif is_healthy(health) and page.status == MessengerPage.Status.PAUSED:
        MessengerPage.objects.filter(pk=page.pk).update(status=MessengerPage.Status.ACTIVE, status_reason="")
        page.status, page.status_reason = MessengerPage.Status.ACTIVE, ""
    return health


def _ask_meta(page: MessengerPage, health: dict[str, Any]) -> None:
    """Fill ``health`` in: ``debug_token`` (as the app) for the token and its permissions, then
    the Page's ``subscribed_apps`` (with its own token) for the webhook subscription."""
    try:
        token = app_client(page.app).debug_token(input_token=page.access_token)
    except AuthError as exc:  # the app's credentials, not the Page's: say so, pause nothing
        raise GraphError(message=f"Meta refused the app's credentials ({page.app}): {exc}") from None
    health["token_valid"] = token.is_valid
    if not token.is_valid:
        health["error"] = token.error or "Meta says the Page token is not valid."
        return
    health["permissions_missing"] = [p for p in REQUIRED_PERMISSIONS if p not in token.scopes]
    health["marketing_missing"] = [p for p in MARKETING_PERMISSIONS if p not in token.scopes]
    try:
        ours = client_for(page).app_subscription(page_id=page.page_id, app_id=page.app.app_id)
    except AuthError as exc:
        if exc.code != 190:
            raise
        health["token_valid"], health["error"] = False, str(exc)
        return
    health["app_subscribed"] = ours is not None
    subscribed = ours.fields if ours else frozenset()
    health["fields_missing"] = [name for name in webhook_fields(page) if name not in subscribed]


def check_paid(page: MessengerPage) -> dict[str, Any]:
    """The paid part of the Page's health: its token (``debug_token``, as the app) and its ad
    account (read with the token); the account's currency is kept up to date on the Page. ``ok``
    says whether paid sends can work, as far as Meta tells."""
    health: dict[str, Any] = {"connected": bool(page.paid_access_token), "ok": False, "error": ""}
    if not page.paid_access_token:
        return health
    try:
        token = app_client(page.app).debug_token(input_token=page.paid_access_token)
        health["token_valid"] = token.is_valid
        if not token.is_valid:
            health["error"] = token.error or "Meta says the token is not valid."
            return health
        account = client_with(page.paid_access_token, page.app.app_secret).ad_account(
            ad_account_id=page.ad_account_id
        )
    except GraphError as exc:
        health["error"] = str(exc)
        if not isinstance(exc, AuthError) or exc.code != 190:
            page.note_paid_error(exc.subcode or exc.code, str(exc))
        return health
    health["ad_account"] = {
        "id": f"act_{account.ad_account_id}",
        "name": account.name,
        "currency": account.currency,
        "active": account.is_active,
        "status": account.status_text,
        "country": account.country,
        "region_supported": account.region_supported,
        "payment_method": account.payment_method,
    }
    if account.currency and account.currency != page.ad_account_currency:
        MessengerPage.objects.filter(pk=page.pk).update(ad_account_currency=account.currency)
        page.ad_account_currency = account.currency
    health["ok"] = bool(
        account.is_active and account.region_supported is not False and account.payment_method
    )
    return health
