"""Why a person got no message, in the words every screen uses: the confirm step (who would be
skipped), the progress page and the reports (who was skipped or failed, and why).

The ledger and the counters keep the codes (``Delivery.reason``, ``skipped:<reason>``); people
read these words. A code without words here (a plugin's, or one added later) reads as itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext_lazy as _

WORDS = {
    # Nobody to send it through (``broadcast.routing``), known before sending.
    "no_token": _("Not in their 24 h window, and no marketing-message token"),
    "recipient_region": _(
        "Meta sends no paid messages to their region (EU, UK, Australia, Japan, South Korea)"
    ),
    "no_channel": _(
        "Outside their 24 h window; the business's region allows no legacy token and the Page has no "
        "paid channel set up"
    ),
    # Met when their turn came (``broadcast.sender``).
    "unsubscribed": _("Unsubscribed before their turn"),
    "expired": _("Not sent before the campaign's expiry time"),
    "quiet_hours": _("In their quiet hours until the campaign's expiry time"),
    "exited": _("An event that ends the flow happened first"),
    "vetoed": _("Held back by a plugin"),
    "cancelled": _("The campaign was cancelled"),
    "plugin_error": _("A plugin failed"),
    # What Meta answered (``messenger.errors``).
    "frequency_cap": _("Got a marketing message too recently"),
    "not_eligible_yet": _("Meta's paid messages reach a person once in 12 hours"),
    "meta_frequency_cap": _("Meta's frequency cap for this person is reached"),
    "recipient_unavailable": _("Meta won't deliver to them now"),
    "probably_already_delivered": _("Most likely reached by an earlier attempt"),
    "stopped": _("Stopped the subscription"),
    "blocked": _("Blocked the Page"),
    "unreachable": _("Meta won't deliver to them now"),
    "invalid_token": _("Their marketing-message token is no longer valid"),
    "no_user": _("No such person on Messenger"),
    "outside_window": _("Outside their 24 h window"),
}


def label(reason: str) -> str:
    """The words for ``reason``; an unknown code as a sentence, no code as "No reason given"."""
    if not reason:
        return str(_("No reason given"))
    return str(WORDS.get(reason) or reason.replace("_", " ").replace("-", " ").capitalize())


def worded(counts: Mapping[str, int]) -> dict[str, int]:
    """People per reason code → people per reason in words (two codes may share words)."""
    result: dict[str, int] = {}
    for reason, count in counts.items():
        result[label(reason)] = result.get(label(reason), 0) + count
    return result
