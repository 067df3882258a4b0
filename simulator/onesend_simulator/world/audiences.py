"""Marketing Messages Custom Audiences: a business uploads its customers' hashed e-mails and
phones, Meta matches them to people on Messenger in the background and gives the matched people
subscription tokens (Grow your Audience for Marketing Message API for Messenger, "Custom
Audience", cited below as Grow; Customer File Custom Audiences for the payload rules).

Matching is asynchronous at Meta ("up to 24 hours"): here each upload is matched at once, but
the tokens it makes are listed, and the ``marketing_messages_subscriber_upload_status`` webhook
sent, only ``audience_match_seconds`` later.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from .. import errors
from ..errors import ControlError
from ..messages import DEFAULT_OPTIN_TITLE
from ..model import Audience, Page, Person, Token, new_digits, now_ms
from .base import WorldState

#: Grow, step 1: every parameter of ``POST act_/customaudiences`` is required, with these values.
AUDIENCE_BODY = {
    "subtype": "CUSTOM",
    "customer_file_source": "USER_PROVIDED_ONLY",
    "use_for_products": ["MARKETING_MESSAGES"],
    "subscription_info": ["MESSENGER"],
}
#: Grow, step 2: the payload's schema keys; every row needs EMAIL or PHONE.
SCHEMA_KEYS = frozenset({"EMAIL", "PHONE", "FN", "LN"})
#: Grow: "only up to 10000 at a time".
MAX_ROWS = 10_000
#: A SHA-256 digest as Customer File Custom Audiences wants it: lowercase hex.
SHA256 = re.compile(r"[0-9a-f]{64}")
#: Invalid values echoed back in ``invalid_entry_samples``.
MAX_SAMPLES = 5


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def email_hash(email: str) -> str:
    """Customer File Custom Audiences: trim, lowercase, then hash."""
    return sha256(email.strip().lower())


def phone_hash(phone: str) -> str:
    """Grow: remove symbols, letters and leading zeroes (``(+84) 091-2345678`` → ``84912345678``)."""
    return sha256(re.sub(r"\D", "", phone).lstrip("0"))


class AudiencesMixin(WorldState):
    """Custom Audiences and their uploads (a part of ``World``)."""

    def create_audience(self, ad_account_id: str, page: Page, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST act_{id}/customaudiences`` (Grow, step 1); answered as Grow shows it,
        ``{"data": [{"id"}]}``."""
        for key, value in AUDIENCE_BODY.items():
            if params.get(key) != value:
                raise errors.param(f"Param {key} must be {value!r} for a Marketing Messages audience")
        for key in ("name", "description"):
            if not isinstance(params.get(key), str) or not params[key]:
                raise errors.param(f"The parameter {key} is required")
        if params.get("marketing_message_channels") != {"MESSENGER": page.page_id}:
            raise errors.param('Param marketing_message_channels must be {"MESSENGER": "<PAGE_ID>"}')
        while (audience_id := "238" + new_digits(14, {})) in self.audiences:
            pass
        self.audiences[audience_id] = Audience(
            audience_id, ad_account_id, page.page_id, params["name"], params["description"], now_ms()
        )
        return {"data": [{"id": audience_id}]}

    def list_audiences(self, ad_account_id: str) -> dict[str, Any]:
        """``GET act_{id}/customaudiences`` with ``fields=id,name,messenger_marketing_messages_page``
        (Grow, step 5): the ad account's Marketing Messages audiences."""
        data = [
            {"id": a.audience_id, "name": a.name, "messenger_marketing_messages_page": {"id": a.page_id}}
            for a in self.audiences.values()
            if a.ad_account_id == ad_account_id
        ]
        return {"data": data}

    def audience_users(self, audience: Audience, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST`` (add) or ``DELETE`` (remove) ``/{audience_id}/users`` (Grow, steps 2 and 3).
        Each row is kept as received; a row with a value that is not a SHA-256 hex digest, or
        without EMAIL and PHONE, is invalid (counted, sampled, not matched). Removal takes the
        people out of the audience only: they keep their opt-in (changelog 2026-05-05)."""
        schema, rows = _payload(params.get("payload"))
        session = _session(params.get("session"))
        audience.schema = schema
        audience.received.extend(rows)
        valid, samples = [], {}
        for row in rows:
            values = dict(zip(schema, row, strict=True))
            bad = [v for v in values.values() if v and not SHA256.fullmatch(v)]
            if bad or not (values.get("EMAIL") or values.get("PHONE")):
                for value in bad[: MAX_SAMPLES - len(samples)]:
                    samples[value] = "not a SHA-256 hash"
                continue
            valid.append(values)
        invalid = len(rows) - len(valid)
        people = self._matching(audience.page_id, valid)
        if method == "DELETE":
            audience.removed += self._remove(audience, people)
        else:
            audience.invalid += invalid
            self._match(audience, people, len(rows))
        answer = {
            "audience_id": audience.audience_id,
            "num_received": len(rows),
            "num_invalid_entries": invalid,
            "invalid_entry_samples": samples,
        }
        if session is not None or method == "DELETE":
            answer["session_id"] = session or int(new_digits(15, {}))
        return answer

    def _matching(self, page_id: str, rows: list[dict[str, str]]) -> list[Person]:
        """The people of the Page whose e-mail or phone hashes are in ``rows``, once each."""
        wanted = {row.get(key) for row in rows for key in ("EMAIL", "PHONE")} - {None, ""}
        found = []
        for person in self.people.values():
            if person.page_id != page_id:
                continue
            hashes = {email_hash(person.email) if person.email else None}
            hashes.add(phone_hash(person.phone) if person.phone else None)
            if hashes & wanted:
                found.append(person)
        return found

    def _match(self, audience: Audience, people: list[Person], rows: int) -> None:
        """The matched people get a subscription token (one per Page: an existing one is reused)
        listed from ``audience_match_seconds`` on; then the upload-status webhook (Grow, step 4;
        its body as Send Messages shows it)."""
        delay = self.config.audience_match_seconds
        listed_from = now_ms() + int(delay * 1000)
        for person in people:
            token = next((self.tokens[t] for t in person.tokens), None)
            if token is None:
                value = new_digits(19, self.tokens)
                token = Token(
                    value, person.page_id, person.psid, DEFAULT_OPTIN_TITLE, "-", "UTC", listed_from
                )
                token.from_audience = True
                self.tokens[value] = token
                person.tokens.append(value)
            if audience.audience_id not in token.custom_audience_ids:
                token.custom_audience_ids.append(audience.audience_id)
            if person.psid not in audience.matched:
                audience.matched.append(person.psid)
        page = self.pages[audience.page_id]
        status = {
            "app_id": int(page.app_id),
            "page_id": int(page.page_id),
            "custom_audience_id": int(audience.audience_id),
            "ad_account_id": int(audience.ad_account_id),
            "timestamp": listed_from,
            "num_rows": rows,
            "business_id": int(page.app_id) + 1,
            # Meta gives a range, not the count; the simulator's range is exact.
            "approximate_count_lower_bound": len(people),
            "approximate_count_upper_bound": len(people),
            "batch_uploading_status": "SUCCESS",
        }
        self._emit_paid(page.page_id, "marketing_messages_subscriber_upload_status", status, delay)  # type: ignore[attr-defined]

    def _remove(self, audience: Audience, people: list[Person]) -> int:
        """Take people out of the audience; their tokens stay (changelog 2026-05-05)."""
        removed = 0
        for person in people:
            if person.psid in audience.matched:
                audience.matched.remove(person.psid)
                removed += 1
            for token in (self.tokens[t] for t in person.tokens):
                if audience.audience_id in token.custom_audience_ids:
                    token.custom_audience_ids.remove(audience.audience_id)
        return removed

    def audience_of(self, audience_id: str) -> Audience:
        audience = self.audiences.get(audience_id)
        if audience is None:
            raise errors.no_object(audience_id, "get")
        return audience

    def people_by_contact(self, page_id: str, row: Mapping[str, Any]) -> list[Person]:
        """The Page's people an Unsubscribe API row names by ``email`` and/or ``phone``: raw (an
        E.164 phone, a lowercase e-mail) or SHA-256 hashed (Grow, "Unsubscribe API")."""

        def same(given: Any, raw: str | None, hashed) -> bool:
            return raw is not None and isinstance(given, str) and given in (raw, hashed(raw))

        return [
            person
            for person in self.people.values()
            if person.page_id == page_id
            and ("email" not in row or same(row["email"], person.email, email_hash))
            and ("phone" not in row or same(row["phone"], person.phone, phone_hash))
        ]

    def audience_view(self, audience: Audience, rows: bool = False) -> dict[str, Any]:
        view = {
            "audience_id": audience.audience_id,
            "ad_account_id": audience.ad_account_id,
            "page_id": audience.page_id,
            "name": audience.name,
            "schema": audience.schema,
            "rows_received": len(audience.received),
            "invalid_rows": audience.invalid,
            "matched": len(audience.matched),
            "removed": audience.removed,
        }
        if rows:
            view["received"] = audience.received
        return view

    def set_contacts(self, people: list[Person], contacts: Any) -> None:
        """Give people the e-mail and phone they hold at Meta (control API, one per person)."""
        if not isinstance(contacts, list) or len(contacts) != len(people):
            raise ControlError(f"contacts must give each of the {len(people)} people an object")
        for person, contact in zip(people, contacts, strict=True):
            if not isinstance(contact, dict) or not set(contact) <= {"email", "phone"}:
                raise ControlError('each contact is {"email": ..., "phone": ...} (either may be left out)')
            person.email, person.phone = contact.get("email"), contact.get("phone")


def _payload(payload: Any) -> tuple[list[str], list[list[str]]]:
    """``{"schema": [...], "data": [[...], ...]}``, checked as Grow's step 2 asks."""
    if not isinstance(payload, dict):
        raise errors.param("The parameter payload is required")
    schema, rows = payload.get("schema"), payload.get("data")
    if not isinstance(schema, list) or not schema or not set(schema) <= SCHEMA_KEYS:
        raise errors.param(f"Param payload[schema] must list keys of {', '.join(sorted(SCHEMA_KEYS))}")
    if not {"EMAIL", "PHONE"} & set(schema):
        raise errors.param("Param payload[schema] must include EMAIL or PHONE")
    if not isinstance(rows, list) or not rows:
        raise errors.param("Param payload[data] must be a non-empty array of rows")
    if len(rows) > MAX_ROWS:
        raise errors.param(f"Too many rows in payload[data]: up to {MAX_ROWS} at a time")
    for row in rows:
        if not isinstance(row, list) or len(row) != len(schema) or not all(isinstance(v, str) for v in row):
            raise errors.param("Each row of payload[data] must have one string per schema key")
    return schema, rows


def _session(session: Any) -> int | None:
    """Customer File Custom Audiences: batches of one upload share a ``session`` with its
    ``session_id``, ``batch_seq`` (from 1), ``last_batch_flag`` and ``estimated_num_total``."""
    if session is None:
        return None
    if (
        not isinstance(session, dict)
        or not isinstance(session.get("session_id"), int)
        or not isinstance(session.get("batch_seq"), int)
        or session["batch_seq"] < 1
        or not isinstance(session.get("last_batch_flag"), bool)
    ):
        raise errors.param("Param session needs session_id, batch_seq (from 1) and last_batch_flag")
    return session["session_id"]
