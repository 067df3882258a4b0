"""A campaign's content as a Messenger message (the Send API ``message`` object).

One campaign is one message: a marketing token allows one message per cooldown, so text, media
and buttons must fit in a single Messenger message. ``validate`` says what does not fit, in
words an editor understands; the admin form shows it.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from django.conf import settings

from . import conf
from .messenger import builders
from .messenger.types import Message, QuickReply
from .models import (
    BUTTON_TEXT_MAX_LENGTH,
    BUTTON_TITLE_MAX_LENGTH,
    CARD_TITLE_MAX_LENGTH,
    MAX_BUTTONS,
    PAID_TEXT_MAX_LENGTH,
    TEXT_MAX_LENGTH,
    Campaign,
    CampaignButton,
    MessengerPage,
)

#: Payload of the "Unsubscribe" quick reply / postback button broadcasts can carry (defined with
#: the messages rather than with the unsubscribe rule: the models render messages, and must not
#: depend on the subscribe package).
UNSUBSCRIBE_PAYLOAD = "ONESEND_UNSUBSCRIBE"
UNSUBSCRIBE_QUICK_REPLY: QuickReply = builders.quick_reply("Unsubscribe", UNSUBSCRIBE_PAYLOAD)
#: A button opens its link in the person's browser: a web page, never ``ftp:``, ``javascript:``
#: or an app's scheme, which the browser would refuse or run.
LINK_SCHEMES = ("http", "https")


def public_url(path: str) -> str:
    base = conf.get("PUBLIC_BASE_URL") or getattr(settings, "WAGTAILADMIN_BASE_URL", "") or ""
    return urljoin(base.rstrip("/") + "/", path.lstrip("/")) if base else path


def validate(campaign: Campaign, buttons: list[tuple[str, str]]) -> dict[str, str]:
    """Field name → error, for content Messenger would reject. ``buttons``: (title, url) pairs."""
    errors: dict[str, str] = {}
    text = campaign.text.strip()
    if len(buttons) > MAX_BUTTONS:
        errors["text"] = f"A message can carry at most {MAX_BUTTONS} buttons."
    for title, url in buttons:
        if len(title) > BUTTON_TITLE_MAX_LENGTH:
            errors["text"] = (
                f"Button titles must be at most {BUTTON_TITLE_MAX_LENGTH} characters ('{title}')."
            )
        if problem := link_problem(url):
            errors["buttons"] = f"{problem} ('{title}')"
    if campaign.media == Campaign.Media.IMAGE:
        if not campaign.image:
            errors["image"] = "Choose the image."
        if not text:
            errors["text"] = "An image card needs a title: write it in the text."
        elif len(text) > CARD_TITLE_MAX_LENGTH:
            errors["text"] = (
                f"With an image the text is the card's title: at most {CARD_TITLE_MAX_LENGTH} characters "
                f"(now {len(text)}). Use the subtitle for a second line."
            )
    elif campaign.media in (Campaign.Media.VIDEO, Campaign.Media.FILE):
        errors.update(_media_problems(campaign, text, bool(buttons)))
    else:
        errors.update(_text_problems(campaign, text, bool(buttons)))
    return errors


#: Variant B's fields of an A/B test, by the content field of the campaign (variant A) each stands for.
VARIANT_B_FIELDS = {
    "text": "variant_b_text",
    "subtitle": "variant_b_subtitle",
    "media": "variant_b_media",
    "image": "variant_b_image",
    "document": "variant_b_document",
    "video_url": "variant_b_video_url",
}


def variant_b(campaign: Campaign) -> Campaign:
    """An A/B test's variant B as a campaign of its own, never saved: its content is B's, the
    rest the campaign's, so ``validate``, ``build`` and the preview read it as any campaign."""
    content = {field: getattr(campaign, b_field) for field, b_field in VARIANT_B_FIELDS.items()}
    return Campaign(
        name=campaign.name,
        page=campaign.page if campaign.page_id else None,
        unsubscribe_quick_reply=campaign.unsubscribe_quick_reply,
        buttons=[CampaignButton(title=b.title, url=b.url) for b in campaign.variant_b_buttons.all()],
        **content,
    )


def sent_message(campaign: Campaign, variant: str = "") -> Message | None:
    """What a started campaign's ledger row of ``variant`` is sent, as frozen at the start: the
    campaign's message; in an A/B test A's or B's, and for the rest the winner's (None until it
    is picked)."""
    frozen = campaign.message or {}
    test = frozen.get("ab")
    if not test:
        return frozen.get("body")
    return {"a": frozen["body"], "b": test["b"]}.get(variant or campaign.ab_winner)


def link_problem(url: str) -> str | None:
    """What is wrong with a button's link, or None: it must be a web address."""
    if urlsplit(url.strip()).scheme.lower() not in LINK_SCHEMES:
        return "A button's link must be a web address starting with https:// (or http://)."
    return None


def is_paid(page: MessengerPage | None) -> bool:
    """Whether the Page sends through Meta's paid Marketing Messages API."""
    return page is not None and page.sends_paid


def text_limit(page: MessengerPage | None) -> int:
    """The most characters a text message of the Page may have: the paid Marketing Messages API's
    640 (its Text Template: "up to 640 characters") or Messenger's."""
    return PAID_TEXT_MAX_LENGTH if is_paid(page) else TEXT_MAX_LENGTH


def _media_problems(campaign: Campaign, text: str, buttons: bool) -> dict[str, str]:
    """A video or a file. On the paid Marketing Messages API a video is a media template, which
    carries up to 3 buttons but no text (Media Template), and no format sends a file (the API
    References list text, button, generic, media, product and receipt messages)."""
    errors: dict[str, str] = {}
    paid = campaign.page_id is not None and is_paid(campaign.page)
    if campaign.media == Campaign.Media.VIDEO and not campaign.video_url:
        errors["video_url"] = "Give the video's URL."
    if campaign.media == Campaign.Media.FILE:
        if paid:
            errors["media"] = "The paid Marketing Messages API sends no files: attach an image or a video."
        elif not campaign.document:
            errors["document"] = "Choose the document."
    if paid and text:
        errors["text"] = (
            "On the paid Marketing Messages API a video is sent with its buttons only: remove the text."
        )
    elif text or (buttons and not paid):
        errors["text"] = "Messenger sends a video or a file on its own: remove the text and buttons."
    return errors


def _text_problems(campaign: Campaign, text: str, buttons: bool) -> dict[str, str]:
    """A text message's text: Messenger's limit, or the paid Marketing Messages API's 640
    characters when the Page sends through it (Meta's Text Template of that API)."""
    paid = campaign.page_id is not None and is_paid(campaign.page)
    if not text:
        return {"text": "Write the message."}
    if paid and len(text) > PAID_TEXT_MAX_LENGTH:
        return {
            "text": f"The paid Marketing Messages API allows at most {PAID_TEXT_MAX_LENGTH} characters "
            f"(now {len(text)})."
        }
    limit = BUTTON_TEXT_MAX_LENGTH if buttons else TEXT_MAX_LENGTH
    if len(text) > limit:
        where = "with buttons" if buttons else "in a text message"
        return {"text": f"Messenger allows at most {limit} characters {where} (now {len(text)})."}
    return {}


def build(campaign: Campaign) -> Message:
    """The message for every recipient (recipient-specific changes come from plugins)."""
    message: Message
    text = campaign.text.strip()
    buttons = [builders.url_button(b.title, b.url) for b in campaign.buttons.all()]
    if campaign.media == Campaign.Media.IMAGE:
        image_url = public_url(campaign.image.get_rendition("max-1200x1200").url)
        message = builders.generic_card(text, image_url, subtitle=campaign.subtitle, buttons=buttons)
    elif campaign.media == Campaign.Media.VIDEO and is_paid(campaign.page):
        message = builders.media_template("video", campaign.video_url, buttons=buttons)  # type: ignore[assignment]
    elif campaign.media == Campaign.Media.VIDEO:
        message = builders.media("video", campaign.video_url)
    elif campaign.media == Campaign.Media.FILE:
        message = builders.media("file", public_url(campaign.document.url))
    elif buttons:
        message = builders.button_template(text, buttons)
    else:
        message = builders.text(text)
    if campaign.unsubscribe_quick_reply:
        message = builders.with_quick_replies(message, [UNSUBSCRIBE_QUICK_REPLY])
    return message


def check(value: object) -> None:
    """Raise ``TypeError`` unless ``value`` is a message at first sight: a dict with a ``text`` or
    an ``attachment``, shaped so onesend can read its buttons and media. A plugin's ``build_message`` result is checked where it is received, so
    the error names that plugin (not the next one to read the message, nor Meta's refusal of
    it); Meta still judges the details."""
    if not isinstance(value, dict):
        raise TypeError(f"returned a {type(value).__name__}, not a message")
    if not builders.has_content(value):
        raise TypeError("returned a dict with neither 'text' nor 'attachment', not a message")
    try:  # what onesend reads of every message it sends, read here, inside the plugin's blame
        builders.with_button_urls(value, str)
        builders.is_media(value)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise TypeError(f"returned a malformed message ({exc!r})") from exc


def with_unsubscribe(message: Message) -> Message:
    """``message`` with onesend's Unsubscribe quick reply last, once: put back on what plugins
    made of a campaign's message, so none can remove, change or duplicate the way out."""
    return builders.with_last_quick_reply(message, UNSUBSCRIBE_QUICK_REPLY)


def has_unsubscribe(message: Message) -> bool:
    """Whether the message carries onesend's Unsubscribe quick reply."""
    return UNSUBSCRIBE_QUICK_REPLY in builders.quick_replies(message)


def is_media(message: dict) -> bool:
    """Whether Meta counts the message against the (much lower) media rate limit."""
    return builders.is_media(message)
