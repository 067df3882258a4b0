"""People and their threads: created one by one or in bulk, and what they do (open a link,
accept or decline an opt-in, write, tap, stop or resume notifications, read, block), each action
added to the thread and sent as the webhook Meta sends.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..errors import ControlError
from ..messages import CTA_LABELS, DEFAULT_OPTIN_TITLE, OPTIN_TITLE_LIMIT
from ..model import (
    Page,
    Person,
    Token,
    new_digits,
    new_mid,
    now_ms,
)
from .base import WorldState, country_code

GET_STARTED_PAYLOAD = "GET_STARTED"
#: People one ``POST /_sim/people/bulk`` may create (a benchmark's audience, in seconds).
MAX_BULK_PEOPLE = 1_000_000


class PeopleMixin(WorldState):
    """People, their threads and their actions (a part of ``World``)."""

    def add_person(self, page_id: str, name: str | None = None, country: Any = "") -> Person:
        page = self.page(page_id)
        psid = new_digits(16, self.people)
        person = Person(psid=psid, page_id=page.page_id, name=name or f"Person {len(self.people) + 1}")
        person.country = country_code(country)
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
        at_ms: Any = None,
        names: Any = None,
        country: Any = "",
    ) -> list[dict[str, str | None]]:
        """``count`` people who opened the Page's thread (Get Started, 24 h window open) and, when
        ``subscribed``, were sent the opt-in request for ``title`` and accepted it: the end state of
        ``open_link`` + opt-in send + ``accept_optin``, without the webhooks, the send log or the
        rate windows (set-up, not traffic). ``at_ms`` (default now) dates it all, e.g. tokens a
        Page got long ago through another app, which ``notification_message_tokens`` lists with
        that ``creation_timestamp``. ``names`` (one per person, default "Person <n>") are what the
        simulator's pages show; ``country`` is where Meta places them. Returns ``[{"psid",
        "token"}]`` in creation order."""
        page = self.page(page_id)
        title = _bulk_title(count, subscribed, title, timezone)
        payload = str(payload)
        if at_ms is not None and (isinstance(at_ms, bool) or not isinstance(at_ms, int) or at_ms <= 0):
            raise ControlError("at_ms must be a positive timestamp in milliseconds")
        now, first = at_ms or now_ms(), len(self.people) + 1
        names = _bulk_names(count, names) or [f"Person {number}" for number in range(first, first + count)]
        created = []
        for name in names:
            person = self._opened_thread(page, name, now)
            person.country = country_code(country)
            value = self._subscribed_in_bulk(person, title, payload, timezone, now) if subscribed else None
            created.append({"psid": person.psid, "token": value})
        return created

    def drop_tokens(self, page_id: str, count: Any = None, tokens: Any = None) -> list[str]:
        """Tokens Meta no longer holds: the Page's first ``count`` in listing order, or the
        ``tokens`` named. Meta: tokens "do not expire unless the subscriber opts out" (FAQs for the
        Marketing Message API for Messenger); here the opt-out sends the app no webhook, as when a
        person leaves Messenger. ``notification_message_tokens`` no longer lists them, and
        sending to one is refused as an invalid token. Returns the tokens dropped."""
        page = self.page(page_id)
        if tokens is None:
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ControlError("count (or tokens) is required: a number of tokens to drop")
            tokens = [t.token for t in self.tokens.values() if t.page_id == page.page_id][:count]
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ControlError("tokens must be a list of token strings")
        dropped = [
            value for value in tokens if value in self.tokens and self.tokens[value].page_id == page_id
        ]
        for value in dropped:
            token = self.tokens.pop(value)
            self.people[token.psid].tokens.remove(value)
        return dropped

    def _opened_thread(self, page: Page, name: str, now: int) -> Person:
        """A new person who tapped Get Started ``now`` (as ``open_link``'s first contact leaves them)."""
        psid = new_digits(16, self.people)
        person = Person(
            psid=psid,
            page_id=page.page_id,
            name=name,
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
        self.people[psid] = person
        return person

    def _subscribed_in_bulk(self, person: Person, title: str, payload: str, timezone: str, now: int) -> str:
        """The person was sent the opt-in request for ``title`` and accepted it ``now``: their token."""
        value = new_digits(19, self.tokens)
        self.tokens[value] = Token(value, person.page_id, person.psid, title, payload, timezone, now)
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
        page_item = {"mid": new_mid(), "direction": "page", "timestamp": now, "via": "psid"}
        person.thread.append({**page_item, "type": "optin", "optin": optin})
        person.thread.append(
            {
                "mid": new_mid(),
                "direction": "user",
                "timestamp": now,
                "type": "optin_accepted",
                "text": f"Subscribed to {title}",
            }
        )
        return value

    def profile(self, page: Page, psid: str, fields: Any, root: str) -> dict[str, Any]:
        """The User Profile API: ``GET /<PSID>?fields=first_name,last_name,profile_pic`` with the
        Page's token gives the person's public profile (Meta's Messenger Platform page "User
        Profile API", Identity). Their name is split at the first space; the picture is served by
        the simulator (``/_sim/people/<psid>/picture``). A PSID of another Page is no object."""
        person = self.people.get(str(psid))
        if person is None or person.page_id != page.page_id:
            raise errors.no_object(str(psid), "GET")
        first, _, last = person.name.partition(" ")
        host = root.rsplit("/", 1)[0]
        known = {"first_name": first, "last_name": last, "profile_pic": f"{host}/_sim/people/{psid}/picture"}
        wanted = [name.strip() for name in str(fields or ",".join(known)).split(",") if name.strip()]
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise errors.param(f"Tried accessing nonexisting field ({unknown[0]})")
        return {"id": person.psid, **{name: known[name] for name in wanted}}

    def person(self, psid: str) -> Person:
        person = self.people.get(str(psid))
        if person is None:
            raise ControlError(f"No person {psid}", 404)
        return person

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
        if opens_window:  # they wrote, tapped or opened a link: their thread exists
            person.last_interaction_ms, person.contacted = stamp, True
        person.thread.append(
            {"mid": value.get("mid") or new_mid(), "direction": "user", "timestamp": stamp, **item}
        )
        event = self._from_person(person, stamp, key, value)
        self._emit(person.page_id, field_name, event)
        return event

    def open_link(self, psid: str, ref: str | None = None, tap_get_started: bool = True) -> dict[str, Any]:
        """The person opens ``m.me/<page>?ref=``. In an existing thread: ``messaging_referrals``
        (without a ref there is nothing to tell). A new thread shows the Page's welcome screen, and
        Meta tells the app nothing until the person taps its Get Started button
        (:meth:`get_started`); a Page without one never tells it (m.me links:
        https://developers.facebook.com/docs/messenger-platform/discovery/m-me-links; reference
        meta-messenger.md, corrections 2026-12-05). Scripts tap it at once (``tap_get_started``);
        the thread page shows it for the person to tap."""
        person = self._active(psid)
        if not person.contacted:
            person.opened_ref = ref
            if tap_get_started and self.pages[person.page_id].get_started:
                return self.get_started(psid)
            return {"webhooks": []}
        if ref is None:
            return {"webhooks": []}
        referral = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
        item = {"type": "referral", "text": f"Opened the link (ref={ref})", "ref": ref}
        return {
            "webhooks": [self._user_says(person, "messaging_referrals", "referral", referral, item, True)]
        }

    def get_started(self, psid: str) -> dict[str, Any]:
        """Tap Get Started on a new thread's welcome screen: ``messaging_postbacks`` with the
        button's payload and, when a link opened the thread, its ``referral`` (Get Started button:
        https://developers.facebook.com/docs/messenger-platform/reference/messenger-profile-api/get-started-button)."""
        person = self._active(psid)
        payload = self.pages[person.page_id].get_started
        if person.contacted or payload is None:
            raise ControlError(f"{person.name}'s thread shows no Get Started button", 409)
        ref, person.opened_ref = person.opened_ref, None
        postback: dict[str, Any] = {"mid": new_mid(), "title": "Get Started", "payload": payload}
        if ref:
            postback["referral"] = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
        item = {"type": "postback", "text": "Get Started", "payload": payload, "ref": ref}
        return {
            "webhooks": [self._user_says(person, "messaging_postbacks", "postback", postback, item, True)]
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
        token.optin_ms, token.followups = now_ms(), 0  # its follow-ups may go now (``_is_followup``)
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
        paid = self.read_paid(person)
        last = max((item["timestamp"] for item in person.thread if item["direction"] == "page"), default=None)
        if last is None or last < person.read_watermark:
            return {"watermark": person.read_watermark, "webhooks": paid}
        stamp = now_ms()
        watermark = max(stamp, last + 1)
        person.read_watermark = watermark
        person.delivered_watermark = max(person.delivered_watermark, watermark)
        event = self._from_person(person, stamp, "read", {"watermark": watermark})
        self._emit(person.page_id, "message_reads", event)
        return {"watermark": watermark, "webhooks": [*paid, event]}

    def set_blocked(self, psid: str, blocked: bool) -> dict[str, Any]:
        """Block or unblock the Page. Meta sends no webhook for either."""
        person = self.person(psid)
        person.blocked = blocked
        return {"blocked": blocked, "webhooks": []}


def _bulk_title(count: Any, subscribed: Any, title: Any, timezone: Any) -> Any:
    """Check ``add_people_bulk``'s arguments; the opt-in title to use."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BULK_PEOPLE:
        raise ControlError(f"count must be an integer from 1 to {MAX_BULK_PEOPLE:,}")
    if not isinstance(subscribed, bool):
        raise ControlError("subscribed must be true or false")
    if not isinstance(timezone, str) or not timezone:
        raise ControlError("timezone must be a non-empty string")
    title = DEFAULT_OPTIN_TITLE if title is None else title
    if subscribed and (not isinstance(title, str) or not 0 < len(title) <= OPTIN_TITLE_LIMIT):
        raise ControlError(f"title (the opt-in topic) must be 1-{OPTIN_TITLE_LIMIT} characters")
    return title


def _bulk_names(count: int, names: Any) -> list[str] | None:
    """Check ``add_people_bulk``'s ``names``: None, or one non-empty string per person."""
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(name, str) and name for name in names):
        raise ControlError("names must be a list of non-empty strings")
    if len(names) != count:
        raise ControlError(f"names must name each of the {count} people ({len(names)} given)")
    return names
