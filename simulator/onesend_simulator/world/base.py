"""The state every part of ``World`` works on, and its reset."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import Any

from .. import errors
from ..config import Config
from ..errors import ControlError
from ..model import (
    AdAccount,
    App,
    Attachment,
    Audience,
    BusinessToken,
    Campaign,
    Grant,
    Page,
    PageRates,
    Person,
    Token,
    User,
)

# A webhook sink receives (page_id, event, extra delay in seconds, envelope key: "messaging" or
# "changes").
Sink = Callable[[str, dict[str, Any], float, str], None]


class WorldState:
    """All simulated state. ``reset()`` empties it and restores the start-up config; the mixins of
    ``World`` hold the rules."""

    def __init__(self, config: Config, sink: Sink | None = None) -> None:
        self.config = config
        self._initial_config = replace(config)
        self.sink: Sink = sink or (lambda page_id, event, delay, envelope: None)
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
        self.audiences: dict[str, Audience] = {}  # Custom Audiences by id
        self.users: dict[str, User] = {}
        self.apps: dict[str, App] = {}  # apps whose settings were changed through the control API
        self.codes: dict[str, Grant] = {}  # authorization code -> what the dialog granted
        self.user_tokens: dict[str, Grant] = {}  # user access token -> the grant it came from
        self.login_configs: dict[str, str] = {}  # Login for Business config_id -> its flow
        self.ad_accounts: dict[str, AdAccount] = {}  # by id without act_
        self.business_tokens: dict[str, BusinessToken] = {}  # Login for Business tokens
        self.revoked: set[str] = set()  # user and Page tokens revoked through the control API
        self.sent: list[tuple[str, dict[str, Any]]] = []  # (psid, thread item) of every accepted send
        self._rates: dict[str, PageRates] = {}
        self.accepted = 0
        self.rejected: Counter[str] = Counter()


def cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode()


def cursor_index(value: str) -> int:
    """The row index a ``cursor`` stands for."""
    return int(base64.urlsafe_b64decode(value).decode())


def page_of(
    rows: list, params: Mapping[str, Any], default_limit: int
) -> tuple[list, str | None, str | None, bool]:
    """Cursor paging as Graph does it: (rows of this page, before cursor, after cursor, has more)."""
    try:
        limit = int(params.get("limit", default_limit))
        start = cursor_index(params["after"]) + 1 if params.get("after") else 0
    except (ValueError, TypeError):
        raise errors.param("Params limit and after must be a number and a cursor") from None
    if not 1 <= limit <= 1000:
        raise errors.param("Param limit must be between 1 and 1000")
    chunk = rows[start : start + limit]
    if not chunk:
        return [], None, None, False
    return chunk, cursor(start), cursor(start + len(chunk) - 1), start + len(chunk) < len(rows)


def country_code(value: Any) -> str:
    """An ISO 3166 country code as the control API takes it (two letters, any case; empty: none)."""
    if not isinstance(value, str) or (value and not (len(value) == 2 and value.isalpha())):
        raise ControlError("a country is a two-letter ISO 3166 code")
    return value.upper()
