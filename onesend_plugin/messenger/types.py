"""The shapes of the bodies onesend sends to Meta, as TypedDicts (built by :mod:`.builders`).

A campaign's Send API ``message`` is exactly one of: a text, a button template (text with URL
buttons), a generic template with one card (an image, its title, subtitle and buttons), or a
video or file. Any of them may carry quick replies. ``onesend_plugin.hooks.types`` re-exports
these for plugins that read or replace the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict


class QuickReply(TypedDict):
    content_type: Literal["text"]
    title: str
    payload: str


class UrlButton(TypedDict):
    """When the campaign tracks clicks, ``url`` is a signed per-recipient redirect by the time
    the message is sent (after ``build_message``)."""

    type: Literal["web_url"]
    url: str
    title: str


class _CardRequired(TypedDict):
    title: str
    image_url: str


class Card(_CardRequired, total=False):
    """An element of a generic template: the campaign's image with its text as the title."""

    subtitle: str
    buttons: list[UrlButton]


class GenericTemplate(TypedDict):
    template_type: Literal["generic"]
    elements: list[Card]


class ButtonTemplate(TypedDict):
    template_type: Literal["button"]
    text: str
    buttons: list[UrlButton]


class _MediaElementRequired(TypedDict):
    media_type: Literal["image", "video"]


class MediaElement(_MediaElementRequired, total=False):
    """The one element of a media template: its media by ``url`` until uploaded, then by
    ``attachment_id``."""

    url: str
    attachment_id: str
    buttons: list[UrlButton]


class MediaTemplate(TypedDict):
    template_type: Literal["media"]
    elements: list[MediaElement]


class TemplateAttachment(TypedDict):
    type: Literal["template"]
    payload: GenericTemplate | ButtonTemplate | MediaTemplate


class MediaPayload(TypedDict):
    url: str
    is_reusable: bool


class MediaAttachment(TypedDict):
    type: Literal["video", "file"]
    payload: MediaPayload


class _QuickReplies(TypedDict, total=False):
    quick_replies: list[QuickReply]


class TextMessage(_QuickReplies):
    text: str


class AttachmentMessage(_QuickReplies):
    attachment: TemplateAttachment | MediaAttachment


#: A campaign's message (what ``build_message`` and ``before_send`` are given).
Message = TextMessage | AttachmentMessage


class _OptinTemplateRequired(TypedDict):
    template_type: Literal["notification_messages"]
    title: str
    payload: str


class OptinTemplate(_OptinTemplateRequired, total=False):
    """Meta's marketing-messages opt-in request; ``payload`` comes back in the opt-in webhook."""

    image_url: str
    notification_messages_cta_text: str
    notification_messages_timezone: str


class OptinAttachment(TypedDict):
    type: Literal["template"]
    payload: OptinTemplate


class OptinMessage(TypedDict):
    attachment: OptinAttachment


class UploadPayload(TypedDict):
    url: str
    is_reusable: bool


class UploadAttachment(TypedDict):
    type: str
    payload: UploadPayload


class UploadMessage(TypedDict):
    attachment: UploadAttachment


class UploadBody(TypedDict):
    """``POST /{page_id}/message_attachments``: media uploaded once by URL, reused by id."""

    message: UploadMessage


class Recipient(TypedDict, total=False):
    """Exactly one key: a PSID (``id``) or a marketing-messages token."""

    id: str
    notification_messages_token: str


class SendBody(TypedDict, total=False):
    """``POST /me/messages``: a ``message`` or a ``sender_action``, never both."""

    recipient: Recipient
    messaging_type: str
    tag: str
    message: Mapping[str, Any]
    sender_action: str


class DeliveryData(TypedDict):
    subscription_token: str


class _PaidMessageFields(TypedDict):
    message_id: str
    messenger_delivery_data: DeliveryData
    message: Mapping[str, Any]


class PaidMessageBody(_PaidMessageFields, total=False):
    """``POST /act_{ad_account}/messages`` of the paid Marketing Messages API."""

    min_conversation_gap_seconds: int


class MarketingCampaignBody(TypedDict, total=False):
    """``POST /act_{ad_account}/message_campaign``: at most one budget, in cents (none: Meta's
    default budget mode)."""

    name: str
    page_id: str
    daily_budget: int
    lifetime_budget: int
