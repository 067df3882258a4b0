"""The shapes of the Send API ``message`` objects onesend builds (``messages.build``), for
plugins that read or replace them (``build_message``, ``before_send``).

A campaign is exactly one of: a text, a button template (text with URL buttons), a generic
template with one card (an image, its title, subtitle and buttons), or a video or file. Any of
them may carry quick replies. A plugin may return any message the Send API accepts; these are
the ones it will be given.
"""

from __future__ import annotations

from typing import Literal, TypedDict


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


class TemplateAttachment(TypedDict):
    type: Literal["template"]
    payload: GenericTemplate | ButtonTemplate


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


#: What ``build_message`` and ``before_send`` are given.
Message = TextMessage | AttachmentMessage

__all__ = [
    "AttachmentMessage",
    "ButtonTemplate",
    "Card",
    "GenericTemplate",
    "MediaAttachment",
    "MediaPayload",
    "Message",
    "QuickReply",
    "TemplateAttachment",
    "TextMessage",
    "UrlButton",
]
