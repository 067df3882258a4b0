"""The simulator's run-time settings: CLI flags at start, ``PATCH /_sim/config`` later."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ControlError

HOUR = 3600.0


@dataclass
class Config:
    """Everything tunable while running: CLI flags at start, ``PATCH /_sim/config`` later."""

    webhook_url: str | None = None
    app_secret: str = "simulator-app-secret"
    verify_token: str = "simulator-verify-token"
    #: Legacy marketing-message tokens: one message per person per rolling 48 h since 2025-09-01,
    #: ``4/2018354`` inside it (Marketing Messages FAQ; Recurring Notifications, "Recent changes").
    cooldown_seconds: float = 48 * HOUR
    window_seconds: float = 24 * HOUR
    #: Paid Marketing Messages API: one message per subscription token per 12 h (Send Messages;
    #: changelog 2025-08-11).
    paid_cooldown_seconds: float = 12 * HOUR
    #: Meta asks to wait about an hour after creating a message campaign (FAQs; changelog
    #: 2026-05-05: "1-Hour Warm-Up"); 0 here unless a test or the demo sets it.
    campaign_warmup_seconds: float = 0.0
    #: Where paid-API errors carry their 23000xx number: ``code`` or ``subcode`` (with code 100);
    #: Meta does not document it.
    paid_error_field: str = "code"
    #: The envelope of ``marketing_message_*`` webhooks: ``changes`` (Graph webhooks) or
    #: ``messaging`` (Messenger's); Meta does not document it.
    paid_webhook_envelope: str = "changes"
    #: What Meta bills per delivered paid message, in the currency's smallest unit (FAQs: "pay
    #: only for messages delivered"); drives estimates and insights.
    paid_price_cents: float = 1.4
    #: 0, or the API References error every paid call of the ad account answers: 2300011 (no
    #: payment method), 2300013 (business terms), 2300019 (app terms), 2300030 (ad account region).
    paid_account_error: int = 0
    #: The delivery estimate fails (an unknown error): Meta calls it "open beta" (changelog
    #: 2026-05-01) and its figures "estimated and in development" (Send Messages).
    delivery_estimate_fails: bool = False
    #: Which token the paid calls take: ``any`` (a Page token or a Facebook Login for Business
    #: token: API References shows a Page token for ``act_/messages``) or ``system_user`` (only a
    #: Login for Business token, as every sample of Send Messages on Marketing Message API for
    #: Messenger and Measure Campaign Performance shows).
    paid_token: str = "any"
    #: The next this many batch calls send their messages, then answer ``1/1357046`` "Received
    #: invalid JSON reply." for the whole call ("Common error codes": "The messages are all sent
    #: successfully, but the endpoint returns an error").
    garbled_batch_replies: int = 0
    #: 0, or which page of ``notification_message_tokens`` (1: the first, at the call's
    #: ``limit``) lists its items without ``notification_messages_token``: an answer that is not
    #: as Get subscription tokens documents it, for testing a client's handling of one.
    malformed_token_page: int = 0
    optin_topic_seconds: float = 7 * 24 * HOUR
    #: After an opt-in, up to 3 follow-up messages may go to the new token within 2 minutes,
    #: outside the cooldown (Marketing Messages, "Limitations"; reference corrections 2026-12-05).
    followup_seconds: float = 120.0
    followup_limit: int = 3
    #: Custom Audience matching is asynchronous at Meta, "up to 24 hours" (Grow your Audience for
    #: Marketing Message API for Messenger): the matched people's tokens are listed, and the
    #: ``marketing_messages_subscriber_upload_status`` webhook sent, this long after the upload.
    audience_match_seconds: float = 1.0
    #: Meta's rate-limiting page, "High-volume messaging": a Page that "sends more than 40
    #: messages per second ... cannot send new messages until the volume decreases". Off by
    #: default; when on, a Send API call made while the Page's calls of the last second (refused
    #: ones too) reach ``high_volume_rate`` is refused. Meta documents no error for it: the
    #: simulator answers ``613`` (its rate-limit code) with its own wording, an assumption.
    high_volume_lock: bool = False
    high_volume_rate: int = 40
    text_rate: int = 300
    media_rate: int = 10
    latency_ms: float = 0.0
    failure_rate: float = 0.0
    receipts: bool = True
    read_probability: float = 0.0
    read_delay_ms: float = 1000.0
    mids_omit_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder: bool = False
    batch_max: int = 1
    delay_ms: float = 0.0
    retry_interval: float = 20.0
    webhook_timeout: float = 20.0
    webhook_concurrency: int = 1
    webhooks_paused: bool = False

    PROBABILITIES = frozenset({"failure_rate", "read_probability", "mids_omit_rate", "duplicate_rate"})
    AT_LEAST_ONE = frozenset(
        {"text_rate", "media_rate", "high_volume_rate", "batch_max", "webhook_concurrency"}
    )
    CHOICES = {
        "paid_error_field": ("code", "subcode"),
        "paid_webhook_envelope": ("changes", "messaging"),
        "paid_account_error": (0, 2300011, 2300013, 2300019, 2300030),
        "paid_token": ("any", "system_user"),
    }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cooldown_hours": self.cooldown_seconds / HOUR}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply validated changes, all or nothing; ``cooldown_hours`` is accepted for ``cooldown_seconds``."""
        changes = dict(changes)
        if "cooldown_hours" in changes:
            changes["cooldown_seconds"] = (
                self._coerce("cooldown_hours", "float", changes.pop("cooldown_hours")) * HOUR
            )
        kinds = {f.name: f.type for f in fields(self)}
        values = {}
        for key, value in changes.items():
            if key not in kinds:
                raise ControlError(f"Unknown config key {key!r}")
            values[key] = self._coerce(key, kinds[key], value)
            if values[key] not in self.CHOICES.get(key, (values[key],)):
                raise ControlError(f"{key} must be one of {', '.join(map(str, self.CHOICES[key]))}")
        for key, value in values.items():
            setattr(self, key, value)

    @classmethod
    def _coerce(cls, key: str, kind: str, value: Any) -> Any:
        if kind == "bool":
            if not isinstance(value, bool):
                raise ControlError(f"{key} must be true or false")
            return value
        if kind in ("str", "str | None"):
            if value is None and kind == "str | None":
                return None
            if not isinstance(value, str) or not value:
                raise ControlError(f"{key} must be a non-empty string")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ControlError(f"{key} must be a non-negative number")
        if key in cls.PROBABILITIES and value > 1:
            raise ControlError(f"{key} is a probability (0..1)")
        if key in cls.AT_LEAST_ONE and value < 1:
            raise ControlError(f"{key} must be at least 1")
        return int(value) if kind == "int" else float(value)
