"""The paid Marketing Messages API (https://developers.facebook.com/documentation/business-messaging/messenger-platform/marketing-messages-on-messenger/send-messages):
campaigns of an ad account and their sends to marketing-messages tokens.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .. import errors
from ..errors import ControlError
from ..messages import Content, parse_message
from ..model import META_GEOS, Campaign, Page, Person, Token, new_digits, now_ms
from .base import WorldState

#: Text Template: "up to 640 characters".
PAID_TEXT_LIMIT = 640
#: Media Template: a media template's ``url`` must be on Facebook.
FACEBOOK_HOSTS = frozenset({"business.facebook.com", "www.facebook.com", "facebook.com"})
#: The ad-account problems ``paid_account_error`` can simulate, worded as the API References.
ACCOUNT_ERRORS = {
    2300011: "The ad account has no payment method",
    2300013: "The business has not accepted the Marketing Messages terms",
    2300019: "The app has not accepted the Marketing Messages terms",
    2300030: "The ad account is not in a supported region",
}


class PaidMixin(WorldState):
    """The paid Marketing Messages API (a part of ``World``)."""

    def create_campaign(self, ad_account_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /act_{id}/message_campaign`` (Send Messages on Marketing Message API for
        Messenger, step 1): a name and the Page are required; a budget is optional since Meta's
        "Default Budget Mode" (same page, Jun 30 2026; changelog 2026-06-30), and when given it is
        ``daily_budget`` or ``lifetime_budget`` in the currency's smallest unit, above 0."""
        self._check_account(ad_account_id)
        if not params.get("name"):
            raise errors.param("The parameter name is required")
        if not params.get("page_id"):
            raise self._paid_error(2300065, "The parameter page_id is required")
        page = self.pages.get(str(params.get("page_id")))
        if page is None:
            raise errors.param("Param page_id must be a Page of this business")
        budgets = {key: _budget(params, key) for key in ("daily_budget", "lifetime_budget") if key in params}
        campaign_id = self._new_campaign_id()
        self.campaigns[campaign_id] = Campaign(
            campaign_id, ad_account_id, page.page_id, str(params["name"]), created_ms=now_ms(), **budgets
        )
        return {"id": campaign_id}

    def _new_campaign_id(self) -> str:
        """Meta's message campaign ids are ad ids: 18 digits starting with 120 (the Graph routes
        tell them from Page ids by that)."""
        while (campaign_id := "120" + new_digits(15, {})) in self.campaigns:
            pass
        return campaign_id

    def campaign_fields(self, page: Page, campaign_id: str) -> dict[str, Any]:
        """``GET /{message_campaign_id}`` (Send Messages on Marketing Message API for Messenger,
        "Get a message campaign"): the ad-like object, its budgets as strings."""
        campaign = self._campaign_of(page, campaign_id)
        adset = {
            key: str(value)
            for key, value in (
                ("daily_budget", campaign.daily_budget),
                ("lifetime_budget", campaign.lifetime_budget),
            )
            if value is not None
        }
        return {
            "id": campaign.campaign_id,
            "campaign": {"name": campaign.name},
            "adset": adset,
            "creative": {"actor_id": campaign.page_id},
        }

    def delete_campaign(self, page: Page, campaign_id: str) -> dict[str, Any]:
        """``DELETE /{message_campaign_id}``: gone for good (same page, "Delete a message campaign")."""
        del self.campaigns[self._campaign_of(page, campaign_id).campaign_id]
        return {"success": True}

    def _campaign_of(self, page: Page, campaign_id: str) -> Campaign:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None or campaign.page_id != page.page_id:
            raise errors.no_object(campaign_id, "get")
        return campaign

    def send_marketing(self, page: Page, ad_account_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /act_{id}/messages`` (Send Messages on Marketing Message API for Messenger, "Send
        a message"): the campaign's ``message_id``, the subscriber's ``subscription_token`` and a
        Send-API message; checked in the order of the API References' error table, answered with
        a tracking id that the ``marketing_message_*`` webhooks repeat."""
        delivery = params.get("messenger_delivery_data")
        if not isinstance(delivery, dict) or not delivery.get("subscription_token"):
            raise errors.param("The parameter messenger_delivery_data.subscription_token is required")
        self._check_account(ad_account_id)
        campaign = self.campaigns.get(str(params.get("message_id") or ""))
        if campaign is None:
            raise self._paid_error(2300001, "The message id is invalid or you do not have access to it")
        if campaign.ad_account_id != ad_account_id:
            raise self._paid_error(2300014, "The campaign belongs to another ad account")
        token = self.tokens.get(str(delivery["subscription_token"]))
        if token is None or token.created_ms > now_ms():  # a Custom Audience's, not matched yet
            raise self._paid_error(2300004, "The messenger subscription token could not be loaded")
        if not token.page_id == campaign.page_id == page.page_id:
            raise self._paid_error(2300005, "The Page of the message does not match the Page of the token")
        if now_ms() - campaign.created_ms < self.config.campaign_warmup_seconds * 1000:
            # FAQs: wait at least 60 minutes after creating a campaign; changelog 2026-05-05.
            raise self._paid_error(2300003, "The message must be in active status before it can be sent")
        self._check_budget(campaign)
        content = self._paid_content(page, params.get("message"))
        window, now = self._window(page, content.media)
        person = self._paid_person(token, params.get("min_conversation_gap_seconds"))
        item = self._record(page, person, content, token, "marketing")
        item.update(
            tracking_id=str(uuid.uuid4()), campaign_id=campaign.campaign_id, ad_account_id=ad_account_id
        )
        if token.from_audience:  # Send Messages: the PSID and mid are "invisible" for these
            item["hidden"] = True
        token.last_paid_ms = item["timestamp"]
        campaign.sent += 1
        campaign.sent_on_day += 1
        window.record(now)
        self._after_paid_send(page, person, item)
        return {"success": True, "marketing_message_tracking_id": item["tracking_id"]}

    def _check_budget(self, campaign: Campaign) -> None:
        """Sends stop at the campaign's budget (API References: 2300053 lifetime budget reached,
        2300054 daily budget reached, "resumes tomorrow"). A message costs ``paid_price_cents``
        (Meta bills delivered ones; here every accepted one)."""
        today = time.strftime("%Y-%m-%d", time.gmtime())
        if campaign.day != today:
            campaign.day, campaign.sent_on_day = today, 0
        price = self.config.paid_price_cents
        if campaign.lifetime_budget is not None and (campaign.sent + 1) * price > campaign.lifetime_budget:
            raise self._paid_error(2300053, "The campaign reached its lifetime budget")
        if campaign.daily_budget is not None and (campaign.sent_on_day + 1) * price > campaign.daily_budget:
            raise self._paid_error(2300054, "The campaign reached its daily budget; it resumes tomorrow")

    def _check_account(self, ad_account_id: str) -> None:
        """The ad account's state: ``paid_account_error`` for every account, else the account's
        own (``account_refusal``: its region, payment method and terms) (API References: sends and
        campaign creation fail without a payment method, accepted terms or a supported region;
        changelog 2026-03-26 for campaign creation)."""
        code = self.config.paid_account_error
        if code:
            raise self._paid_error(code, ACCOUNT_ERRORS[code])
        refusal = self.account_refusal(ad_account_id)  # type: ignore[attr-defined]
        if refusal is not None:
            raise self._paid_error(*refusal)

    def _paid_error(self, code: int, message: str) -> errors.GraphError:
        """A ``MARKETING_MESSAGES_DIRECT`` error (API References). Whether Meta puts its 23000xx
        number in ``code`` or in ``error_subcode`` is not documented: ``paid_error_field`` says."""
        if self.config.paid_error_field == "subcode":
            return errors.param(message, code)
        return errors.GraphError(code, message)

    def _paid_content(self, page: Page, message: Any) -> Content:
        """A Send-API message without recipient (API References); text "up to 640 characters"
        (Text Template)."""
        self._check_paid_media(page, parse_message(message).view)
        content = self._content(page, message)
        if content.optin is not None:
            raise errors.param("Opt-in requests cannot be sent as marketing messages")
        if len(content.raw.get("text", "")) > PAID_TEXT_LIMIT:
            raise errors.param(f"Param message[text] must be at most {PAID_TEXT_LIMIT} characters")
        return content

    def _check_paid_media(self, page: Page, view: dict[str, Any]) -> None:
        """A media template's media: by ``attachment_id``, which another Page's upload can't be
        (2300027, API References), or by a Facebook URL (``business.facebook.com/…``,
        ``www.facebook.com/…/videos/…``, ``www.facebook.com/photo.php?fbid=…``: Media Template)."""
        if view.get("template") != "media":
            return
        if view["url"] and urlsplit(view["url"]).hostname not in FACEBOOK_HOSTS:
            raise errors.param(
                "Param url of a media template must be a Facebook URL; upload the media instead"
            )
        attachment = self.attachments.get(view["attachment_id"] or "")
        if attachment is not None and attachment.page_id != page.page_id:
            raise self._paid_error(2300027, "The attachment was created by another Page and cannot be reused")

    def _paid_person(self, token: Token, gap: Any) -> Person:
        """The subscriber, if a paid message may reach them now (API References errors 2300034-36,
        2300052; Send Messages: one message per subscription token every 12 hours)."""
        person = self.people[token.psid]
        if person.country in META_GEOS:  # reference §1: recipient regions excluded
            raise self._paid_error(2300032, "The subscription token is not in a supported region")
        if token.stopped:
            raise self._paid_error(2300034, "The person stopped the marketing messages subscription")
        if person.blocked:
            raise self._paid_error(2300036, "This person cannot receive messages right now")
        now = now_ms()
        if token.last_paid_ms and now - token.last_paid_ms < self.config.paid_cooldown_seconds * 1000:
            raise self._paid_error(2300035, "The minimum delay between messages has not been reached")
        self._check_refusal(person)  # 1200 and the frequency caps, set by ``refuse_sends``
        if gap is not None:
            # min_conversation_gap_seconds (changelog 2026-06-11): recent organic activity blocks.
            gap = int(gap) if isinstance(gap, str) and gap.isdigit() else gap  # form-encoded
            if isinstance(gap, bool) or not isinstance(gap, int) or gap <= 0:
                raise errors.param("Param min_conversation_gap_seconds must be a positive integer")
            if person.last_interaction_ms and now - person.last_interaction_ms < gap * 1000:
                raise self._paid_error(2300052, "This person is not available right now.")
        return person

    def _after_paid_send(self, page: Page, person: Person, item: dict[str, Any]) -> None:
        """The webhooks of an accepted paid send: echo ("sent") at once, delivery when receipts
        are on, a read with ``read_probability`` (Send Messages, "Webhooks")."""
        self._emit_paid(page.page_id, "marketing_message_echoes", self._paid_event(page, person, item))
        if not self.config.receipts:
            return
        item["paid_delivered"] = True
        self._emit_paid(page.page_id, "marketing_message_deliveries", self._paid_event(page, person, item))
        if self.config.read_probability and random.random() < self.config.read_probability:
            item["paid_read"] = True
            read = self._paid_event(page, person, item, mid=False)
            self._emit_paid(page.page_id, "marketing_message_reads", read, self.config.read_delay_ms / 1000)

    @staticmethod
    def _paid_event(
        page: Page, person: Person, item: dict[str, Any], *, mid: bool = True, tracking: bool = True
    ) -> dict[str, Any]:
        """One ``marketing_message_*`` body, keys and types as in Meta's samples (ids as numbers,
        the token and campaign id as strings; reads carry no ``mid``, clicks no tracking id and
        no ``app_id``). The timestamp's unit is not documented: milliseconds, as Messenger's. A
        subscriber from a Custom Audience upload has ``recipient_id`` null (changelog 2026-01-22)
        and no ``mid`` (Send Messages: both "invisible")."""
        hidden = bool(item.get("hidden"))
        event: dict[str, Any] = {
            "recipient_id": None if hidden else int(person.psid),
            "page_id": int(page.page_id),
            "app_id": int(page.app_id),
            "timestamp": now_ms(),
        }
        if mid and not hidden:
            event["mid"] = item["mid"]
        if tracking:
            event["marketing_message_tracking_id"] = item["tracking_id"]
        event.update(messenger_subscription_token=item["token"], message_id=item["campaign_id"])
        return event

    def read_paid(self, person: Person) -> list[dict[str, Any]]:
        """The person read the thread: a ``marketing_message_reads`` for each paid message not
        read yet (no ``mid``, Send Messages, "Webhooks")."""
        page, events = self.pages[person.page_id], []
        for item in person.thread:
            if "tracking_id" in item and not item.get("paid_read"):
                item["paid_read"] = True
                events.append(self._paid_event(page, person, item, mid=False))
                self._emit_paid(page.page_id, "marketing_message_reads", events[-1])
        return events

    def _paid_item(self, person: Person, mid: str | None = None) -> dict[str, Any]:
        """The person's paid message ``mid``, or their last one."""
        paid = (i for i in reversed(person.thread) if "tracking_id" in i and mid in (None, i["mid"]))
        item = next(paid, None)
        if item is None:
            raise ControlError(f"This person received no paid marketing message{f' {mid}' if mid else ''}")
        return item

    def click_paid(self, psid: str, mid: str | None = None) -> dict[str, Any]:
        """The person taps a button of a paid message (``mid``, else their last one):
        ``marketing_message_clicks``, without tracking id or ``app_id`` (Send Messages,
        "Webhooks")."""
        person = self.person(psid)
        page, item = self.pages[person.page_id], self._paid_item(person, mid)
        event = self._paid_event(page, person, item, tracking=False)
        del event["app_id"]
        item["paid_clicks"] = item.get("paid_clicks", 0) + 1
        self._emit_paid(page.page_id, "marketing_message_clicks", event)
        return {"webhooks": [event]}

    def fail_paid_delivery(self, psid: str, error_message: str = "Unknown Error") -> dict[str, Any]:
        """Meta drops the person's last paid message after accepting it (the asynchronous phase;
        changelog 2026-03-31): ``marketing_message_delivery_failed``, shaped as Meta's sample
        (no recipient, no mid, no tracking id; the business instead)."""
        person = self.person(psid)
        page, item = self.pages[person.page_id], self._paid_item(person)
        event = {
            "app_id": int(page.app_id),
            "business_id": int(page.app_id) + 1,
            "page_id": int(page.page_id),
            "messenger_subscription_token": item["token"],
            "timestamp": now_ms(),
            "error_message": error_message,
            "message_id": item["campaign_id"],
        }
        item["delivery_failed"] = True
        self._emit_paid(page.page_id, "marketing_message_delivery_failed", event)
        return {"webhooks": [event]}

    def delivery_estimate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET act_{id}/message_delivery_estimate`` (Send Messages on Marketing Message API for
        Messenger, "Delivery estimate"; open beta): the Page's subscribers Meta would take a paid
        message to now, capped by what the budget buys; costs in the currency's smallest unit."""
        if self.config.delivery_estimate_fails:
            raise errors.transient()
        promoted = params.get("promoted_object")
        page = self.pages.get(str(promoted.get("page_id"))) if isinstance(promoted, dict) else None
        if page is None:
            raise errors.param("Param promoted_object must name a page_id of this business")
        budgets = [_budget(params, key) for key in ("daily_budget", "lifetime_budget") if key in params]
        cooldown_ms, now = self.config.paid_cooldown_seconds * 1000, now_ms()
        reachable = sum(
            1
            for token in self.tokens.values()
            if token.page_id == page.page_id
            and not token.stopped
            and not self.people[token.psid].blocked
            and now - token.last_paid_ms >= cooldown_ms
        )
        price = self.config.paid_price_cents
        upper = min([reachable, *(int(budget // price) for budget in budgets)])
        lower = upper * 4 // 5
        estimate = {
            "estimate_delivery_upper_bound": upper,
            "estimate_delivery_lower_bound": lower,
            "estimate_cost_upper_bound": round(upper * price),
            "estimate_cost_lower_bound": round(lower * price),
        }
        return {"data": [estimate]}

    def campaign_insights(self, page: Page, campaign_id: str) -> dict[str, Any]:
        """``GET /{message_campaign_id}/insights`` (Measure Campaign Performance on Marketing
        Message API for Messenger): the documented fields, every value a string, spend in the
        currency's units; rates in percent."""
        campaign = self._campaign_of(page, campaign_id)
        delivered = self._charged(campaign.campaign_id)
        reads = sum(1 for i in delivered if i.get("paid_read"))
        clicks = sum(i.get("paid_clicks", 0) for i in delivered)
        spend = self._spend(len(delivered))
        today = time.strftime("%Y-%m-%d", time.gmtime())
        row = {
            "marketing_messages_delivered": str(len(delivered)),
            "marketing_messages_read_rate": _ratio(reads * 100, len(delivered)),
            "marketing_messages_link_btn_click": str(clicks),
            "marketing_messages_link_btn_click_rate": _ratio(clicks * 100, len(delivered)),
            "marketing_messages_spend": f"{spend:.2f}",
            "marketing_messages_cost_per_delivered": _ratio(spend, len(delivered)),
            "marketing_messages_cost_per_link_btn_click": _ratio(spend, clicks),
            "date_start": time.strftime("%Y-%m-%d", time.gmtime(campaign.created_ms / 1000)),
            "date_stop": today,
        }
        return {"data": [row]}

    def _charged(self, campaign_id: str | None = None) -> list[dict[str, Any]]:
        """The messages (of one campaign, or all) an ad account pays for: the delivered ones
        (FAQs: "pay only for messages delivered"), not those Meta dropped after accepting them."""
        return [
            item
            for _, item in self.sent
            if item.get("paid_delivered")
            and not item.get("delivery_failed")
            and campaign_id in (None, item["campaign_id"])
        ]

    def _spend(self, delivered: int) -> float:
        """What ``delivered`` messages cost, in the currency's units (insights' ``spend``)."""
        return delivered * self.config.paid_price_cents / 100

    def ad_account_spend(self) -> dict[str, dict[str, Any]]:
        """Each ad account's bookkeeping: its message campaigns and their Pages, and the
        delivered messages it was charged for with their cost (its campaigns' insights add up to
        it; a deleted campaign's messages stay charged)."""
        accounts: dict[str, dict[str, Any]] = {}

        def account(ad_account_id: str) -> dict[str, Any]:
            return accounts.setdefault(
                ad_account_id, {"page_ids": [], "campaigns": 0, "delivered": 0, "spend": "0.00"}
            )

        for campaign in self.campaigns.values():
            figures = account(campaign.ad_account_id)
            figures["campaigns"] += 1
            if campaign.page_id not in figures["page_ids"]:
                figures["page_ids"].append(campaign.page_id)
        for item in self._charged():
            account(item["ad_account_id"])["delivered"] += 1
        for figures in accounts.values():
            figures["spend"] = f"{self._spend(figures['delivered']):.2f}"
        return accounts

    def unsubscribe_customers(self, page: Page, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST {page_id}/messaging_customer_base/unsubscribe`` (Grow your Audience for Marketing
        Message API for Messenger; changelog 2026-06-11): each row unsubscribes a person from the
        Page's marketing messages, so sends to their tokens fail as stopped ones do (2300034). A
        row must use exactly one identifier combination, ``psid`` and ``subscriber_token`` alone:
        the answer's ``invalid_rows_count`` is where Meta reports rows it cannot use, so a mixed
        row, or one naming nobody of this Page, is counted there rather than failing the call.
        A phone or email row (raw or SHA-256) names the people who gave Meta that contact; one
        naming nobody is well formed and changes nothing."""
        rows = params.get("data")
        if not isinstance(rows, list) or not rows:
            raise errors.param("Param data must be a non-empty array of rows")
        invalid = 0
        for row in rows:
            tokens = self._unsubscribe_row(page, row)
            if tokens is None:
                invalid += 1
            for token in tokens or ():
                token.stopped = True
        return {"invalid_rows_count": invalid}

    def _unsubscribe_row(self, page: Page, row: Any) -> list[Token] | None:
        """The tokens one Unsubscribe API row names, None if invalid."""
        keys = set(row) if isinstance(row, dict) else set()
        if keys in ({"phone"}, {"email"}, {"phone", "email"}):
            people = self.people_by_contact(page.page_id, row)  # type: ignore[attr-defined]
            return [self.tokens[t] for person in people for t in person.tokens]  # nobody: well formed
        if keys == {"psid"}:
            person = self.people.get(str(row["psid"]))
            if person is None or person.page_id != page.page_id:
                return None
            return [self.tokens[t] for t in person.tokens]
        if keys == {"subscriber_token"}:
            token = self.tokens.get(str(row["subscriber_token"]))
            return [token] if token is not None and token.page_id == page.page_id else None
        return None

    def paid_fields(self, token: Token) -> dict[str, Any]:
        """``next_eligible_time_for_paid_messaging`` of a token (Meta's SDK; the docs list only
        ``next_eligible_time``, which is therefore never earlier), in seconds."""
        if not token.last_paid_ms:
            return {"next_eligible_time_for_paid_messaging": token.created_ms // 1000}
        return {
            "next_eligible_time_for_paid_messaging": int(
                token.last_paid_ms / 1000 + self.config.paid_cooldown_seconds
            )
        }


def _budget(params: Mapping[str, Any], key: str) -> int:
    """A budget in the account currency's smallest unit: "must be greater than 0" (Send Messages
    on Marketing Message API for Messenger, parameters of ``message_campaign``)."""
    value = params[key]
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise errors.param(f"Param {key} must be a positive integer")
    return value


def _ratio(value: float, count: int) -> str:
    return f"{value / count:.6f}" if count else "0"
