"""The shapes of the Send API ``message`` objects onesend builds (``messages.build``), for
plugins that read or replace them (``build_message``, ``before_send``).

A campaign is exactly one of: a text, a button template (text with URL buttons), a generic
template with one card (an image, its title, subtitle and buttons), or a video or file. Any of
them may carry quick replies. A plugin may return any message the Send API accepts; these are
the ones it will be given. They are defined with the rest of Meta's wire format, in
``onesend_plugin.messenger.types``.
"""

from __future__ import annotations

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
