"""The simulated world's records (plain dataclasses, JSON-friendly for ``--state-file``), ids and
the rolling one-second rate window."""

from __future__ import annotations

import random
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def now_ms() -> int:
    return int(time.time() * 1000)


def new_mid() -> str:
    return "m_" + secrets.token_urlsafe(24)


def new_digits(count: int, taken: Mapping[str, Any]) -> str:
    """A random numeric id of ``count`` digits not in ``taken`` (PSIDs, Page ids, tokens are numeric)."""
    while True:
        value = str(random.randrange(10 ** (count - 1), 10**count))
        if value not in taken:
            return value


#: What a Page access token may do when nobody narrowed it (Pages made with the control API).
ALL_SCOPES = (
    "pages_show_list",
    "pages_manage_metadata",
    "pages_messaging",
    "ads_management",
    "paid_marketing_messages",
)
#: Meta's five "geos" (ISO 3166 codes): the only places legacy marketing-message tokens work after
#: 2026-02-10 ("except for the AU, EU, JP, KR, and UK geos", Marketing Messages FAQ) and the
#: recipient regions the paid API excludes (every Marketing Messages page). Meta does not say
#: whether the legacy "geo" is the business's or the person's: the simulator takes the business's.
META_GEOS = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE AU GB JP KR".split()
)
#: The tasks ``/me/accounts`` lists for a Page its owner fully manages.
PAGE_TASKS = ("ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE")


@dataclass
class Page:
    page_id: str
    name: str
    username: str
    access_token: str
    app_id: str
    subscribed_fields: list[str]
    scopes: list[str] = field(default_factory=lambda: list(ALL_SCOPES))
    get_started: str | None = None  # the Get Started button's payload (Messenger Profile API)
    #: Where the Page's business is (ISO 3166 code): outside ``META_GEOS`` legacy token sends are
    #: refused (Marketing Messages FAQ, reference §9). Empty: not enforced, as before 2026-02-10.
    business_country: str = ""


@dataclass
class App:
    """A Meta app's settings. "Require App Secret" (App Dashboard › Settings › Advanced) makes every
    call with a token carry ``appsecret_proof``, the hex HMAC-SHA256 of the token keyed with the
    app secret (Graph API, "Securing Graph API Requests"); ``app_secret`` is the simulator's one
    secret unless set."""

    app_id: str
    require_app_secret: bool = False
    app_secret: str = ""


@dataclass
class User:
    """A simulated Facebook user who manages Pages: the business owner in Meta's login dialog.

    ``granted`` and ``declined`` are the permissions they gave (or refused) the app."""

    user_id: str
    name: str
    page_ids: list[str] = field(default_factory=list)
    granted: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    ad_account_ids: list[str] = field(default_factory=list)
    #: The businesses they work for: ``{"id", "name", "owned_page_ids", "client_page_ids"}``.
    businesses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Grant:
    """What the login dialog hands over: an authorization code, and then the user token it became.

    A code is good for one exchange, with the same ``client_id`` and ``redirect_uri``."""

    user_id: str
    client_id: str
    redirect_uri: str
    page_ids: list[str]
    used: bool = False
    config_id: str = ""  # Facebook Login for Business: the configuration the dialog ran
    ad_account_ids: list[str] = field(default_factory=list)


@dataclass
class AdAccount:
    """An ad account (fields of Meta's Ad Account reference, Marketing API). ``funding_source``
    is the payment method's display string, None without one; ``terms_accepted`` is whether its
    business accepted the Marketing Messages terms (API References, 2300013)."""

    account_id: str
    name: str
    currency: str = "USD"
    account_status: int = 1
    disable_reason: int = 0
    business_country_code: str = "US"
    funding_source: str | None = "Visa *4242"
    terms_accepted: bool = True


@dataclass
class BusinessToken:
    """A token Facebook Login for Business gave: a business integration system user's
    (``system_user``, never expires) or, in the asset-based flow, a user's (``user``), with the
    Pages and ad accounts it may use (Onboard Businesses with Marketing Message API for Messenger)."""

    token: str
    user_id: str
    kind: str
    app_id: str
    page_ids: list[str] = field(default_factory=list)
    ad_account_ids: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    expires_ms: int = 0  # 0: never


@dataclass
class Person:
    """A simulated person as one Page sees them (PSIDs are Page-scoped, so one Person per Page)."""

    psid: str
    page_id: str
    name: str
    contacted: bool = False  # their thread with the Page exists (they wrote, tapped or opened a link in it)
    opened_ref: str | None = None  # the ref of the link that opened their new thread, for Get Started
    blocked: bool = False
    last_interaction_ms: int = 0
    last_marketing_ms: int = 0
    delivered_watermark: int = 0
    read_watermark: int = 0
    optin_requests: dict[str, int] = field(default_factory=dict)  # opt-in title -> last request (ms)
    tokens: list[str] = field(default_factory=list)
    thread: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[int] = field(default_factory=list)  # error codes of the next sends (refuse_sends)
    #: The e-mail and phone the person gave Meta, which a Custom Audience upload is matched
    #: against (raw here; Meta compares SHA-256 hashes of the normalised values).
    email: str | None = None
    phone: str | None = None
    #: Where Meta places the person (ISO 3166 code; empty: unknown, served): paid messages to
    #: ``META_GEOS`` are refused with 2300032 (API References; reference §1).
    country: str = ""


@dataclass
class Token:
    """A marketing-messages token: one (person, Page, topic title)."""

    token: str
    page_id: str
    psid: str
    title: str
    payload: str
    timezone: str
    created_ms: int
    stopped: bool = False
    refreshed: bool = False
    last_paid_ms: int = 0  # the last paid Marketing Messages API send to this token
    optin_ms: int = 0  # when the person last accepted the opt-in (0: follow-ups are over)
    followups: int = 0  # follow-ups sent since that opt-in
    #: The Custom Audiences whose upload matched the person (Get subscription tokens lists them).
    custom_audience_ids: list[str] = field(default_factory=list)
    #: Made by a Custom Audience match (not an opt-in): listed without PSID or dates (same page).
    from_audience: bool = False


@dataclass
class Attachment:
    attachment_id: str
    page_id: str
    type: str
    url: str
    content_type: str | None = None
    data: bytes | None = None


@dataclass
class Campaign:
    campaign_id: str
    ad_account_id: str
    page_id: str
    name: str
    daily_budget: int | None = None
    lifetime_budget: int | None = None
    created_ms: int = 0
    sent: int = 0  # paid messages accepted, in all and on ``day`` (UTC date)
    day: str = ""
    sent_on_day: int = 0


@dataclass
class Audience:
    """A Marketing Messages Custom Audience of an ad account for one Page (Grow your Audience
    for Marketing Message API for Messenger, step 1), and every row uploaded to it as received
    (so tests can check that nothing unhashed arrived)."""

    audience_id: str
    ad_account_id: str
    page_id: str
    name: str
    description: str
    created_ms: int = 0
    received: list[list[str]] = field(default_factory=list)
    schema: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)  # PSIDs, in match order
    invalid: int = 0
    removed: int = 0


@dataclass
class Upload:
    """A file sent as multipart ``filedata``."""

    filename: str
    content_type: str
    data: bytes


class SlidingWindow:
    """Calls accepted in the last 1000 ms (Meta limits calls per rolling second), plus the peak seen."""

    __slots__ = ("_stamps", "peak")

    def __init__(self) -> None:
        self._stamps: deque[float] = deque()
        self.peak = 0

    def count(self, now: float) -> int:
        stamps, horizon = self._stamps, now - 1.0
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        return len(stamps)

    def record(self, now: float) -> None:
        self._stamps.append(now)
        self.peak = max(self.peak, len(self._stamps))


class PageRates:
    __slots__ = ("attempts", "media", "text")

    def __init__(self) -> None:
        self.text = SlidingWindow()
        self.media = SlidingWindow()
        self.attempts = SlidingWindow()  # every Send API call, refused ones too (high-volume lock)
