"""The Page's Get Started button, which onesend makes sure of when a Page is connected and at
every connection check (the health panel's Re-check).

A person new to a Page who opens its ``m.me/<page>?ref=...`` link sees the Page's welcome screen;
the app hears of them only when they tap its Get Started button, and the ``ref`` then arrives in
``messaging_postbacks.referral``. A Page without the button never tells the app about that click,
so the subscribe link silently does nothing for every new visitor. Existing threads send
``messaging_referrals`` instead. (Messenger Profile API, Get Started button:
https://developers.facebook.com/docs/messenger-platform/reference/messenger-profile-api/get-started-button;
reference meta-messenger.md, corrections 2026-12-05.)
"""

from __future__ import annotations

from ..messenger.errors import GraphError
from ..meta import client_for
from ..models import MessengerPage


def ensure(page: MessengerPage) -> tuple[bool, str]:
    """Give the Page a Get Started button unless it has one: (whether it has one now, Meta's
    error). It asks first: Meta allows 10 Messenger Profile calls per Page per 10 minutes, so a
    check of a Page that has one costs one call, and a button another tool set is kept (the
    inbox reads the ``referral`` of any postback, whatever its payload)."""
    client = client_for(page)
    try:
        if client.get_started() is None:
            client.set_get_started()
    except GraphError as exc:
        return False, str(exc)
    return True, ""
