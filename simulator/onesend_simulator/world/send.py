"""The Send API (https://developers.facebook.com/docs/messenger-platform/reference/send-api/):
recipients by PSID or marketing-messages token, the 24 h window, cooldowns, opt-in requests, the
per-Page text and media rate windows, attachment uploads and the token edges.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from .. import errors
from ..errors import ControlError
from ..messages import MEDIA_TYPES, Content, parse_message
from ..model import (
    META_GEOS,
    Attachment,
    Page,
    PageRates,
    Person,
    SlidingWindow,
    Token,
    Upload,
    new_digits,
    new_mid,
    now_ms,
)
from .base import WorldState, cursor_index, page_of

MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY"})
MESSAGE_TAGS = frozenset(
    {"ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "HUMAN_AGENT", "CUSTOMER_FEEDBACK"}
)
SENDER_ACTIONS = frozenset({"mark_seen", "typing_on", "typing_off"})
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
#: What ``refuse_sends`` makes Meta answer a person's next sends, on either API: 1200, "Temporary
#: send message failure" ("Common error codes": retry later), and the paid API's frequency caps
#: 2300042-2300044, "can't receive any more marketing messages at this time" (API References of
#: the Marketing Message API for Messenger; enforced on all sends since 2026-04-10, changelog).
#: Meta decides both from what a simulator cannot see (its own load, the person's messages with
#: every business), so tests set them.
REFUSALS = frozenset({1200, 2300042, 2300043, 2300044})


class SendMixin(WorldState):
    """The Send API and the token edges (a part of ``World``)."""

    def send(self, page: Page, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /{page}/messages``: validate in Meta's order, record, emit receipts."""
        recipient = params.get("recipient")
        if not isinstance(recipient, dict) or not recipient:
            raise errors.param("The parameter recipient is required")
        message, action = params.get("message"), params.get("sender_action")
        if message is not None and action is not None:
            raise errors.message_and_action()
        if message is None and action is None:
            raise errors.param("Must send either message or sender_action")
        tagged = self._tagged(params)
        self._check_high_volume(page)
        if action is not None:
            return self._sender_action(page, recipient, action, tagged)
        content = self._content(page, message)
        window, now = self._window(page, content.media)
        if "notification_messages_token" in recipient:
            if page.business_country and page.business_country not in META_GEOS:
                raise errors.legacy_region()
            token = self._token(page, recipient["notification_messages_token"])
            person = self._token_person(token)
        else:
            person, token = self._psid_person(page, recipient), None
            if content.optin is None and not tagged:
                self._require_window(person)
        self._check_refusal(person)
        if content.optin is not None:
            self._check_optin(person, content.optin)
        item = self._deliver(page, person, content, token, "token" if token else "psid")
        window.record(now)
        return {"recipient_id": person.psid, "message_id": item["mid"]}

    @staticmethod
    def _tagged(params: Mapping[str, Any]) -> bool:
        kind = params.get("messaging_type")
        if kind is not None and kind not in MESSAGING_TYPES:
            raise errors.param(f"Param messaging_type must be one of {', '.join(sorted(MESSAGING_TYPES))}")
        if kind != "MESSAGE_TAG":
            return False
        if params.get("tag") not in MESSAGE_TAGS:
            raise errors.param(f"Param tag must be one of {', '.join(sorted(MESSAGE_TAGS))}")
        return True

    def _sender_action(self, page: Page, recipient: dict, action: Any, tagged: bool) -> dict[str, Any]:
        if action not in SENDER_ACTIONS:
            raise errors.param(f"Param sender_action must be one of {', '.join(sorted(SENDER_ACTIONS))}")
        window, now = self._window(page, media=False)
        person = self._psid_person(page, recipient)
        if not tagged:
            self._require_window(person)
        window.record(now)
        return {"recipient_id": person.psid}

    def _content(self, page: Page, message: Any) -> Content:
        content = parse_message(message)
        attachment_id = content.view.get("attachment_id")
        if attachment_id:
            attachment = self.attachments.get(attachment_id)
            if attachment is None or attachment.page_id != page.page_id:
                raise errors.bad_attachment_id()
            if attachment.type != content.view["type"]:
                raise errors.attachment_type_mismatch()
            content.view["url"] = attachment.url
        return content

    def _page_rates(self, page: Page) -> PageRates:
        rates = self._rates.get(page.page_id)
        if rates is None:
            rates = self._rates[page.page_id] = PageRates()
        return rates

    def _window(self, page: Page, media: bool) -> tuple[SlidingWindow, float]:
        """The rate window (media or text bucket) a send counts against, if it has room (else 613)."""
        rates, now = self._page_rates(page), time.monotonic()
        window, limit = (
            (rates.media, self.config.media_rate) if media else (rates.text, self.config.text_rate)
        )
        if window.count(now) >= limit:
            raise errors.rate_limited()
        return window, now

    def _check_high_volume(self, page: Page) -> None:
        """With ``high_volume_lock`` on, a Page whose Send API calls of the last second (refused
        ones too, so a sender that keeps pushing stays locked) reach ``high_volume_rate`` cannot
        send until they drop below it (Messenger Platform rate limits, "High-volume messaging":
        more than 40 messages per second; reference meta-messenger.md, corrections 2026-12-05).
        Whether paid ``act_/messages`` sends count is not documented: they do not here."""
        if not self.config.high_volume_lock:
            return
        attempts, now = self._page_rates(page).attempts, time.monotonic()
        busy = attempts.count(now) >= self.config.high_volume_rate
        attempts.record(now)
        if busy:
            raise errors.high_volume_locked()

    def usage(self, page: Page) -> dict[str, Any]:
        """The ``X-Business-Use-Case-Usage`` value: percentages of the busier bucket."""
        rates, now = self._page_rates(page), time.monotonic()
        percent = min(
            100,
            max(
                rates.text.count(now) * 100 // self.config.text_rate,
                rates.media.count(now) * 100 // self.config.media_rate,
            ),
        )
        return {
            page.page_id: [
                {
                    "type": "messenger",
                    "call_count": percent,
                    "total_cputime": percent,
                    "total_time": percent,
                    "estimated_time_to_regain_access": 0,
                }
            ]
        }

    def _psid_person(self, page: Page, recipient: Mapping[str, Any]) -> Person:
        if "id" not in recipient:
            raise errors.param("Param recipient must contain id or notification_messages_token")
        person = self.people.get(str(recipient["id"]))
        if person is None or person.page_id != page.page_id:
            raise errors.user_not_found()
        if person.blocked:
            raise errors.blocked()
        return person

    def _token(self, page: Page, value: Any) -> Token:
        token = self.tokens.get(str(value))
        if token is None or token.page_id != page.page_id or token.created_ms > now_ms():
            raise errors.invalid_optin_token()
        return token

    def _is_followup(self, token: Token) -> bool:
        """Whether a send to ``token`` now is a follow-up to its opt-in: Meta allows up to 3 within
        2 minutes of the opt-in, outside the marketing cooldown (Marketing Messages,
        https://developers.facebook.com/docs/messenger-platform/marketing-messages, "Limitations";
        reference meta-messenger.md, corrections 2026-12-05). Later ones are marketing messages."""
        return (
            token.followups < self.config.followup_limit
            and now_ms() - token.optin_ms < self.config.followup_seconds * 1000
        )

    def _token_person(self, token: Token) -> Person:
        """The subscriber behind a token, if a marketing message (or a follow-up) may reach them now."""
        person = self.people[token.psid]
        if person.blocked:
            raise errors.blocked()
        if token.stopped:
            raise errors.stopped()
        if (
            not self._is_followup(token)
            and person.last_marketing_ms
            and now_ms() - person.last_marketing_ms < self.config.cooldown_seconds * 1000
        ):
            raise errors.cooldown()
        return person

    def refuse_sends(self, psid: str, code: Any, count: Any = 1) -> dict[str, Any]:
        """The person's next ``count`` sends get error ``code`` (one of ``REFUSALS``)."""
        person = self.person(psid)
        if code not in REFUSALS:
            raise ControlError(f"code must be one of {', '.join(map(str, sorted(REFUSALS)))}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ControlError("count must be a positive integer")
        person.refusals.extend([code] * count)
        return {"psid": psid, "refusals": person.refusals}

    def _check_refusal(self, person: Person) -> None:
        if person.refusals:
            code = person.refusals.pop(0)
            if code == 1200:
                raise errors.temporary_send_failure()
            raise self._paid_error(code, "This person can't receive any more marketing messages at this time")

    def window_open(self, person: Person) -> bool:
        return (
            person.last_interaction_ms > 0
            and now_ms() - person.last_interaction_ms < self.config.window_seconds * 1000
        )

    def _require_window(self, person: Person) -> None:
        if not self.window_open(person):
            raise errors.outside_window()

    def _check_optin(self, person: Person, optin: Mapping[str, Any]) -> None:
        """Opt-in requests: only inside the window, one per title per person per week."""
        self._require_window(person)
        last = person.optin_requests.get(optin["title"])
        if last is not None and now_ms() - last < self.config.optin_topic_seconds * 1000:
            raise errors.duplicate_topic()

    def _deliver(self, page: Page, person: Person, content: Content, token: Token | None, via: str) -> dict:
        """Record an accepted Send API send, then emit echo and receipts."""
        followup = token is not None and self._is_followup(token)
        item = self._record(page, person, content, token, via)
        if followup:
            token.followups += 1
            item["followup"] = True
        elif token is not None:
            person.last_marketing_ms = item["timestamp"]
        if content.optin is not None:
            person.optin_requests[content.optin["title"]] = item["timestamp"]
        self._after_send(page, person, content, item)
        return item

    def _record(self, page: Page, person: Person, content: Content, token: Token | None, via: str) -> dict:
        """An accepted send, in the person's thread and the send log."""
        item = {"mid": new_mid(), "direction": "page", "timestamp": now_ms(), "via": via, **content.view}
        if token is not None:
            item["token"] = token.token
        person.thread.append(item)
        self.sent.append((person.psid, item))
        return item

    def _after_send(self, page: Page, person: Person, content: Content, item: dict[str, Any]) -> None:
        config, mid, stamp = self.config, item["mid"], item["timestamp"]
        if "message_echoes" in page.subscribed_fields:
            echo = {"is_echo": True, "app_id": int(page.app_id), "mid": mid}
            if "text" in content.raw:
                echo["text"] = content.raw["text"]
            else:
                echo["attachments"] = [content.raw["attachment"]]
            if "metadata" in content.raw:
                echo["metadata"] = content.raw["metadata"]
            self._emit(person.page_id, "message_echoes", self._from_page(person, stamp, "message", echo))
        if not config.receipts:
            return
        # Watermarks are strictly later than the message, so "sent before" and "before or at" both hold.
        watermark = stamp + 1
        person.delivered_watermark = max(person.delivered_watermark, watermark)
        delivery: dict[str, Any] = {"watermark": watermark}
        if random.random() >= config.mids_omit_rate:
            delivery["mids"] = [mid]
        self._emit(
            person.page_id, "message_deliveries", self._from_person(person, None, "delivery", delivery)
        )
        if config.read_probability and random.random() < config.read_probability:
            person.read_watermark = max(person.read_watermark, watermark)
            read_at = stamp + int(config.read_delay_ms)
            event = self._from_person(person, read_at, "read", {"watermark": watermark})
            self._emit(person.page_id, "message_reads", event, config.read_delay_ms / 1000)

    def count_send(self, error: errors.GraphError | None) -> None:
        if error is None:
            self.accepted += 1
        else:
            self.rejected[error.key] += 1

    def upload_attachment(self, page: Page, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /{page}/message_attachments``: by URL, or multipart ``filedata``."""
        message = params.get("message")
        attachment = message.get("attachment") if isinstance(message, dict) else None
        kind = attachment.get("type") if isinstance(attachment, dict) else None
        if kind not in MEDIA_TYPES:
            raise errors.param("Param message[attachment][type] must be one of image, video, audio, file")
        payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
        upload = params.get("filedata")
        attachment_id = new_digits(16, self.attachments)
        if isinstance(upload, Upload):
            if len(upload.data) > MAX_UPLOAD_BYTES:
                raise errors.attachment_too_large()
            stored = Attachment(
                attachment_id,
                page.page_id,
                kind,
                f"/_sim/attachments/{attachment_id}",
                upload.content_type,
                upload.data,
            )
        elif payload.get("url"):
            stored = Attachment(attachment_id, page.page_id, kind, str(payload["url"]))
        else:
            raise errors.param("An attachment upload needs payload.url or a filedata file")
        self.attachments[attachment_id] = stored
        return {"attachment_id": attachment_id}

    def token_fields(self, token: Token) -> dict[str, Any]:
        """A token as the Graph API shows it (times in seconds), as in
        https://developers.facebook.com/documentation/business-messaging/messenger-platform/marketing-messages-on-messenger/get-subscription-tokens"""
        if token.from_audience:
            # Get subscription tokens: a Custom Audience's token is listed with these fields only
            # (no PSID, dates or eligibility).
            return {
                "notification_messages_token": token.token,
                "topic_title": token.title,
                "notification_messages_reoptin": "ENABLED",
                "custom_audience_ids": list(token.custom_audience_ids),
            }
        person = self.people[token.psid]
        created = token.created_ms // 1000
        next_eligible = (
            int(person.last_marketing_ms / 1000 + self.config.cooldown_seconds)
            if person.last_marketing_ms
            else created
        )
        fields = {
            "notification_messages_token": token.token,
            "recipient_id": token.psid,
            "notification_messages_reoptin": "ENABLED",
            "creation_timestamp": created,
            "user_token_status": "REFRESHED" if token.refreshed else "NOT_REFRESHED",
            "topic_title": token.title,
            "notification_messages_timezone": token.timezone,
            "next_eligible_time": next_eligible,
        }
        paid = self.paid_fields(token)
        fields["next_eligible_time"] = max(next_eligible, paid["next_eligible_time_for_paid_messaging"])
        if token.custom_audience_ids:
            fields["custom_audience_ids"] = list(token.custom_audience_ids)
        return {**fields, **paid}

    def list_tokens(
        self, page: Page, params: Mapping[str, Any]
    ) -> tuple[list[dict], str | None, str | None, bool]:
        """One page of ``notification_message_tokens``: (data, before cursor, after cursor, has more)."""
        now = now_ms()  # a Custom Audience's tokens are listed once matched (``audience_match_seconds``)
        tokens = [t for t in self.tokens.values() if t.page_id == page.page_id and t.created_ms <= now]
        if str(params.get("do_not_return_duplicates", "")).lower() == "true":
            seen: set[str] = set()
            tokens = [token for token in tokens if not (token.psid in seen or seen.add(token.psid))]
        chunk, before, after, more = page_of(tokens, params, default_limit=100)
        data = [self.token_fields(token) for token in chunk]
        malformed = self.config.malformed_token_page
        if malformed and before and cursor_index(before) // int(params.get("limit", 100)) + 1 == malformed:
            data = [{k: v for k, v in item.items() if k != "notification_messages_token"} for item in data]
        return data, before, after, more

    def token_info(self, page: Page, value: str) -> dict[str, Any]:
        return self.token_fields(self._token(page, value))
