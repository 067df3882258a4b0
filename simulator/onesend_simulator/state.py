"""The simulated world: Pages, simulated people and their threads, opt-in tokens, cooldowns and rate
windows, with Meta's sending rules: https://developers.facebook.com/docs/messenger-platform/marketing-messages
(opt-in and tokens), https://developers.facebook.com/docs/messenger-platform/reference/send-api/ (sending),
https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks (webhooks),
https://developers.facebook.com/docs/messenger-platform/error-codes (errors),
https://developers.facebook.com/documentation/business-messaging/messenger-platform/overview/rate-limiting
(rate limits) and https://developers.facebook.com/documentation/business-messaging/messenger-platform/marketing-messages-on-messenger/send-messages
(the paid Marketing Messages API).

Pure Python and synchronous (no aiohttp), so every rule can be read in one place. The webhook events
the world produces go to a ``sink`` callable; the server plugs the webhook emitter in there.
"""

from __future__ import annotations

import base64
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields, replace
from typing import Any

from . import errors
from .config import Config
from .errors import ControlError
from .messages import CTA_LABELS, DEFAULT_OPTIN_TITLE, MEDIA_TYPES, OPTIN_TITLE_LIMIT, Content, parse_message
from .model import (
    PAGE_TASKS,
    Attachment,
    Campaign,
    Grant,
    Page,
    PageRates,
    Person,
    SlidingWindow,
    Token,
    Upload,
    User,
    new_digits,
    new_mid,
    now_ms,
)

WEBHOOK_FIELDS = frozenset(
    {
        "messages",
        "messaging_postbacks",
        "messaging_optins",
        "message_deliveries",
        "message_reads",
        "messaging_referrals",
        "message_echoes",
        "message_reactions",
        "messaging_handovers",
        "messaging_policy_enforcement",
        "standby",
    }
)
DEFAULT_FIELDS = (
    "messages",
    "messaging_postbacks",
    "messaging_optins",
    "message_deliveries",
    "message_reads",
    "messaging_referrals",
)
MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY"})
MESSAGE_TAGS = frozenset(
    {"ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "HUMAN_AGENT", "CUSTOMER_FEEDBACK"}
)
SENDER_ACTIONS = frozenset({"mark_seen", "typing_on", "typing_off"})
GET_STARTED_PAYLOAD = "GET_STARTED"
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
#: People one ``POST /_sim/people/bulk`` may create (a benchmark's audience, in seconds).
MAX_BULK_PEOPLE = 1_000_000

# A webhook sink receives (page_id, messaging event, extra delay in seconds).
Sink = Callable[[str, dict[str, Any], float], None]


class World:
    """All simulated state and rules. ``reset()`` empties it and restores the start-up config."""

    def __init__(self, config: Config, sink: Sink | None = None) -> None:
        self.config = config
        self._initial_config = replace(config)
        self.sink: Sink = sink or (lambda page_id, event, delay: None)
        self.reset()

    def reset(self) -> None:
        for f in fields(self.config):
            setattr(self.config, f.name, getattr(self._initial_config, f.name))
        self.pages: dict[str, Page] = {}
        self._page_by_token: dict[str, Page] = {}
        self._page_by_username: dict[str, Page] = {}
        self.people: dict[str, Person] = {}
        self.tokens: dict[str, Token] = {}
        self.attachments: dict[str, Attachment] = {}
        self.campaigns: dict[str, Campaign] = {}
        self.users: dict[str, User] = {}
        self.codes: dict[str, Grant] = {}  # authorization code -> what the dialog granted
        self.user_tokens: dict[str, Grant] = {}  # user access token -> the grant it came from
        self.revoked: set[str] = set()  # user and Page tokens revoked through the control API
        self.sent: list[tuple[str, dict[str, Any]]] = []  # (psid, thread item) of every accepted send
        self._rates: dict[str, PageRates] = {}
        self.accepted = 0
        self.rejected: Counter[str] = Counter()

    # ----------------------------------------------------------------- Pages and people (control API)

    def add_page(self, data: Mapping[str, Any]) -> tuple[Page, bool]:
        """Create a Page, or update the given fields of an existing one (so set-up scripts can re-run)."""
        page_id = str(data.get("page_id") or new_digits(15, self.pages))
        if not page_id.isdigit() or not str(data.get("app_id") or 0).isdigit():
            raise ControlError("page_id and app_id must be numeric")
        page = self.pages.get(page_id)
        created = page is None
        if page is None:
            page = Page(
                page_id=page_id,
                name=f"Page {page_id}",
                username=page_id,
                access_token="EAA" + secrets.token_hex(24),
                app_id=new_digits(16, {}),
                subscribed_fields=list(DEFAULT_FIELDS),
            )
        names = ("name", "username", "access_token", "app_id")
        changes: dict[str, Any] = {key: str(data[key]) for key in names if data.get(key)}
        if "subscribed_fields" in data:
            changes["subscribed_fields"] = self._fields(data["subscribed_fields"])
        if "scopes" in data:
            changes["scopes"] = self._scopes(data["scopes"])
        for index, key in ((self._page_by_token, "access_token"), (self._page_by_username, "username")):
            owner = index.get(changes.get(key, getattr(page, key)))
            if owner is not None and owner is not page:
                raise ControlError(f"{key} is already used by Page {owner.page_id}", 409)
        self._page_by_token.pop(page.access_token, None)
        self._page_by_username.pop(page.username, None)
        for key, value in changes.items():
            setattr(page, key, value)
        self.pages[page_id] = page
        self._page_by_token[page.access_token] = page
        self._page_by_username[page.username] = page
        return page, created

    @staticmethod
    def _fields(value: Any) -> list[str]:
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ControlError("subscribed_fields must be a list of field names")
        names = [name.strip() for name in names if name.strip()]
        unknown = sorted(set(names) - WEBHOOK_FIELDS)
        if unknown:
            raise ControlError(f"Unknown webhook fields: {', '.join(unknown)}")
        return names

    @staticmethod
    def _scopes(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(scope, str) for scope in value):
            raise ControlError("scopes must be a list of permission names")
        return list(dict.fromkeys(value))

    def page(self, page_id: str) -> Page:
        page = self.pages.get(str(page_id))
        if page is None:
            raise ControlError(f"No Page {page_id}", 404)
        return page

    def page_by_name(self, username_or_id: str) -> Page:
        page = self._page_by_username.get(username_or_id) or self.pages.get(username_or_id)
        if page is None:
            raise ControlError(f"No Page {username_or_id}", 404)
        return page

    def add_person(self, page_id: str, name: str | None = None) -> Person:
        page = self.page(page_id)
        psid = new_digits(16, self.people)
        person = Person(psid=psid, page_id=page.page_id, name=name or f"Person {len(self.people) + 1}")
        self.people[psid] = person
        return person

    def add_people_bulk(
        self,
        page_id: str,
        count: Any,
        *,
        subscribed: bool = True,
        title: Any = None,
        timezone: Any = "UTC",
        payload: Any = "-",
    ) -> list[dict[str, str | None]]:
        """``count`` people who opened the Page's thread (Get Started, 24 h window open) and, when
        ``subscribed``, were sent the opt-in request for ``title`` and accepted it: the end state of
        ``open_link`` + opt-in send + ``accept_optin``, without the webhooks, the send log or the
        rate windows (set-up, not traffic). Returns ``[{"psid", "token"}]`` in creation order."""
        page = self.page(page_id)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BULK_PEOPLE:
            raise ControlError(f"count must be an integer from 1 to {MAX_BULK_PEOPLE:,}")
        if not isinstance(subscribed, bool):
            raise ControlError("subscribed must be true or false")
        if not isinstance(timezone, str) or not timezone:
            raise ControlError("timezone must be a non-empty string")
        title = DEFAULT_OPTIN_TITLE if title is None else title
        if subscribed and (not isinstance(title, str) or not 0 < len(title) <= OPTIN_TITLE_LIMIT):
            raise ControlError(f"title (the opt-in topic) must be 1-{OPTIN_TITLE_LIMIT} characters")
        payload = str(payload)
        now, first = now_ms(), len(self.people) + 1
        people, tokens, created = self.people, self.tokens, []
        for number in range(first, first + count):
            psid = new_digits(16, people)
            person = Person(
                psid=psid,
                page_id=page.page_id,
                name=f"Person {number}",
                contacted=True,
                last_interaction_ms=now,
            )
            person.thread.append(
                {
                    "mid": new_mid(),
                    "direction": "user",
                    "timestamp": now,
                    "type": "postback",
                    "text": "Get Started",
                    "payload": GET_STARTED_PAYLOAD,
                    "ref": None,
                }
            )
            people[psid] = person
            value = None
            if subscribed:
                value = new_digits(19, tokens)
                tokens[value] = Token(value, page.page_id, psid, title, payload, timezone, now)
                person.tokens.append(value)
                person.optin_requests[title] = now
                optin = {
                    "title": title,
                    "image_url": None,
                    "payload": payload,
                    "cta_text": "GET_UPDATES",
                    "cta_label": CTA_LABELS["GET_UPDATES"],
                    "timezone": timezone,
                    "state": "accepted",
                    "token": value,
                }
                person.thread.append(
                    {
                        "mid": new_mid(),
                        "direction": "page",
                        "timestamp": now,
                        "via": "psid",
                        "type": "optin",
                        "optin": optin,
                    }
                )
                person.thread.append(
                    {
                        "mid": new_mid(),
                        "direction": "user",
                        "timestamp": now,
                        "type": "optin_accepted",
                        "text": f"Subscribed to {title}",
                    }
                )
            created.append({"psid": psid, "token": value})
        return created

    def person(self, psid: str) -> Person:
        person = self.people.get(str(psid))
        if person is None:
            raise ControlError(f"No person {psid}", 404)
        return person

    # ----------------------------------------------------------------------------- Graph API: auth

    def page_for_token(self, access_token: str | None) -> Page:
        page = self._page_by_token.get(access_token) if access_token else None
        if page is None:
            raise errors.revoked_token() if access_token in self.revoked else errors.invalid_access_token()
        return page

    def grant_for_token(self, access_token: str | None) -> Grant:
        """The grant behind a user access token (``/me/accounts``, ``/me/permissions``)."""
        grant = self.user_tokens.get(access_token) if access_token else None
        if grant is None:
            raise errors.revoked_token() if access_token in self.revoked else errors.invalid_access_token()
        return grant

    def check_app_token(self, access_token: str | None) -> None:
        """An app access token is ``{app_id}|{app_secret}``; the simulator knows one secret."""
        app_id, _, secret = (access_token or "").partition("|")
        if not app_id.isdigit() or secret != self.config.app_secret:
            raise errors.invalid_access_token()

    # ------------------------------------------------------------------ Facebook Login (OAuth)

    def add_user(self, data: Mapping[str, Any]) -> tuple[User, bool]:
        """Create a business owner, or update the given fields (``name``, ``page_ids``)."""
        user_id = str(data.get("user_id") or new_digits(15, self.users))
        if not user_id.isdigit():
            raise ControlError("user_id must be numeric")
        page_ids = data.get("page_ids", [])
        if not isinstance(page_ids, list):
            raise ControlError("page_ids must be a list of Page ids")
        for page_id in page_ids:
            self.page(page_id)
        user = self.users.get(user_id)
        created = user is None
        if user is None:
            user = self.users[user_id] = User(user_id, f"User {user_id}")
        if data.get("name"):
            user.name = str(data["name"])
        if "page_ids" in data:
            user.page_ids = [str(page_id) for page_id in page_ids]
        return user, created

    def user(self, user_id: str) -> User:
        user = self.users.get(str(user_id))
        if user is None:
            raise ControlError(f"No user {user_id}", 404)
        return user

    def authorize(
        self,
        user_id: str,
        client_id: str,
        redirect_uri: str,
        page_ids: list[str],
        requested: list[str],
        declined: list[str],
    ) -> str:
        """The owner pressed Continue in the login dialog: record their answers to the requested
        permissions, give the chosen Pages' tokens those permissions, return a one-use code."""
        user = self.user(user_id)
        foreign = set(page_ids) - set(user.page_ids)
        if foreign:
            raise ControlError(f"{user.name} does not manage Page(s) {', '.join(sorted(foreign))}")
        if not client_id.isdigit() or not redirect_uri:
            raise ControlError("client_id (numeric) and redirect_uri are required")
        given = [scope for scope in requested if scope not in declined]
        refused = [scope for scope in requested if scope in declined]
        user.granted = [s for s in user.granted if s not in requested] + given
        user.declined = [s for s in user.declined if s not in requested] + refused
        for page_id in page_ids:
            self.pages[page_id].scopes = list(user.granted)
        code = "AQ" + secrets.token_urlsafe(32)
        self.codes[code] = Grant(user.user_id, client_id, redirect_uri, list(page_ids))
        return code

    def exchange_code(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /oauth/access_token``: a code from the dialog becomes a user access token, once.
        The chosen Pages are now the app's: their ``app_id`` becomes the client's."""
        client_id = str(params.get("client_id") or "")
        if not client_id or not params.get("client_secret") or not params.get("code"):
            raise errors.param("Missing client_id, client_secret or code parameter")
        if params["client_secret"] != self.config.app_secret:
            raise errors.bad_client_secret()
        grant = self.codes.get(str(params["code"]))
        if grant is None or grant.client_id != client_id:
            raise errors.bad_verification_code()
        if grant.used:
            raise errors.code_used()
        if params.get("redirect_uri") != grant.redirect_uri:
            raise errors.redirect_uri_mismatch()
        grant.used = True
        for page_id in grant.page_ids:
            self.pages[page_id].app_id = client_id
        token = "EAA" + secrets.token_hex(32)
        self.user_tokens[token] = grant
        return {"access_token": token, "token_type": "bearer", "expires_in": 60 * 24 * 3600}

    def accounts(
        self, grant: Grant, params: Mapping[str, Any]
    ) -> tuple[list[dict], str | None, str | None, bool]:
        """One page of ``/me/accounts``: the Pages the owner chose, with Page tokens."""
        user = self.user(grant.user_id)
        page_ids = [page_id for page_id in grant.page_ids if page_id in user.page_ids]
        rows = [
            {
                "access_token": self.pages[page_id].access_token,
                "category": "Shopping & retail",
                "category_list": [{"id": "200600219953504", "name": "Shopping & retail"}],
                "name": self.pages[page_id].name,
                "id": page_id,
                "tasks": list(PAGE_TASKS),
            }
            for page_id in page_ids
        ]
        return _page_of(rows, params, default_limit=25)

    def permissions(self, grant: Grant) -> list[dict[str, str]]:
        user = self.user(grant.user_id)
        return [{"permission": s, "status": "granted"} for s in user.granted] + [
            {"permission": s, "status": "declined"} for s in user.declined
        ]

    def debug_token(self, input_token: str | None) -> dict[str, Any]:
        """``GET /debug_token``: whether a user or Page token works, and its permissions."""
        page = self._page_by_token.get(input_token) if input_token else None
        grant = self.user_tokens.get(input_token) if input_token else None
        if page is not None:
            owner = next((u.user_id for u in self.users.values() if page.page_id in u.page_ids), None)
            return {
                "app_id": page.app_id,
                "type": "PAGE",
                "application": "onesend",
                "expires_at": 0,
                "is_valid": True,
                "profile_id": page.page_id,
                "scopes": list(page.scopes),
                "user_id": owner,
            }
        if grant is not None:
            return {
                "app_id": grant.client_id,
                "type": "USER",
                "application": "onesend",
                "expires_at": 0,
                "is_valid": True,
                "scopes": list(self.user(grant.user_id).granted),
                "user_id": grant.user_id,
            }
        error = errors.revoked_token() if input_token in self.revoked else errors.invalid_access_token()
        return {
            "error": {"code": error.code, "message": str(error), "subcode": error.subcode},
            "is_valid": False,
            "scopes": [],
        }

    def revoke_token(self, token: Any) -> dict[str, Any]:
        """The owner removed the app, or Meta invalidated the session: the token answers 190/460
        from now on. A revoked Page token is replaced, so connecting the Page again works."""
        token = str(token or "")
        page = self._page_by_token.get(token)
        if page is not None:
            self.add_page({"page_id": page.page_id, "access_token": "EAA" + secrets.token_hex(24)})
            kind = "page"
        elif self.user_tokens.pop(token, None) is not None:
            kind = "user"
        else:
            raise ControlError("No such user or Page access token", 404)
        self.revoked.add(token)
        return {"revoked": kind}

    def deny_permission(self, user_id: str, permission: Any) -> dict[str, Any]:
        """The owner removes one permission in their settings: their tokens and Page tokens lose it."""
        user = self.user(user_id)
        if not isinstance(permission, str) or not permission:
            raise ControlError("permission is required")
        user.granted = [scope for scope in user.granted if scope != permission]
        if permission not in user.declined:
            user.declined.append(permission)
        for page_id in user.page_ids:
            page = self.pages[page_id]
            page.scopes = [scope for scope in page.scopes if scope != permission]
        return self.user_view(user)

    def user_view(self, user: User) -> dict[str, Any]:
        return asdict(user)

    # ------------------------------------------------------------------------- Graph API: Send API

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
        if action is not None:
            return self._sender_action(page, recipient, action, tagged)
        content = self._content(page, message)
        window, now = self._window(page, content.media)
        if "notification_messages_token" in recipient:
            token = self._token(page, recipient["notification_messages_token"])
            person = self._token_person(token)
        else:
            person, token = self._psid_person(page, recipient), None
            if content.optin is None and not tagged:
                self._require_window(person)
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
        if token is None or token.page_id != page.page_id:
            raise errors.invalid_optin_token()
        return token

    def _token_person(self, token: Token) -> Person:
        """The subscriber behind a token, if a marketing message may reach them now."""
        person = self.people[token.psid]
        if person.blocked:
            raise errors.blocked()
        if token.stopped:
            raise errors.stopped()
        if (
            person.last_marketing_ms
            and now_ms() - person.last_marketing_ms < self.config.cooldown_seconds * 1000
        ):
            raise errors.cooldown()
        return person

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
        """Record an accepted send in the thread and the send log, then emit echo and receipts."""
        now = now_ms()
        item = {"mid": new_mid(), "direction": "page", "timestamp": now, "via": via, **content.view}
        if token is not None:
            item["token"] = token.token
            person.last_marketing_ms = now
        if content.optin is not None:
            person.optin_requests[content.optin["title"]] = now
        person.thread.append(item)
        self.sent.append((person.psid, item))
        self._after_send(page, person, content, item)
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

    # --------------------------------------------------------------------- Graph API: other edges

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

    def subscribed_apps(self, page: Page, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if method == "GET":
            if not page.subscribed_fields:
                return {"data": []}
            return {
                "data": [{"id": page.app_id, "name": "onesend", "subscribed_fields": page.subscribed_fields}]
            }
        if "pages_manage_metadata" not in page.scopes:
            raise errors.missing_permission("pages_manage_metadata")
        if method == "DELETE":
            page.subscribed_fields = []
            return {"success": True}
        if "subscribed_fields" not in params:
            raise errors.param("The parameter subscribed_fields is required")
        try:
            page.subscribed_fields = self._fields(params["subscribed_fields"])
        except ControlError as error:
            raise errors.param(f"Param subscribed_fields: {error}") from None
        return {"success": True}

    def token_fields(self, token: Token) -> dict[str, Any]:
        """A token as the Graph API shows it (times in seconds), as in
        https://developers.facebook.com/documentation/business-messaging/messenger-platform/marketing-messages-on-messenger/get-subscription-tokens"""
        person = self.people[token.psid]
        created = token.created_ms // 1000
        next_eligible = (
            int(person.last_marketing_ms / 1000 + self.config.cooldown_seconds)
            if person.last_marketing_ms
            else created
        )
        return {
            "notification_messages_token": token.token,
            "recipient_id": token.psid,
            "notification_messages_reoptin": "ENABLED",
            "creation_timestamp": created,
            "user_token_status": "REFRESHED" if token.refreshed else "NOT_REFRESHED",
            "topic_title": token.title,
            "notification_messages_timezone": token.timezone,
            "next_eligible_time": next_eligible,
        }

    def list_tokens(
        self, page: Page, params: Mapping[str, Any]
    ) -> tuple[list[dict], str | None, str | None, bool]:
        """One page of ``notification_message_tokens``: (data, before cursor, after cursor, has more)."""
        tokens = [token for token in self.tokens.values() if token.page_id == page.page_id]
        if str(params.get("do_not_return_duplicates", "")).lower() == "true":
            seen: set[str] = set()
            tokens = [token for token in tokens if not (token.psid in seen or seen.add(token.psid))]
        chunk, before, after, more = _page_of(tokens, params, default_limit=100)
        return [self.token_fields(token) for token in chunk], before, after, more

    def token_info(self, page: Page, value: str) -> dict[str, Any]:
        return self.token_fields(self._token(page, value))

    def create_campaign(self, ad_account_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /act_{id}/message_campaign``: needs a name, a Page and one budget, as in
        https://developers.facebook.com/documentation/business-messaging/messenger-platform/marketing-messages-on-messenger/send-messages"""
        if not params.get("name"):
            raise errors.param("The parameter name is required")
        page = self.pages.get(str(params.get("page_id")))
        if page is None:
            raise errors.param("Param page_id must be a Page of this business")
        budgets = [key for key in ("daily_budget", "lifetime_budget") if params.get(key)]
        if len(budgets) != 1:
            raise errors.param("Exactly one of daily_budget or lifetime_budget is required")
        campaign_id = new_digits(17, self.campaigns)
        self.campaigns[campaign_id] = Campaign(campaign_id, ad_account_id, page.page_id, str(params["name"]))
        return {"id": campaign_id}

    def send_marketing(self, page: Page, ad_account_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /act_{id}/messages``: the paid API; same token store, cooldown and content rules."""
        delivery = params.get("messenger_delivery_data")
        if not isinstance(delivery, dict) or not delivery.get("subscription_token"):
            raise errors.param("The parameter messenger_delivery_data.subscription_token is required")
        token = self.tokens.get(str(delivery["subscription_token"]))
        if token is None:
            raise errors.invalid_subscription_token()
        if token.page_id != page.page_id:
            raise errors.page_mismatch()
        if params.get("campaign_id"):
            campaign = self.campaigns.get(str(params["campaign_id"]))
            if campaign is None or campaign.ad_account_id != ad_account_id:
                raise errors.inactive_campaign()
            if campaign.page_id != page.page_id:
                raise errors.page_mismatch()
        content = self._content(page, params.get("message"))
        if content.optin is not None:
            raise errors.param("Opt-in requests cannot be sent as marketing messages")
        window, now = self._window(page, content.media)
        person = self._token_person(token)
        item = self._deliver(page, person, content, token, "marketing")
        window.record(now)
        return {"message_id": item["mid"]}

    def count_send(self, error: errors.GraphError | None) -> None:
        if error is None:
            self.accepted += 1
        else:
            self.rejected[error.key] += 1

    # ------------------------------------------------------------------ the people's side (control)

    def _emit(self, page_id: str, field_name: str, event: dict[str, Any], delay: float = 0.0) -> None:
        """Hand an event to the sink if the Page's app subscribed to its webhook field."""
        if field_name in self.pages[page_id].subscribed_fields:
            self.sink(page_id, event, delay)

    @staticmethod
    def _from_person(person: Person, stamp: int | None, key: str, value: dict[str, Any]) -> dict[str, Any]:
        event: dict[str, Any] = {"sender": {"id": person.psid}, "recipient": {"id": person.page_id}}
        if stamp is not None:
            event["timestamp"] = stamp
        event[key] = value
        return event

    @staticmethod
    def _from_page(person: Person, stamp: int, key: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "sender": {"id": person.page_id},
            "recipient": {"id": person.psid},
            "timestamp": stamp,
            key: value,
        }

    def _active(self, psid: str) -> Person:
        """A person who may act (people who blocked the Page must unblock it first)."""
        person = self.person(psid)
        if person.blocked:
            raise ControlError(f"{person.name} has blocked the Page; unblock first", 409)
        return person

    def _user_says(
        self,
        person: Person,
        field_name: str,
        key: str,
        value: dict,
        item: dict,
        opens_window: bool,
    ) -> dict[str, Any]:
        """A person's action: add it to the thread, maybe open the 24 h window, emit its webhook."""
        stamp = now_ms()
        if opens_window:
            person.last_interaction_ms = stamp
        person.thread.append(
            {"mid": value.get("mid") or new_mid(), "direction": "user", "timestamp": stamp, **item}
        )
        event = self._from_person(person, stamp, key, value)
        self._emit(person.page_id, field_name, event)
        return event

    def open_link(self, psid: str, ref: str | None = None) -> dict[str, Any]:
        """The person opens ``m.me/<page>?ref=``: Get Started on first contact, else a referral."""
        person = self._active(psid)
        referral = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"} if ref else None
        if not person.contacted:
            person.contacted = True
            postback: dict[str, Any] = {
                "mid": new_mid(),
                "title": "Get Started",
                "payload": GET_STARTED_PAYLOAD,
            }
            if referral:
                postback["referral"] = referral
            item = {"type": "postback", "text": "Get Started", "payload": GET_STARTED_PAYLOAD, "ref": ref}
            return {
                "webhooks": [self._user_says(person, "messaging_postbacks", "postback", postback, item, True)]
            }
        if referral is None:
            return {"webhooks": []}
        item = {"type": "referral", "text": f"Opened the link (ref={ref})", "ref": ref}
        return {
            "webhooks": [self._user_says(person, "messaging_referrals", "referral", referral, item, True)]
        }

    def _card(self, person: Person, mid: str | None) -> dict[str, Any]:
        """The opt-in card ``mid``, or the latest pending one."""
        for item in reversed(person.thread):
            if item["type"] == "optin" and (
                item["mid"] == mid or (mid is None and item["optin"]["state"] == "pending")
            ):
                if item["optin"]["state"] != "pending":
                    raise ControlError(
                        f"The opt-in card {item['mid']} is already {item['optin']['state']}", 409
                    )
                return item
        raise ControlError("No pending opt-in card" if mid is None else f"No opt-in card {mid}", 404)

    def accept_optin(self, psid: str, mid: str | None = None) -> dict[str, Any]:
        """Tap the card's button: a token for (person, title), new or refreshed, via ``messaging_optins``."""
        person = self._active(psid)
        card = self._card(person, mid)["optin"]
        token = next((self.tokens[t] for t in person.tokens if self.tokens[t].title == card["title"]), None)
        if token is None:
            value = new_digits(19, self.tokens)
            token = Token(
                value, person.page_id, person.psid, card["title"], card["payload"], card["timezone"], now_ms()
            )
            self.tokens[value] = token
            person.tokens.append(value)
        else:
            token.refreshed, token.stopped = True, False
            token.payload, token.timezone = card["payload"], card["timezone"]
        card.update(state="accepted", token=token.token)
        optin = {
            "type": "notification_messages",
            "payload": card["payload"],
            "notification_messages_token": token.token,
            "notification_messages_timezone": token.timezone,
            "title": token.title,
            "user_token_status": "REFRESHED" if token.refreshed else "NOT_REFRESHED",
        }
        item = {"type": "optin_accepted", "text": f"Subscribed to {token.title}"}
        event = self._user_says(person, "messaging_optins", "optin", optin, item, False)
        return {"token": token.token, "webhooks": [event]}

    def decline_optin(self, psid: str, mid: str | None = None) -> dict[str, Any]:
        """The card's "Not now": it closes, and Meta tells the Page nothing."""
        person = self._active(psid)
        card = self._card(person, mid)
        card["optin"]["state"] = "declined"
        return {"message_id": card["mid"], "webhooks": []}

    def send_text(self, psid: str, text: str, quick_reply_payload: str | None = None) -> dict[str, Any]:
        if not isinstance(text, str) or not text:
            raise ControlError("text is required")
        person = self._active(psid)
        message: dict[str, Any] = {"mid": new_mid(), "text": text}
        if quick_reply_payload:
            message["quick_reply"] = {"payload": quick_reply_payload}
        item = {"type": "text", "text": text, "quick_reply_payload": quick_reply_payload}
        event = self._user_says(person, "messages", "message", message, item, True)
        return {"mid": message["mid"], "webhooks": [event]}

    def tap(self, psid: str, payload: str, title: str | None = None) -> dict[str, Any]:
        """Tap a quick reply (a ``messages`` event) or a postback button (``messaging_postbacks``).

        The latest page message offering ``payload`` decides which; unknown payloads tap a postback.
        """
        if not payload:
            raise ControlError("payload is required")
        person = self._active(psid)
        kind, button = self._find_tap(person, payload)
        title = title or button.get("title") or payload
        if kind == "quick_reply":
            return self.send_text(psid, title, payload)
        postback = {"mid": new_mid(), "title": title, "payload": payload}
        item = {"type": "postback", "text": title, "payload": payload}
        return {
            "webhooks": [self._user_says(person, "messaging_postbacks", "postback", postback, item, True)]
        }

    @staticmethod
    def _find_tap(person: Person, payload: str) -> tuple[str, dict[str, Any]]:
        for item in reversed(person.thread):
            if item["direction"] != "page":
                continue
            for reply in item.get("quick_replies", ()):
                if reply.get("payload") == payload:
                    return "quick_reply", reply
            buttons = [*item.get("buttons", ()), *(b for e in item.get("elements", ()) for b in e["buttons"])]
            for button in buttons:
                if button["type"] == "postback" and button["payload"] == payload:
                    return "postback", button
        return "postback", {}

    def set_notifications(self, psid: str, stop: bool, title: str | None = None) -> dict[str, Any]:
        """Meta's own "Stop/Resume messages" control for one topic (``title``) or all of them."""
        person = self._active(psid)
        status = "STOP_NOTIFICATIONS" if stop else "RESUME_NOTIFICATIONS"
        changed = [
            token
            for token in map(self.tokens.__getitem__, person.tokens)
            if token.stopped != stop and (title is None or token.title == title)
        ]
        events = []
        for token in changed:
            token.stopped = stop
            optin = {
                "type": "notification_messages",
                "notification_messages_token": token.token,
                "notification_messages_status": status,
                "notification_messages_timezone": token.timezone,
                "title": token.title,
                "payload": token.payload,
            }
            text = f"{'Stopped' if stop else 'Resumed'} messages about {token.title}"
            item = {"type": "notifications", "text": text, "status": status}
            events.append(self._user_says(person, "messaging_optins", "optin", optin, item, False))
        return {"tokens": [token.token for token in changed], "webhooks": events}

    def read(self, psid: str) -> dict[str, Any]:
        """The person reads the thread: a ``message_reads`` webhook if anything was unread."""
        person = self._active(psid)
        last = max((item["timestamp"] for item in person.thread if item["direction"] == "page"), default=None)
        if last is None or last < person.read_watermark:
            return {"watermark": person.read_watermark, "webhooks": []}
        stamp = now_ms()
        watermark = max(stamp, last + 1)
        person.read_watermark = watermark
        person.delivered_watermark = max(person.delivered_watermark, watermark)
        event = self._from_person(person, stamp, "read", {"watermark": watermark})
        self._emit(person.page_id, "message_reads", event)
        return {"watermark": watermark, "webhooks": [event]}

    def set_blocked(self, psid: str, blocked: bool) -> dict[str, Any]:
        """Block or unblock the Page. Meta sends no webhook for either."""
        person = self.person(psid)
        person.blocked = blocked
        return {"blocked": blocked, "webhooks": []}

    # ------------------------------------------------------------------------------------- views

    def page_view(self, page: Page) -> dict[str, Any]:
        return asdict(page)

    def person_view(self, person: Person, full: bool = False) -> dict[str, Any]:
        window_end = person.last_interaction_ms + int(self.config.window_seconds * 1000)
        cooldown_end = person.last_marketing_ms + int(self.config.cooldown_seconds * 1000)
        view: dict[str, Any] = {
            "psid": person.psid,
            "page_id": person.page_id,
            "page_name": self.pages[person.page_id].name,
            "name": person.name,
            "contacted": person.contacted,
            "blocked": person.blocked,
            "window_open": self.window_open(person),
            "window_expires_at": window_end if person.last_interaction_ms else None,
            "last_marketing_at": person.last_marketing_ms or None,
            "next_eligible_at": cooldown_end if person.last_marketing_ms else None,
            "delivered_watermark": person.delivered_watermark,
            "read_watermark": person.read_watermark,
        }
        if full:
            view["thread"] = [self._item_view(person, item) for item in person.thread]
            view["tokens"] = [
                {
                    **self.token_fields(self.tokens[t]),
                    "payload": self.tokens[t].payload,
                    "stopped": self.tokens[t].stopped,
                }
                for t in person.tokens
            ]
        return view

    @staticmethod
    def _item_view(person: Person, item: dict[str, Any]) -> dict[str, Any]:
        if item["direction"] != "page":
            return item
        stamp = item["timestamp"]
        status = (
            "read"
            if stamp < person.read_watermark
            else "delivered"
            if stamp < person.delivered_watermark
            else "sent"
        )
        return {**item, "status": status}

    def messages(self, page_id: str | None = None, psid: str | None = None) -> list[dict[str, Any]]:
        """Every accepted send, oldest first (for no-double-send assertions)."""
        return [
            {
                "page_id": self.people[owner].page_id,
                "psid": owner,
                **self._item_view(self.people[owner], item),
            }
            for owner, item in self.sent
            if (psid is None or owner == psid) and (page_id is None or self.people[owner].page_id == page_id)
        ]

    def stats(self) -> dict[str, Any]:
        return {
            "send": {"accepted": self.accepted, "rejected": dict(self.rejected)},
            "cooldown_skips": self.rejected.get("4/2018354", 0),
            "pages": {
                page_id: {"max_calls_per_second": {"text": rates.text.peak, "media": rates.media.peak}}
                for page_id, rates in self._rates.items()
            },
        }

    # ------------------------------------------------------------------------------- persistence

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
            "users": [asdict(user) for user in self.users.values()],
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
        self.users = {user["user_id"]: User(**user) for user in data.get("users", [])}
        self.revoked = set(data.get("revoked", []))
        items = {item["mid"]: item for person in self.people.values() for item in person.thread}
        self.sent = [(psid, items[mid]) for psid, mid in data.get("sent", []) if mid in items]


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode()


def _page_of(
    rows: list, params: Mapping[str, Any], default_limit: int
) -> tuple[list, str | None, str | None, bool]:
    """Cursor paging as Graph does it: (rows of this page, before cursor, after cursor, has more)."""
    try:
        limit = int(params.get("limit", default_limit))
        start = int(base64.urlsafe_b64decode(params["after"]).decode()) + 1 if params.get("after") else 0
    except (ValueError, TypeError):
        raise errors.param("Params limit and after must be a number and a cursor") from None
    if not 1 <= limit <= 1000:
        raise errors.param("Param limit must be between 1 and 1000")
    chunk = rows[start : start + limit]
    if not chunk:
        return [], None, None, False
    return chunk, _cursor(start), _cursor(start + len(chunk) - 1), start + len(chunk) < len(rows)
