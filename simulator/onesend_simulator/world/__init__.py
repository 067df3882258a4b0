"""The simulated world: Pages, simulated people and their threads, opt-in tokens, cooldowns and rate
windows, with Meta's sending rules: https://developers.facebook.com/docs/messenger-platform/marketing-messages
(opt-in and tokens), https://developers.facebook.com/docs/messenger-platform/reference/send-api/ (sending),
https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks (webhooks),
https://developers.facebook.com/docs/messenger-platform/error-codes (errors),
https://developers.facebook.com/documentation/business-messaging/messenger-platform/overview/rate-limiting
(rate limits) and https://developers.facebook.com/documentation/business-messaging/messenger-platform/marketing-messages-on-messenger/send-messages
(the paid Marketing Messages API).

Pure Python and synchronous (no aiohttp), so every rule can be read and tested without the server. The webhook events
the world produces go to a ``sink`` callable; the server plugs the webhook emitter in there.

The rules are split by concern into mixins (one module each); ``WorldState`` (``base``) holds the
state they share.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from ..model import AdAccount, App, Attachment, Audience, BusinessToken, Campaign, Person, Token, User
from .audiences import AudiencesMixin
from .base import Sink
from .business import BusinessMixin
from .login import LoginMixin
from .pages import PagesMixin
from .paid import PaidMixin
from .people import PeopleMixin
from .portfolios import PortfoliosMixin
from .send import SendMixin
from .views import ViewsMixin
from .webhooks import WebhooksMixin

__all__ = ["Sink", "World"]


class World(
    PagesMixin,
    LoginMixin,
    BusinessMixin,
    PortfoliosMixin,
    PeopleMixin,
    SendMixin,
    PaidMixin,
    AudiencesMixin,
    WebhooksMixin,
    ViewsMixin,
):
    """All simulated state and rules. ``reset()`` empties it and restores the start-up config."""

    def snapshot(self) -> dict[str, Any]:
        """Everything but config, counters and rate windows, as JSON-ready data (``--state-file``)."""
        attachments = [
            {**asdict(a), "data": base64.b64encode(a.data).decode() if a.data is not None else None}
            for a in self.attachments.values()
        ]
        return {
            "pages": [asdict(page) for page in self.pages.values()],
            "people": [asdict(person) for person in self.people.values()],
            "tokens": [asdict(token) for token in self.tokens.values()],
            "attachments": attachments,
            "campaigns": [asdict(campaign) for campaign in self.campaigns.values()],
            "audiences": [asdict(audience) for audience in self.audiences.values()],
            "users": [asdict(user) for user in self.users.values()],
            "login_configs": self.login_configs,
            "ad_accounts": [asdict(account) for account in self.ad_accounts.values()],
            "business_tokens": [asdict(token) for token in self.business_tokens.values()],
            "apps": [asdict(app) for app in self.apps.values()],
            "revoked": sorted(self.revoked),
            "sent": [[psid, item["mid"]] for psid, item in self.sent],
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        for page in data.get("pages", []):
            self.add_page(page)
        self.people = {person["psid"]: Person(**person) for person in data.get("people", [])}
        self.tokens = {token["token"]: Token(**token) for token in data.get("tokens", [])}
        for raw in data.get("attachments", []):
            encoded = raw.pop("data")
            attachment = Attachment(**raw, data=base64.b64decode(encoded) if encoded is not None else None)
            self.attachments[attachment.attachment_id] = attachment
        self.campaigns = {c["campaign_id"]: Campaign(**c) for c in data.get("campaigns", [])}
        self.audiences = {a["audience_id"]: Audience(**a) for a in data.get("audiences", [])}
        self.users = {user["user_id"]: User(**user) for user in data.get("users", [])}
        self.login_configs = dict(data.get("login_configs", {}))
        self.ad_accounts = {a["account_id"]: AdAccount(**a) for a in data.get("ad_accounts", [])}
        self.business_tokens = {t["token"]: BusinessToken(**t) for t in data.get("business_tokens", [])}
        self.apps = {app["app_id"]: App(**app) for app in data.get("apps", [])}
        self.revoked = set(data.get("revoked", []))
        items = {item["mid"]: item for person in self.people.values() for item in person.thread}
        self.sent = [(psid, items[mid]) for psid, mid in data.get("sent", []) if mid in items]
