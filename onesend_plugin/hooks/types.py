"""The shapes of the Send API ``message`` objects onesend builds (``messages.build``), for
plugins that read or replace them (``build_message``, ``before_send``); and ``Segment``, what
``audience_segments`` returns.

A campaign is exactly one of: a text, a button template (text with URL buttons), a generic
template with one card (an image, its title, subtitle and buttons), or a video or file. Any of
them may carry quick replies. A plugin may return any message the Send API accepts; these are
the ones it will be given. A Page on Meta's paid Marketing Messages API gets the same shapes:
onesend wraps the message in the paid body (``PaidMessageBody``) after the hooks, so a plugin
handles one shape whatever the channel. They are defined with the rest of Meta's wire format, in
``onesend_plugin.messenger.types``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..messenger.types import (
    AttachmentMessage,
    ButtonTemplate,
    Card,
    GenericTemplate,
    MediaAttachment,
    MediaPayload,
    Message,
    QuickReply,
    TemplateAttachment,
    TextMessage,
    UrlButton,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from ..models import Subscriber


@dataclass(frozen=True)
class Segment:
    """A named part of a Page's audience that editors can pick for one broadcast.

    ``name`` is a stable slug: campaigns store it, so renaming it orphans them (they then
    refuse to start). ``label`` is what the campaign editor shows. ``select(queryset)`` gets the
    campaign's audience so far (the Page's consenting subscribers, already narrowed by its tags,
    refs and dates) and returns the segment's members among them, a ``Subscriber`` queryset.
    onesend keeps only the people of the queryset it gave, so a segment can never add anyone.
    """

    name: str
    label: str
    select: Callable[[QuerySet[Subscriber]], QuerySet[Subscriber]]


@dataclass(frozen=True)
class StoreCustomer:
    """A shop customer, as ``store_customers`` gives them. ``customer_ref`` is the shop's own
    stable reference (the one store events use). ``accepts_marketing`` is the customer's
    marketing consent in the shop: only those who gave it are uploaded to Meta. The e-mail and
    phone (with its country code, e.g. ``+44 20 7946 0000``) and the names are hashed before
    they leave the process; a customer needs an e-mail or a phone."""

    customer_ref: str
    accepts_marketing: bool
    email: str = ""
    phone: str = ""
    first_name: str = ""
    last_name: str = ""


__all__ = [
    "AttachmentMessage",
    "ButtonTemplate",
    "Card",
    "GenericTemplate",
    "MediaAttachment",
    "MediaPayload",
    "Message",
    "QuickReply",
    "Segment",
    "StoreCustomer",
    "TemplateAttachment",
    "TextMessage",
    "UrlButton",
]
