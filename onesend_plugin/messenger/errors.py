"""Graph API errors, grouped by what the caller must do rather than by Meta's numeric codes.

Meta reports failures as ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``
(usually with HTTP 400; throttling is only recognisable from the code, not the status).
:func:`error_from_response` turns that envelope into one of the classes below via one table,
``ERROR_TABLE``, so the mapping can be read (and reviewed against Meta's error table) in one place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

#: When Meta gives no ``estimated_time_to_regain_access``, back off this many seconds first.
DEFAULT_RETRY_AFTER = 60.0
#: Meta's estimate is in whole minutes; 0 means "within the minute", usually the rolling
#: per-second limit, which frees up within a few batch slots: a short first pause, which the
#: sender doubles while refusals go on (``Sender.throttled_in_a_row``). A whole second per
#: refusal cost 3 % of a broadcast each time a network hiccup bunched batches together.
MIN_RETRY_AFTER = 0.25

#: A paid-API campaign still warming up is tried again after this many seconds (Meta asks for an
#: hour after creation and reports no readiness; a few minutes keeps the wait short once ready).
#: The broadcast engine uses its setting PAID_WARM_UP_RETRY_SECONDS instead.
WARM_UP_RETRY_AFTER = 300.0

_USAGE_METRICS = ("call_count", "total_time", "total_cputime")


@dataclass(frozen=True)
class Usage:
    """How close the app/Page is to Meta's rate limits, from the usage headers of one response.

    ``percent`` is the highest metric (call_count, total_time or total_cputime) across
    ``X-App-Usage`` and every ``X-Business-Use-Case-Usage`` entry: Meta throttles as soon as *any*
    of them reaches 100, so callers should slow down well before (e.g. above 80).
    ``regain_access_minutes`` is Meta's ``estimated_time_to_regain_access`` (minutes) when throttled.
    """

    percent: float
    regain_access_minutes: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Usage | None:
        """Parse the usage headers; ``None`` when neither is present or parseable."""
        lowered = {name.lower(): value for name, value in headers.items()}
        buckets: list[dict[str, Any]] = []
        app = _json_object(lowered.get("x-app-usage"))
        if app is not None:
            buckets.append(app)
        buc = _json_object(lowered.get("x-business-use-case-usage"))
        for entries in (buc or {}).values():
            if isinstance(entries, list):
                buckets.extend(entry for entry in entries if isinstance(entry, dict))
        if not buckets:
            return None
        percents = [_number(b.get(metric)) for b in buckets for metric in _USAGE_METRICS]
        regain = [_number(b.get("estimated_time_to_regain_access")) for b in buckets]
        return cls(
            percent=max((p for p in percents if p is not None), default=0.0),
            regain_access_minutes=max((r for r in regain if r is not None), default=None),
        )


class GraphError(Exception):
    """A failed Graph API call. Catch a subclass to act on it; this base means "give up on this call"."""

    def __init__(
        self,
        code: int | None = None,
        subcode: int | None = None,
        message: str = "",
        error_type: str | None = None,
        fbtrace_id: str | None = None,
        http_status: int | None = None,
        usage: Usage | None = None,
        remaining_seconds: float | None = None,
    ) -> None:
        self.code = code
        self.subcode = subcode
        self.message = message
        self.error_type = error_type
        self.fbtrace_id = fbtrace_id
        self.http_status = http_status
        self.usage = usage
        #: ``error_data.remaining_seconds``: how long a paid-API pacing refusal lasts (Marketing
        #: Message API for Messenger changelog, 2026-03-16).
        self.remaining_seconds = remaining_seconds
        super().__init__(str(self))

    def __str__(self) -> str:
        details = {
            "code": self.code,
            "subcode": self.subcode,
            "type": self.error_type,
            "http": self.http_status,
            "fbtrace_id": self.fbtrace_id,
        }
        shown = ", ".join(f"{name}={value}" for name, value in details.items() if value is not None)
        return f"{self.message or 'Graph API error'} [{shown}]" if shown else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class TransientError(GraphError):
    """Meta or the network hiccupped (codes 1, 2, HTTP 5xx, timeouts; ``code`` is None for network errors).

    Retry with exponential backoff and jitter, a few attempts at most. Caution for sends: the Send
    API has no idempotency key, so after a timeout the message may already have been delivered;
    record the attempt and prefer at-most-once for marketing messages.
    """


class RateLimited(GraphError):
    """Meta throttled the app or Page (codes 4, 9, 17, 32, 613, 80006).

    Pause the whole Page queue (not just this message) for ``retry_after`` seconds, then retry;
    the broadcast sender doubles the pause while Meta keeps refusing.
    """

    @property
    def retry_after(self) -> float:
        """Seconds to wait: Meta's ``remaining_seconds`` or ``estimated_time_to_regain_access`` if
        given (0 means a short per-second throttle: ``MIN_RETRY_AFTER``), else a default."""
        if self.remaining_seconds is not None:
            return max(MIN_RETRY_AFTER, self.remaining_seconds)
        minutes = self.usage.regain_access_minutes if self.usage else None
        if minutes is None:
            return DEFAULT_RETRY_AFTER
        return max(MIN_RETRY_AFTER, minutes * 60)


class SentDespiteError(GraphError):
    """Meta answered with an error although the messages were sent: ``1/1357046`` ("invalid JSON
    reply") from a batch whose calls went out (Meta's "Common error codes" gives a batch of two
    texts and a video). Whether it comes as the batch call's answer or as an item's, Meta does not
    say: both mean sent.

    Record the messages as sent (Meta reported an error after sending), keep the cooldown they
    took, and never send them again.
    """


UnavailableReason = Literal["stopped", "blocked", "unreachable", "invalid_token", "no_user"]

#: Subcodes that end one topic's token, not the person's other tokens: 10/1893015 "This user has
#: currently stopped notification messages for this topic" (Common error codes).
TOPIC_SUBCODES = frozenset({1893015})


class RecipientUnavailable(GraphError):
    """This recipient cannot be messaged (``reason`` says why). Never retry.

    ``stopped``: the person stopped the subscription, or only this topic (``topic_only``): mark
    that token stopped. ``blocked``: the person blocked the Page. ``unreachable``: Meta won't
    deliver to them right now. ``invalid_token``: the marketing token is invalid or expired.
    ``no_user``: no such person. Mark the subscriber accordingly and move on to the next one.
    """

    def __init__(self, *args: Any, reason: UnavailableReason = "unreachable", **kwargs: Any) -> None:
        self.reason = reason
        super().__init__(*args, **kwargs)

    @property
    def topic_only(self) -> bool:
        """Only the topic of the token used is stopped; the person's other topics go on."""
        return self.subcode in TOPIC_SUBCODES


class CampaignNotReady(RateLimited):
    """The paid API's message campaign cannot send yet: it warms up for about an hour after it is
    created, or is not active (2300000-2300003, 2300012, 2300028, 2300033, 2300041; FAQs for the
    Marketing Message API for Messenger: "wait at least 60 minutes").

    Hold the Page's sends and try again later, as for a throttle, but minutes later.
    """

    #: Seconds to wait when Meta does not say.
    default_retry_after = WARM_UP_RETRY_AFTER

    @property
    def retry_after(self) -> float:
        """Meta's ``remaining_seconds`` if given, else ``default_retry_after`` (the usage headers
        speak of the Page's rate, not of the campaign)."""
        if self.remaining_seconds is None:
            return self.default_retry_after
        return max(MIN_RETRY_AFTER, self.remaining_seconds)


class DailyBudgetReached(CampaignNotReady):
    """The campaign spent its daily budget; Meta sends again the next day (2300054, API
    References). Hold its sends and try again an hour later."""

    default_retry_after = 3600.0


class BudgetSpent(GraphError):
    """The campaign spent its whole budget (2300015 campaign budget, 2300053 lifetime budget; API
    References of the Marketing Message API for Messenger): nothing more can be sent with it.

    Pause the campaign and say so; the people not reached yet stay queued.
    """


NotEligibleReason = Literal[
    "frequency_cap", "not_eligible_yet", "meta_frequency_cap", "recipient_unavailable", "recipient_region"
]


class NotEligibleYet(GraphError):
    """Sending now would break a per-recipient cap (e.g. 4/2018354: one marketing message per 24/48 h).

    Skip this recipient for this send; it is not a fault and not transient, so don't retry soon.
    ``reason`` says which cap: ``frequency_cap`` (the legacy token cooldown and Send API caps),
    ``not_eligible_yet`` (the paid API's one message per token per 12 h, 2300035),
    ``meta_frequency_cap`` (its weekly/daily frequency caps, 2300042-2300044) or
    ``recipient_unavailable`` (Meta won't deliver to the person now: 2300036, 2300052, 1893047)
    or ``recipient_region`` (the paid API does not reach the person's region: 2300032).
    """

    def __init__(self, *args: Any, reason: NotEligibleReason = "frequency_cap", **kwargs: Any) -> None:
        self.reason = reason
        super().__init__(*args, **kwargs)


class OptinAlreadyRequested(NotEligibleYet):
    """An opt-in request with this title was already sent to this person this week (613/1893016).

    Don't resend; wait for their answer.
    """


class OutsideWindow(GraphError):
    """The 24 h standard messaging window is closed for this PSID (10/2018278, 10/2534022, 10/2018065).

    Message the person's marketing token instead (or a tag, never for promotions), or skip them.
    """


class AuthError(GraphError):
    """The Page token is invalid/expired (190) or lacks permission (200, 10), or the app requires
    an ``appsecret_proof`` that is missing or made with another secret (100).

    Pause every send for this Page until an admin reconnects it; retrying cannot help.
    """


class PageRestricted(AuthError):
    """Meta restricted the Page for policy reasons (368, 10/1893063; 10/1404170 for opt-in requests).

    Halt the Page's campaigns and alert a human: continuing risks a longer ban.
    """


class PaidAccountError(AuthError):
    """The ad account, Page or app cannot send paid marketing messages until a person acts: no
    payment method (2300011), Terms not accepted (2300013, 2300019, 2300066, 2300067, 2300069),
    region not supported (2300030, 2300031), no permission for the Page (2300039), spending
    limit or balance used up (2300017, 2300056, 2300058, 2300059) (API References of the Marketing
    Message API for Messenger).

    Pause the Page's sends and tell the admin what to do (``advice``); retrying cannot help.
    """

    @property
    def advice(self) -> str:
        """What to do, in words, for the admin (the code stays in ``str(self)`` for support)."""
        number = self.subcode if self.subcode in PAID_ADVICE else self.code
        return PAID_ADVICE.get(number or 0, self.message)


class PaidTokenMissing(PaidAccountError):
    """No system-user token is stored for the Page's paid channel, so no paid call is made: Meta
    documents every ``message_campaign``, estimate and insights call with the business's
    system-user token (Send Messages on Marketing Message API for Messenger; Measure Campaign
    Performance), obtained through Facebook Login for Business. Raised before calling Meta."""

    @property
    def advice(self) -> str:
        return PAID_TOKEN_ADVICE


_TERMS = "Accept Meta's Marketing Messages terms for the business in Meta Business Settings"
#: What a paid Page without its system-user token asks of a person.
PAID_TOKEN_ADVICE = (
    "Connect the Page's ad account through Facebook Login for Business (the Page's connection panel, "
    '"Connect the ad account"): paid messages are sent with the business\'s system-user token.'
)
#: The paid-API errors that mean the Marketing Messages terms are not accepted.
TERMS_ERRORS = frozenset({2300013, 2300019, 2300066, 2300067, 2300069})
#: The paid-API errors that mean a region Meta does not serve.
REGION_ERRORS = frozenset({2300030, 2300031, 2300032})
#: What each paid-API account error asks of a person (API References; Onboard Businesses).
PAID_ADVICE = {
    2300011: "Add a payment method to the Page's ad account in Meta Business Settings.",
    2300013: f"{_TERMS}.",
    2300066: f"{_TERMS} (for the Page).",
    2300067: f"{_TERMS} (for the ad account).",
    2300069: f"{_TERMS}.",
    2300019: "Accept the Marketing Messages terms for the app: App Dashboard › Messenger › Messenger API "
    "Settings › Advanced.",
    2300030: "The ad account is in a region where Meta offers no paid marketing messages: use an ad "
    "account of a supported country.",
    2300031: "The Page is in a region where Meta offers no paid marketing messages.",
    2300039: "The app has no permission to message for this Page: connect the Page again.",
    2300017: "The ad account reached its spending limit: raise it in Meta Ads Manager.",
    2300056: "The ad account reached its total spending limit: raise it in Meta Ads Manager.",
    2300058: "The ad account's prepaid balance is used up: add funds in Meta Ads Manager.",
    2300059: "The business's stored balance is too low: add funds in Meta Ads Manager.",
}

#: Paid-API refusals of one recipient that still need saying in words (API References).
RECIPIENT_ADVICE = {
    2300032: "Meta does not deliver paid marketing messages to people in this person's region (the EU, "
    "Japan, South Korea, Australia, the UK): they are skipped.",
}


def paid_advice(code: int | None) -> str | None:
    """What a paid-API error number asks of a person, in words; None for numbers without advice."""
    return PAID_ADVICE.get(code or 0) or RECIPIENT_ADVICE.get(code or 0)


class BadRequest(GraphError):
    """The request itself is wrong (code 100 and content errors such as media fetch/type/size).

    Fix the message or campaign content; resending it unchanged fails again.
    """


ErrorFactory = Callable[..., GraphError]


def _unavailable(reason: UnavailableReason) -> ErrorFactory:
    return partial(RecipientUnavailable, reason=reason)


def _not_eligible(reason: NotEligibleReason) -> ErrorFactory:
    return partial(NotEligibleYet, reason=reason)


#: (code, subcode) -> error factory; subcode None is the fallback for a code. Follows the
#: reference's error table (docs/meta-messenger.md §4.2); unknown codes fall back on the HTTP status.
ERROR_TABLE: dict[tuple[int, int | None], ErrorFactory] = {
    (1, None): TransientError,
    (1, 1357046): SentDespiteError,
    (2, None): TransientError,
    (4, None): RateLimited,
    (4, 2018354): NotEligibleYet,
    (9, None): RateLimited,  # incl. 9/2018352: too many opt-in requests
    (10, None): AuthError,
    (10, 1404170): PageRestricted,
    (10, 1893015): _unavailable("stopped"),
    (10, 1893063): PageRestricted,
    (10, 2018065): OutsideWindow,
    (10, 2018108): _unavailable("unreachable"),
    (10, 2018278): OutsideWindow,
    (10, 2018336): _unavailable("unreachable"),
    (10, 2534022): OutsideWindow,
    (17, None): RateLimited,
    (32, None): RateLimited,
    (100, None): BadRequest,
    (100, 2018001): _unavailable("no_user"),
    (190, None): AuthError,
    (200, None): AuthError,
    (200, 1545041): _unavailable("unreachable"),
    (230, None): _unavailable("unreachable"),
    (368, None): PageRestricted,
    (551, None): _unavailable("blocked"),
    (551, 1545041): _unavailable("unreachable"),
    (613, None): RateLimited,
    (613, 1893016): OptinAlreadyRequested,
    (613, 2018338): NotEligibleYet,  # too many tagged messages to this person
    (1200, None): TransientError,  # "Temporary send message failure. Please try again later"
    (80006, None): RateLimited,
}

#: The paid Marketing Messages API's own numbers (namespace ``MARKETING_MESSAGES_DIRECT``, API
#: References of the Marketing Message API for Messenger, Apr 24 2026, and its changelog). Meta
#: does not say whether they come as ``code`` or as ``error_subcode``: both are looked up. Numbers
#: not listed fall back on ``ERROR_TABLE`` (a bad request: no send, the error shown).
PAID_ERROR_TABLE: dict[int, ErrorFactory] = {
    **dict.fromkeys((2300000, 2300002, 2300003, 2300012, 2300028, 2300033, 2300041), CampaignNotReady),
    2300004: _unavailable("invalid_token"),
    2300037: _unavailable("invalid_token"),
    2300034: _unavailable("stopped"),
    2300035: _not_eligible("not_eligible_yet"),
    **dict.fromkeys((2300042, 2300043, 2300044), _not_eligible("meta_frequency_cap")),
    **dict.fromkeys((2300036, 2300052, 1893047), _not_eligible("recipient_unavailable")),
    2300078: RateLimited,
    2300054: DailyBudgetReached,
    **dict.fromkeys((2300015, 2300053), BudgetSpent),
    2300032: _not_eligible("recipient_region"),
    **dict.fromkeys(PAID_ADVICE, PaidAccountError),
}

_DEAD_TOKEN = re.compile(r"token\b.*\b(invalid|expired)|\b(invalid|expired)\b.*token", re.IGNORECASE)
_ACCESS_TOKEN = re.compile(r"access[ _]token", re.IGNORECASE)
#: Code 100 "API calls from the server require an appsecret_proof argument" or "Invalid
#: appsecret_proof provided in the API argument" (an app with "Require App Secret" switched on).
_APPSECRET_PROOF = re.compile(r"appsecret_proof", re.IGNORECASE)


def _is_dead_recipient_token(message: str) -> bool:
    """Meta has no subcode for a dead marketing token: it is code 100 with "...token is invalid" or
    "...has expired". A message about the *access* token is a request problem, not the recipient's."""
    return bool(_DEAD_TOKEN.search(message)) and not _ACCESS_TOKEN.search(message)


def error_from_response(
    status: int, body: bytes | str | Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> GraphError:
    """Map an HTTP status, Meta error body and response headers to the right :class:`GraphError`."""
    usage = Usage.from_headers(headers or {})
    envelope = body if isinstance(body, Mapping) else _json_object(body)
    error = envelope.get("error") if envelope else None
    code = _int(error.get("code")) if isinstance(error, Mapping) else None
    if code is None:
        factory: ErrorFactory = (
            RateLimited if status == 429 else BadRequest if 400 <= status < 500 else TransientError
        )
        message = f"Unparseable Graph API response (HTTP {status})"
        return factory(message=message, http_status=status, usage=usage)
    subcode = _int(error.get("error_subcode"))
    message = str(error.get("message") or "")
    factory = (
        PAID_ERROR_TABLE.get(subcode or 0)
        or PAID_ERROR_TABLE.get(code)
        or ERROR_TABLE.get((code, subcode))
        or ERROR_TABLE.get((code, None))
    )
    if factory is None:
        factory = TransientError if status >= 500 else BadRequest
    elif code == 100 and factory is BadRequest and _is_dead_recipient_token(message):
        factory = _unavailable("invalid_token")
    elif code == 100 and factory is BadRequest and _APPSECRET_PROOF.search(message):
        factory = AuthError  # the app's secret is wrong or missing: no call of the Page can work
    return factory(
        code=code,
        subcode=subcode,
        message=message,
        error_type=error.get("type"),
        fbtrace_id=error.get("fbtrace_id"),
        http_status=status,
        usage=usage,
        remaining_seconds=_remaining_seconds(error.get("error_data")),
    )


def _remaining_seconds(data: Any) -> float | None:
    """``error_data.remaining_seconds``; Graph sometimes sends ``error_data`` as a JSON string."""
    data = _json_object(data) if isinstance(data, str) else data
    return _number(data.get("remaining_seconds")) if isinstance(data, Mapping) else None


def _json_object(raw: bytes | str | None) -> dict[str, Any] | None:
    """``raw`` parsed as a JSON object, or None for anything else (absent, not JSON, not an object)."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None
