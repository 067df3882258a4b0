"""Send API content rules: validate a ``message`` object and normalise it (Meta's pages:
https://developers.facebook.com/docs/messenger-platform/reference/send-api/ for the bodies and
https://developers.facebook.com/docs/messenger-platform/marketing-messages for the opt-in request).

The normalised "view" is what the simulated thread stores and the web page renders: a flat dict with
``type`` (text, image, video, audio, file, button, generic, optin) and the fields of that type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import errors

MEDIA_TYPES = frozenset({"image", "video", "audio", "file"})
TEXT_LIMIT = 2000  # text must be shorter than this
BUTTON_TEXT_LIMIT = 640
MAX_BUTTONS = 3
MAX_ELEMENTS = 10
ELEMENT_TEXT_LIMIT = 80
MAX_QUICK_REPLIES = 13
QUICK_REPLY_TITLE_LIMIT = 20
OPTIN_TITLE_LIMIT = 65
DEFAULT_OPTIN_TITLE = "Updates and promotions"
CTA_LABELS = {
    "ALLOW": "Allow messages",
    "FREQUENCY": "Get daily messages",
    "GET": "Get messages",
    "GET_UPDATES": "Get updates",
    "OPT_IN": "Opt in to messages",
    "SIGN_UP": "Sign up for messages",
}
# The field each button type needs besides its title.
BUTTON_TARGETS = {"web_url": "url", "postback": "payload", "phone_number": "payload"}
QUICK_REPLY_TYPES = frozenset({"text", "user_phone_number", "user_email"})


@dataclass
class Content:
    """A validated message: the original object (for echoes) and its normalised view."""

    raw: dict[str, Any]
    view: dict[str, Any]

    @property
    def media(self) -> bool:
        """Image/video/audio/file sends use Meta's media rate bucket (10/s), the rest the text one."""
        return self.view["type"] in MEDIA_TYPES

    @property
    def optin(self) -> dict[str, Any] | None:
        return self.view.get("optin")


def parse_message(message: Any) -> Content:
    """Validate a Send API ``message``; raise the Meta error for the first broken rule."""
    if not isinstance(message, dict):
        raise errors.param("Param message must be a JSON object")
    if ("text" in message) == ("attachment" in message):
        raise errors.param("Param message must contain exactly one of text or attachment")
    view = _text(message["text"]) if "text" in message else _attachment(message["attachment"])
    if "quick_replies" in message:
        view["quick_replies"] = _quick_replies(message["quick_replies"])
    if "metadata" in message:
        view["metadata"] = _string(message["metadata"], "metadata", 1000)
    return Content(message, view)


def _string(value: Any, name: str, limit: int, *, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value):
        raise errors.param(f"Param {name} must be a non-empty string")
    if len(value) > limit:
        raise errors.param(f"Param {name} must be at most {limit} characters")
    return value


def _text(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        raise errors.param("Param message[text] must be a non-empty UTF-8 encoded string")
    if len(text) >= TEXT_LIMIT:
        raise errors.param(f"Param message[text] must be less than {TEXT_LIMIT} characters")
    return {"type": "text", "text": text}


def _attachment(attachment: Any) -> dict[str, Any]:
    if not isinstance(attachment, dict) or not isinstance(attachment.get("payload"), dict):
        raise errors.param("Param message[attachment] must have a type and a payload object")
    kind, payload = attachment.get("type"), attachment["payload"]
    if kind in MEDIA_TYPES:
        return _media(kind, payload)
    if kind != "template":
        raise errors.param(
            "Param message[attachment][type] must be one of image, video, audio, file, template"
        )
    template = TEMPLATES.get(payload.get("template_type"))
    if template is None:
        raise errors.param(f"Unsupported template_type {payload.get('template_type')!r}")
    return template(payload)


def _media(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    url, attachment_id = payload.get("url"), payload.get("attachment_id")
    if bool(url) == bool(attachment_id):
        raise errors.param("Param message[attachment][payload] needs exactly one of url or attachment_id")
    return {"type": kind, "url": url, "attachment_id": str(attachment_id) if attachment_id else None}


def _buttons(buttons: Any, minimum: int) -> list[dict[str, Any]]:
    if not isinstance(buttons, list) or not minimum <= len(buttons) <= MAX_BUTTONS:
        raise errors.param(f"Param buttons must have between {minimum} and {MAX_BUTTONS} items")
    for button in buttons:
        target = BUTTON_TARGETS.get(button.get("type")) if isinstance(button, dict) else None
        if target is None:
            raise errors.param(f"Button type must be one of {', '.join(BUTTON_TARGETS)}")
        if not button.get("title") or not button.get(target):
            raise errors.param(f"A {button['type']} button needs a title and a {target}")
    return buttons


def _button_template(payload: dict[str, Any]) -> dict[str, Any]:
    text = _string(payload.get("text"), "message[attachment][payload][text]", BUTTON_TEXT_LIMIT)
    return {"type": "button", "text": text, "buttons": _buttons(payload.get("buttons"), 1)}


def _generic_template(payload: dict[str, Any]) -> dict[str, Any]:
    elements = payload.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_ELEMENTS:
        raise errors.param(f"Param elements must have between 1 and {MAX_ELEMENTS} items")
    view = []
    for element in elements:
        if not isinstance(element, dict):
            raise errors.param("Each element must be an object")
        if not any(element.get(key) for key in ("subtitle", "image_url", "default_action", "buttons")):
            raise errors.param("An element needs a subtitle, image_url, default_action or buttons")
        view.append(
            {
                "title": _string(element.get("title"), "elements[][title]", ELEMENT_TEXT_LIMIT),
                "subtitle": _string(
                    element.get("subtitle", ""), "subtitle", ELEMENT_TEXT_LIMIT, required=False
                ),
                "image_url": element.get("image_url"),
                "default_action": element.get("default_action"),
                "buttons": _buttons(element.get("buttons", []), 0),
            }
        )
    return {"type": "generic", "elements": view}


def _media_template(payload: dict[str, Any]) -> dict[str, Any]:
    """One image or video with up to 3 buttons, by ``attachment_id`` or ``url`` (Media Template of
    the Marketing Message API for Messenger); shown as that media, ``template`` says how it came."""
    elements = payload.get("elements")
    if not isinstance(elements, list) or len(elements) != 1 or not isinstance(elements[0], dict):
        raise errors.param("Param elements must have exactly 1 item")
    element = elements[0]
    kind = element.get("media_type")
    if kind not in ("image", "video"):
        raise errors.param("Param elements[][media_type] must be one of image, video")
    view = _media(kind, element)
    return {**view, "template": "media", "buttons": _buttons(element.get("buttons", []), 0)}


def _optin_template(payload: dict[str, Any]) -> dict[str, Any]:
    """Meta's opt-in request; its fields are flat in the payload (``elements[0]`` is accepted too)."""
    elements = payload.get("elements")
    fields = (
        elements[0] if isinstance(elements, list) and elements and isinstance(elements[0], dict) else payload
    )
    title = fields.get("title") or DEFAULT_OPTIN_TITLE
    _string(title, "title", OPTIN_TITLE_LIMIT)
    cta = fields.get("notification_messages_cta_text", "GET_UPDATES")
    if cta not in CTA_LABELS:
        raise errors.param(f"Param notification_messages_cta_text must be one of {', '.join(CTA_LABELS)}")
    optin = {
        "title": title,
        "image_url": fields.get("image_url"),
        "payload": str(fields.get("payload", "")),
        "cta_text": cta,
        "cta_label": CTA_LABELS[cta],
        "timezone": fields.get("notification_messages_timezone", "UTC"),
        "state": "pending",
        "token": None,
    }
    return {"type": "optin", "optin": optin}


TEMPLATES = {
    "button": _button_template,
    "generic": _generic_template,
    "media": _media_template,
    "notification_messages": _optin_template,
}


def _quick_replies(replies: Any) -> list[dict[str, Any]]:
    if not isinstance(replies, list) or len(replies) > MAX_QUICK_REPLIES:
        raise errors.param(f"Param message[quick_replies] must have at most {MAX_QUICK_REPLIES} items")
    for reply in replies:
        if not isinstance(reply, dict) or reply.get("content_type") not in QUICK_REPLY_TYPES:
            raise errors.param(
                f"Quick reply content_type must be one of {', '.join(sorted(QUICK_REPLY_TYPES))}"
            )
        if reply["content_type"] == "text":
            _string(reply.get("title"), "quick_replies[][title]", QUICK_REPLY_TITLE_LIMIT)
            _string(reply.get("payload"), "quick_replies[][payload]", 1000)
    return replies
