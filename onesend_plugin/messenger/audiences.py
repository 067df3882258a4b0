"""Marketing Messages Custom Audiences on the wire: customers' contacts normalised and hashed,
the bodies of the audience calls, their answers, and the client calls themselves
(:class:`AudienceCalls`, a part of :class:`~.client.GraphClient`).

Meta's rules (Grow your Audience for Marketing Message API for Messenger, "Custom Audience";
reference ``meta-paid-marketing-api.md`` §7.1, and Customer File Custom Audiences for the
normalisation): an audience is made for one Page, its users are uploaded as rows of the schema
``EMAIL, PHONE, FN, LN``, every value SHA-256 hashed, each row with an e-mail or a phone, at most
10 000 rows a request, the requests of one upload tied by a ``session``. Matching takes up to
24 h and ends with the ``marketing_messages_subscriber_upload_status`` webhook.

A contact leaves this process only hashed: :func:`hashed_row` is the one way to build a row, and
the calls take nothing else.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .http import GraphHttp

Row = TypeVar("Row")

#: Grow, step 2: the schema of every upload.
SCHEMA = ("EMAIL", "PHONE", "FN", "LN")
#: Grow: "an unlimited number of records ... but only up to 10000 at a time".
MAX_ROWS = 10_000
#: The most digits of an international phone number (E.164).
MAX_PHONE_DIGITS = 15
MIN_PHONE_DIGITS = 7
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

#: Why a customer's row is not uploaded (the keys the admin counts).
NO_CONTACT = "no_contact"
BAD_EMAIL = "bad_email"
BAD_PHONE = "bad_phone"


def sha256(value: str) -> str:
    """A lowercase hex SHA-256 digest, as Customer File Custom Audiences wants it."""
    return hashlib.sha256(value.encode()).hexdigest()


def normal_email(raw: str) -> str | None:
    """Customer File Custom Audiences: trim whitespace, lowercase. None when it is no e-mail."""
    email = raw.strip().lower()
    return email if _EMAIL.fullmatch(email) else None


def normal_phone(raw: str) -> str | None:
    """Grow: "remove symbols, letters and leading zeroes", the country code included (Customer
    File Custom Audiences prefixes it when no ``COUNTRY`` is given; we send none, so a number
    must be international: ``+`` or ``00`` first, as shops store them). None otherwise."""
    text = raw.strip()
    if not text.startswith(("+", "00", "(+")):
        return None
    digits = re.sub(r"\D", "", text).lstrip("0")
    return digits if MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS else None


def normal_name(raw: str) -> str:
    """Customer File Custom Audiences for FN and LN: lowercase, no punctuation or spaces."""
    return "".join(c for c in raw.lower() if unicodedata.category(c)[0] == "L")


def hashed_row(
    email: str = "", phone: str = "", first_name: str = "", last_name: str = ""
) -> list[str] | str:
    """One customer as an upload row of :data:`SCHEMA`, every given value normalised and hashed
    (an absent value stays empty); or why they cannot be uploaded (:data:`NO_CONTACT`,
    :data:`BAD_EMAIL`, :data:`BAD_PHONE`): every row needs an e-mail or a phone (Grow). A
    malformed e-mail or phone is reported rather than dropped, so the shop can fix it."""
    if not email.strip() and not phone.strip():
        return NO_CONTACT
    email_value = normal_email(email) if email.strip() else ""
    phone_value = normal_phone(phone) if phone.strip() else ""
    if email_value is None:
        return BAD_EMAIL
    if phone_value is None:
        return BAD_PHONE
    names = (normal_name(first_name), normal_name(last_name))
    return [sha256(value) if value else "" for value in (email_value, phone_value, *names)]


def batches(rows: Sequence[Row]) -> list[Sequence[Row]]:
    """``rows`` cut into the requests Meta takes: at most :data:`MAX_ROWS` each."""
    return [rows[start : start + MAX_ROWS] for start in range(0, len(rows), MAX_ROWS)]


def kept_hashes(row: Sequence[str]) -> tuple[str, str]:
    """The e-mail and phone hashes of a :func:`hashed_row`: what onesend keeps of an uploaded
    customer to take them out again (names are not kept)."""
    return row[SCHEMA.index("EMAIL")], row[SCHEMA.index("PHONE")]


def row_from_hashes(email_hash: str, phone_hash: str) -> list[str]:
    """A row of :data:`SCHEMA` from :func:`kept_hashes`: enough for Meta to find the person
    (every row needs an e-mail or a phone)."""
    row = [""] * len(SCHEMA)
    row[SCHEMA.index("EMAIL")], row[SCHEMA.index("PHONE")] = email_hash, phone_hash
    return row


def audience_body(*, page_id: str, name: str, description: str) -> dict[str, Any]:
    """``POST act_{id}/customaudiences`` (Grow, step 1; "all parameters are required")."""
    return {
        "subtype": "CUSTOM",
        "customer_file_source": "USER_PROVIDED_ONLY",
        "name": name,
        "description": description,
        "use_for_products": ["MARKETING_MESSAGES"],
        "subscription_info": ["MESSENGER"],
        "marketing_message_channels": {"MESSENGER": page_id},
    }


@dataclass(frozen=True)
class Session:
    """The batches of one upload (Customer File Custom Audiences, ``session``): Meta learns
    which requests belong together and which is the last."""

    session_id: int
    total: int

    @classmethod
    def new(cls, total: int) -> Session:
        return cls(secrets.randbits(62) + 1, total)

    def of_batch(self, seq: int, last: bool) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "batch_seq": seq,
            "last_batch_flag": last,
            "estimated_num_total": self.total,
        }


def users_body(rows: Sequence[Sequence[str]], session: dict[str, Any] | None = None) -> dict[str, Any]:
    """``POST``/``DELETE /{audience_id}/users`` (Grow, steps 2 and 3)."""
    if not 0 < len(rows) <= MAX_ROWS:
        raise ValueError(f"an upload takes 1 to {MAX_ROWS} rows, not {len(rows)}")
    body: dict[str, Any] = {"payload": {"schema": list(SCHEMA), "data": [list(row) for row in rows]}}
    if session is not None:
        body["session"] = session
    return body


def contact_rows(rows: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    """Hashed rows as rows of the Unsubscribe API (Grow, "Unsubscribe API": a phone, an email or
    both, SHA-256 hashed accepted); a row with neither is left out."""
    out = []
    for email, phone, *_ in rows:
        row = {key: value for key, value in (("phone", phone), ("email", email)) if value}
        if row:
            out.append(row)
    return out


@dataclass(frozen=True)
class UploadResult:
    """Meta's answer to an upload or a removal (Grow, step 2: ``num_received``,
    ``num_invalid_entries``, ``invalid_entry_samples``; a removal adds ``session_id``)."""

    received: int
    invalid: int
    session_id: str

    @classmethod
    def from_graph(cls, body: Any) -> UploadResult:
        data = body if isinstance(body, dict) else {}
        return cls(
            received=int(data.get("num_received") or 0),
            invalid=int(data.get("num_invalid_entries") or 0),
            session_id=str(data.get("session_id") or ""),
        )


def audience_id(body: Any) -> str:
    """The new audience's id: Grow shows ``{"data": [{"id"}]}``; Graph's usual ``{"id"}`` too."""
    data = body.get("data") if isinstance(body, dict) else None
    created = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else body
    value = created.get("id") if isinstance(created, dict) else None
    if not value:
        raise ValueError(f"Meta's answer names no audience: {body!r}")
    return str(value)


class AudienceCalls(GraphHttp):
    """The audience calls, with the business's system-user token (Grow's samples show it)."""

    def create_custom_audience(self, *, ad_account_id: str, page_id: str, name: str, description: str) -> str:
        """Make the Page's Marketing Messages audience; returns its id."""
        path = f"act_{ad_account_id.removeprefix('act_')}/customaudiences"
        body, _ = self._call(
            "POST", path, json_body=audience_body(page_id=page_id, name=name, description=description)
        )
        return audience_id(body)

    def add_audience_users(
        self, *, audience_id: str, rows: Sequence[Sequence[str]], session: dict[str, Any] | None = None
    ) -> UploadResult:
        """Upload one batch of :func:`hashed_row` rows (at most :data:`MAX_ROWS`)."""
        body, _ = self._call("POST", f"{audience_id}/users", json_body=users_body(rows, session))
        return UploadResult.from_graph(body)

    def remove_audience_users(self, *, audience_id: str, rows: Sequence[Sequence[str]]) -> UploadResult:
        """Take people out of the audience. Since 2026-05-05 they keep their opt-in (changelog):
        to stop their messages, :meth:`unsubscribe_contacts` too."""
        body, _ = self._call("DELETE", f"{audience_id}/users", json_body=users_body(rows))
        return UploadResult.from_graph(body)

    def unsubscribe_contacts(self, *, page_id: str, rows: Sequence[Sequence[str]]) -> int:
        """Unsubscribe people named by hashed e-mail and phone from the Page's marketing
        messages (Grow, "Unsubscribe API", with the Page token); Meta's ``invalid_rows_count``."""
        path = f"{page_id}/messaging_customer_base/unsubscribe"
        body, _ = self._call("POST", path, json_body={"data": contact_rows(rows)})
        return int(body.get("invalid_rows_count") or 0) if isinstance(body, dict) else 0
