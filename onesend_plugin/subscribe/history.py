"""A consent record in words, for the people who read a subscriber's consent history: what
happened, where (the entry point Meta or onesend recorded, and the link), and what the person
was shown. Never a raw value of Meta's (``SHORTLINK``, ``GET_UPDATES``) nor the JSON kept."""

from __future__ import annotations

from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from ..models import ConsentRecord, OptinCTA

#: Where consent was given or taken back (a consent record's ``entry_point``), in words.
ENTRY_POINTS = {
    "SHORTLINK": _("an m.me link"),
    "GET_STARTED": _("the Get Started button"),
    "message": _("a message to the Page"),
    "keyword": _("a STOP word in Messenger"),
    "quick_reply": _("the Unsubscribe quick reply"),
    "unsubscribe_button": _("the Unsubscribe button"),
    "meta_control": _("Messenger's own notification settings"),
    "admin": _("the admin"),
    "send_error": _("Meta: they can no longer be reached"),
}

#: What a consent record's ``shown`` holds, in words (other keys are left out).
SHOWN_WORDS = {
    "title": _("topic “%s”"),
    "cta": _("button “%s”"),
    "image_url": _("an image"),
    "tags": _("tags %s"),
}


def happened(record: ConsentRecord) -> str:
    """The record's action, with the detail written on it."""
    action = str(record.get_action_display())
    return f"{action}: {record.detail}" if record.detail else action


def where(record: ConsentRecord) -> str:
    """Through which entry point, and which link (its ref), in words. An opt-in's entry point is
    its link's source (``refs.SubscriptionRef.entry_point``): it happened on the opt-in request."""
    point = ENTRY_POINTS.get(record.entry_point)
    if point is None and record.entry_point in (record.ref, "direct"):
        point = _("the opt-in request")
    point = str(point or record.entry_point or "")
    if record.ref:
        link = _("link “%(ref)s”") % {"ref": record.ref}
        return capfirst(f"{point}, {link}" if point else link)
    return capfirst(point) or "—"


def shown(record: ConsentRecord) -> str:
    """What the person saw (the opt-in request's topic, button and image; the tags given), never
    the raw JSON."""
    parts = []
    for key, words in SHOWN_WORDS.items():
        value = record.shown.get(key)
        if value in (None, "", []):
            continue
        value = ", ".join(value) if isinstance(value, list) else value
        if key == "cta":  # Meta's value (GET_UPDATES), as the person read it (Get updates)
            value = dict(OptinCTA.choices).get(value, value)
        parts.append(str(words) % value if "%s" in str(words) else str(words))
    return capfirst("; ".join(parts)) or "—"
