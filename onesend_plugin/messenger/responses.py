"""What Graph answers, read into plain frozen dataclasses (the rest of onesend never reads a
Graph response body)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import GraphError, TransientError, Usage
from .events import parse_timestamp


@dataclass(frozen=True)
class SendResult:
    """A successful send. ``recipient_id`` is absent for some recipient kinds (e.g. tokens).

    ``message_id`` is Meta's id of the message: the Send API's ``message_id``, or for a paid
    Marketing Messages API send its ``marketing_message_tracking_id`` (Send Messages on Marketing
    Message API for Messenger: ``{"success": true, "marketing_message_tracking_id": ...}``), the id
    its ``marketing_message_*`` webhooks repeat. Meta's Marketing-API route documents a bare
    ``{"success": true}``: then there is none."""

    message_id: str | None
    recipient_id: str | None
    usage: Usage | None = None

    @classmethod
    def from_graph(cls, body: dict[str, Any], usage: Usage | None) -> SendResult:
        message_id = body.get("message_id") or body.get("marketing_message_tracking_id")
        return cls(message_id=message_id, recipient_id=body.get("recipient_id"), usage=usage)


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
    next_paid_eligible_at: datetime | None = None
    #: The Custom Audiences whose upload made (or matched) the token (Get subscription tokens).
    custom_audience_ids: tuple[str, ...] = ()

    @property
    def eligible_at(self) -> datetime | None:
        """When Meta takes the next marketing message to this token: the later of
        ``next_eligible_time`` (Get subscription tokens) and ``next_eligible_time_for_paid_messaging``
        (only in Meta's SDK, unexplained), so that neither rule is broken."""
        return max((t for t in (self.next_eligible_at, self.next_paid_eligible_at) if t), default=None)

    @classmethod
    def from_graph(cls, data: dict[str, Any], token: str | None = None) -> TokenInfo:
        """Build from a Graph token object; timestamps may be seconds or ms (Meta is inconsistent)."""
        return cls(
            token=str(data.get("notification_messages_token") or token or ""),
            recipient_id=str(data["recipient_id"]) if data.get("recipient_id") else None,
            topic_title=data.get("topic_title"),
            timezone=data.get("notification_messages_timezone"),
            token_status=data.get("user_token_status"),
            created_at=parse_timestamp(data.get("creation_timestamp")),
            expires_at=parse_timestamp(data.get("token_expiry_timestamp")),
            next_eligible_at=parse_timestamp(data.get("next_eligible_time")),
            raw=data,
            next_paid_eligible_at=parse_timestamp(data.get("next_eligible_time_for_paid_messaging")),
            custom_audience_ids=tuple(str(i) for i in data.get("custom_audience_ids") or ()),
        )


class MalformedAnswer(GraphError):
    """A 2xx answer that is not what Meta documents (a field missing or of the wrong kind): the
    caller stops rather than guess, and keeps nothing of that answer."""


#: Timestamps of a listed token; each may be absent, but if given it must be one.
_TOKEN_TIMESTAMPS = (
    "creation_timestamp",
    "token_expiry_timestamp",
    "next_eligible_time",
    "next_eligible_time_for_paid_messaging",
)


def token_page(body: Any) -> list[TokenInfo]:
    """One page of ``GET {page_id}/notification_message_tokens`` (Get subscription tokens with
    Marketing Message API for Messenger): every item checked before any is returned, so a page
    is taken whole or not at all. Raises :class:`MalformedAnswer` naming the item and the field."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise MalformedAnswer(message="Meta's token list has no 'data' list")
    for number, item in enumerate(data, start=1):
        problem = _token_problem(item)
        if problem:
            raise MalformedAnswer(message=f"Meta's token list: item {number} of the page {problem}")
    return [TokenInfo.from_graph(item) for item in data]


def _token_problem(item: Any) -> str:
    """What is wrong with one listed token ("" if nothing). Only the token itself is required:
    a Custom Audience's tokens carry no PSID and no timestamps (same page)."""
    if not isinstance(item, dict):
        return "is not an object"
    if not _is_id(item.get("notification_messages_token")):
        return "has no notification_messages_token"
    if "recipient_id" in item and not _is_id(item["recipient_id"]):
        return "has a recipient_id that is not an id"
    for name in ("topic_title", "notification_messages_timezone", "user_token_status"):
        if item.get(name) is not None and not isinstance(item[name], str):
            return f"has a {name} that is not a string"
    for name in _TOKEN_TIMESTAMPS:
        if item.get(name) is not None and parse_timestamp(item[name]) is None:
            return f"has a {name} that is not a timestamp"
    return ""


def _is_id(value: Any) -> bool:
    return (isinstance(value, str) and bool(value.strip())) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


@dataclass(frozen=True)
class ManagedPage:
    """A Page the person who logged in chose for the app (``/me/accounts``), with its Page token."""

    page_id: str
    name: str
    access_token: str = field(repr=False)
    tasks: tuple[str, ...] = ()

    @classmethod
    def from_graph(cls, item: dict[str, Any]) -> ManagedPage:
        return cls(
            page_id=str(item.get("id") or ""),
            name=str(item.get("name") or ""),
            access_token=str(item.get("access_token") or ""),
            tasks=tuple(item.get("tasks") or ()),
        )


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


@dataclass(frozen=True)
class AppSubscription:
    """One app subscribed to a Page's webhooks (``subscribed_apps``) and the fields it gets."""

    app_id: str
    fields: frozenset[str] = frozenset()

    @classmethod
    def from_graph(cls, item: dict[str, Any]) -> AppSubscription:
        return cls(app_id=str(item.get("id")), fields=frozenset(item.get("subscribed_fields") or ()))


@dataclass(frozen=True)
class DeliveryEstimate:
    """How many subscribers a paid campaign would reach and what it would cost (bounds; costs in
    the ad account currency's smallest unit). Meta calls these "estimated and in development"."""

    delivery_lower: int
    delivery_upper: int
    cost_lower: int
    cost_upper: int

    @classmethod
    def from_graph(cls, body: dict[str, Any]) -> DeliveryEstimate:
        row = _first_row(body)
        return cls(
            delivery_lower=int(row.get("estimate_delivery_lower_bound") or 0),
            delivery_upper=int(row.get("estimate_delivery_upper_bound") or 0),
            cost_lower=int(row.get("estimate_cost_lower_bound") or 0),
            cost_upper=int(row.get("estimate_cost_upper_bound") or 0),
        )


@dataclass(frozen=True)
class CampaignInsights:
    """What Meta counts for a paid campaign (every value comes as a string; ``spend`` in the
    currency's units, ``read_rate`` in percent; Meta excludes Europe and Japan from deliveries
    and reads, and may estimate them)."""

    delivered: int
    read_rate: Decimal
    clicks: int
    spend: Decimal

    @classmethod
    def from_graph(cls, body: dict[str, Any]) -> CampaignInsights:
        row = _first_row(body)
        return cls(
            delivered=int(_decimal(row.get("marketing_messages_delivered"))),
            read_rate=_decimal(row.get("marketing_messages_read_rate")),
            clicks=int(_decimal(row.get("marketing_messages_link_btn_click"))),
            spend=_decimal(row.get("marketing_messages_spend")),
        )


@dataclass(frozen=True)
class AccessToken:
    """An access token from ``oauth/access_token``. ``expires_at`` is None when Meta gives no
    ``expires_in``: a system-user token of Facebook Login for Business never expires (Onboard
    Businesses with Marketing Message API for Messenger, "Expiration: Never")."""

    value: str = field(repr=False)
    expires_at: datetime | None = None

    @classmethod
    def from_graph(cls, body: dict[str, Any]) -> AccessToken:
        seconds = body.get("expires_in") if isinstance(body, dict) else None
        expires_at = None
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0:
            expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
        return cls(value=expect(body, "access_token"), expires_at=expires_at)


#: Where a business may be to send paid marketing messages (every page of the Marketing Message
#: API for Messenger, e.g. API References: Australia, Brazil, Chile, Colombia, Hong Kong, India,
#: Indonesia, Israel, Malaysia, Mexico, New Zealand, Peru, Philippines, Saudi Arabia, Singapore,
#: Taiwan, Thailand, United Arab Emirates, United States, Vietnam), as ISO 3166 codes.
PAID_BUSINESS_REGIONS = frozenset("AU BR CL CO HK IN ID IL MY MX NZ PE PH SA SG TW TH AE US VN".split())
#: ``account_status`` values (Ad Account reference, Marketing API).
AD_ACCOUNT_STATUSES = {
    1: "active",
    2: "disabled",
    3: "unsettled",
    7: "pending risk review",
    8: "pending settlement",
    9: "in grace period",
    100: "pending closure",
    101: "closed",
}
#: ``disable_reason`` values (same page).
AD_ACCOUNT_DISABLE_REASONS = {
    1: "ads integrity policy",
    2: "ads IP review",
    3: "risk payment",
    4: "gray account shut down",
    5: "ads AFC review",
    6: "business integrity RAR",
    7: "permanent close",
    8: "unused reseller account",
    9: "unused account",
    10: "umbrella ad account",
    11: "business manager integrity policy",
    12: "misrepresented ad account",
    13: "AOAB deshare legal entity",
    14: "CTX thread review",
    15: "compromised ad account",
}


@dataclass(frozen=True)
class AdAccount:
    """An ad account as Graph shows it (``GET act_{id}``; fields of the Ad Account reference,
    https://developers.facebook.com/documentation/ads-commerce/marketing-api/reference/ad-account).

    ``payment_method`` is ``funding_source_details.display_string`` (or the bare ``funding_source``
    id): "If the account does not have a payment method it will still be possible to create ads
    but these ads will get no delivery". Meta shows ``funding_source_details`` only to a token with
    the MANAGE task on the account and documents nothing for an account without one (Graph leaves
    empty fields out): None means Meta showed none, which the panel reports as a problem."""

    ad_account_id: str
    name: str
    currency: str
    account_status: int | None
    disable_reason: int
    country: str
    payment_method: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_graph(cls, body: dict[str, Any]) -> AdAccount:
        details = body.get("funding_source_details")
        details = details if isinstance(details, dict) else {}
        payment = details.get("display_string") or details.get("id") or body.get("funding_source")
        return cls(
            ad_account_id=str(body.get("account_id") or str(body.get("id") or "").removeprefix("act_")),
            name=str(body.get("name") or ""),
            currency=str(body.get("currency") or "").upper(),
            account_status=_int_or_none(body.get("account_status")),
            disable_reason=_int_or_none(body.get("disable_reason")) or 0,
            country=str(body.get("business_country_code") or "").upper(),
            payment_method=str(payment) if payment else None,
            raw=body,
        )

    @property
    def is_active(self) -> bool:
        return self.account_status == 1

    @property
    def status_text(self) -> str:
        text = AD_ACCOUNT_STATUSES.get(self.account_status or 0, f"status {self.account_status}")
        reason = AD_ACCOUNT_DISABLE_REASONS.get(self.disable_reason)
        return f"{text} ({reason})" if reason else text

    @property
    def region_supported(self) -> bool | None:
        """Whether Meta offers paid marketing messages to a business of this country; None when
        Meta did not say where the business is."""
        return self.country in PAID_BUSINESS_REGIONS if self.country else None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def get_started_payload(body: dict[str, Any]) -> str | None:
    """The Get Started payload in a ``GET me/messenger_profile?fields=get_started`` answer
    (``{"data": [{"get_started": {"payload": ...}}]}``, ``{"data": []}`` for a Page without one)."""
    button = _first_row(body).get("get_started")
    payload = button.get("payload") if isinstance(button, dict) else None
    return str(payload) if payload else None


def _first_row(body: dict[str, Any]) -> dict[str, Any]:
    """The one row of a ``{"data": [row]}`` answer ({} when Meta has none yet)."""
    rows = body.get("data") if isinstance(body, dict) else None
    return rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        raise TransientError(message=f"Graph answered a number that is not one: {value!r}") from None


def expect(body: Any, key: str) -> str:
    """``body[key]`` as a string; a 2xx answer without it means something other than Graph answered."""
    value = body.get(key) if isinstance(body, dict) else None
    if value is None:
        raise TransientError(message=f"Graph response has no {key!r}")
    return str(value)


@dataclass(frozen=True)
class UserProfile:
    """A person's public profile by PSID (the User Profile API: Meta's Messenger Platform page
    "User Profile API", Identity). Each field is "" when Meta gave none."""

    first_name: str
    last_name: str
    profile_pic: str

    @classmethod
    def from_graph(cls, data: dict[str, Any]) -> UserProfile:
        return cls(*(str(data.get(name) or "") for name in USER_PROFILE_FIELDS))


#: The profile fields onesend asks for: a name and a picture to show people by.
USER_PROFILE_FIELDS = ("first_name", "last_name", "profile_pic")
