"""Every body onesend sends to Meta, built from plain values (the shapes are in :mod:`.types`).

The rest of onesend calls these and never spells a Graph key itself, so a change of Meta's wire
format is a change here. Key order is part of the contract: bodies are JSON-encoded as built, and
a batch repeats the same message text in every item (see :mod:`.batch`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from .types import (
    AttachmentMessage,
    ButtonTemplate,
    Card,
    MarketingCampaignBody,
    MediaElement,
    Message,
    OptinMessage,
    OptinTemplate,
    PaidMessageBody,
    QuickReply,
    Recipient,
    SendBody,
    TextMessage,
    UploadBody,
    UrlButton,
)

#: Opt-in template titles are limited to 65 characters.
MAX_OPTIN_TITLE = 65
#: Attachment types Meta counts against the (much lower) media rate limit. Images and files are
#: not listed by Meta in either bucket; they are treated as media to be safe.
MEDIA_TYPES = ("image", "video", "audio", "file")

# -- Send API messages ------------------------------------------------------------------------


def text(body: str) -> TextMessage:
    return {"text": body}


def url_button(title: str, url: str) -> UrlButton:
    return {"type": "web_url", "url": url, "title": title}


def button_template(body: str, buttons: Sequence[UrlButton]) -> AttachmentMessage:
    """Text with URL buttons."""
    payload: ButtonTemplate = {"template_type": "button", "text": body, "buttons": list(buttons)}
    return {"attachment": {"type": "template", "payload": payload}}


def generic_card(
    title: str, image_url: str, *, subtitle: str = "", buttons: Sequence[UrlButton] = ()
) -> AttachmentMessage:
    """A generic template with one card: an image, its title, subtitle and buttons."""
    card: Card = {"title": title, "image_url": image_url}
    if subtitle:
        card["subtitle"] = subtitle
    if buttons:
        card["buttons"] = list(buttons)
    return {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": [card]}}}


def media(kind: Literal["video", "file"], url: str) -> AttachmentMessage:
    """A video or file sent by URL (Meta may keep it for reuse)."""
    return {"attachment": {"type": kind, "payload": {"url": url, "is_reusable": True}}}


def media_template(
    kind: Literal["image", "video"], url: str, *, buttons: Sequence[UrlButton] = ()
) -> AttachmentMessage:
    """An image or a video with up to 3 buttons (Media Template of the Marketing Message API for
    Messenger). Meta takes its media by ``attachment_id`` or by a Facebook URL only: upload ``url``
    and send :func:`with_attachment_id`'s message."""
    element: MediaElement = {"media_type": kind, "url": url}
    if buttons:
        element["buttons"] = list(buttons)
    return {"attachment": {"type": "template", "payload": {"template_type": "media", "elements": [element]}}}


def media_to_upload(message: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(media type, url)`` of a media template whose media is still given by URL, else None."""
    payload = _template(message)
    if payload.get("template_type") != "media":
        return None
    element = (payload.get("elements") or [{}])[0]
    return (element["media_type"], element["url"]) if element.get("url") else None


def with_attachment_id(message: Mapping[str, Any], attachment_id: str) -> Mapping[str, Any]:
    """The media template with its media by ``attachment_id`` instead of URL (every other key as
    it was): uploaded once, the same attachment goes to every recipient."""
    payload = _template(message)
    first, *others = payload["elements"]
    element = {key: value for key, value in first.items() if key != "url"}
    element = {"media_type": element.pop("media_type"), "attachment_id": attachment_id, **element}
    new_payload = {**payload, "elements": [element, *others]}
    return {**message, "attachment": {**message["attachment"], "payload": new_payload}}


def quick_reply(title: str, payload: str) -> QuickReply:
    return {"content_type": "text", "title": title, "payload": payload}


def with_quick_replies(message: Message, replies: Sequence[QuickReply]) -> Message:
    """``message`` with ``replies`` under it (after its other keys)."""
    return {**message, "quick_replies": list(replies)}  # type: ignore[return-value]


def quick_replies(message: Mapping[str, Any]) -> list[Any]:
    """The message's quick replies (none when they are not a list)."""
    replies = message.get("quick_replies")
    return replies if isinstance(replies, list) else []


def with_last_quick_reply(message: Message, reply: QuickReply) -> Message:
    """``message`` with ``reply`` as its last quick reply, once: any other with its payload goes."""
    others = [
        other
        for other in quick_replies(message)
        if not (isinstance(other, dict) and other.get("payload") == reply["payload"])
    ]
    return with_quick_replies(message, [*others, reply])


def has_content(message: Mapping[str, Any]) -> bool:
    """Whether the message has what Meta sends: a text or an attachment."""
    return "text" in message or "attachment" in message


def optin_request(
    *,
    title: str,
    payload: str,
    image_url: str | None = None,
    cta_text: str | None = None,
    timezone: str | None = None,
) -> OptinMessage:
    """The marketing-messages opt-in template. ``title`` is the topic: one request per title per
    person per week; ``payload`` comes back in the opt-in webhook."""
    if not 0 < len(title) <= MAX_OPTIN_TITLE:
        raise ValueError(f"opt-in title must be 1-{MAX_OPTIN_TITLE} characters, got {len(title)}")
    template = {
        "template_type": "notification_messages",
        "title": title,
        "payload": payload,
        "image_url": image_url,
        "notification_messages_cta_text": cta_text,
        "notification_messages_timezone": timezone,
    }
    given: OptinTemplate = {name: value for name, value in template.items() if value is not None}  # type: ignore[assignment]
    return {"attachment": {"type": "template", "payload": given}}


# -- Request bodies ---------------------------------------------------------------------------


def to_psid(psid: str) -> Recipient:
    return {"id": psid}


def to_token(token: str) -> Recipient:
    """A subscriber reached through their marketing-messages token."""
    return {"notification_messages_token": token}


def send_body(
    *,
    recipient: Recipient | Mapping[str, Any],
    message: Mapping[str, Any] | None = None,
    messaging_type: str | None = None,
    tag: str | None = None,
    sender_action: str | None = None,
) -> SendBody:
    """The Send API body, shared by single and batched sends."""
    if (message is None) == (sender_action is None):
        # Meta rejects both together (100/2018014); with neither there is nothing to send.
        raise ValueError("give exactly one of message or sender_action")
    body = {
        "recipient": recipient,
        "messaging_type": messaging_type,
        "tag": tag,
        "message": message,
        "sender_action": sender_action,
    }
    return {name: value for name, value in body.items() if value is not None}  # type: ignore[return-value]


#: The payload of the Get Started button onesend gives a Page: Meta posts it back in the
#: ``messaging_postbacks`` event of the tap (with the link's ``referral``).
GET_STARTED_PAYLOAD = "GET_STARTED"


def get_started(payload: str) -> dict[str, dict[str, str]]:
    """The Messenger Profile body giving the Page's welcome screen a Get Started button (Messenger
    Profile API, ``get_started``:
    https://developers.facebook.com/docs/messenger-platform/reference/messenger-profile-api/get-started-button)."""
    return {"get_started": {"payload": payload}}


def upload_body(*, attachment_type: str, url: str, is_reusable: bool = True) -> UploadBody:
    return {
        "message": {
            "attachment": {"type": attachment_type, "payload": {"url": url, "is_reusable": is_reusable}}
        }
    }


def ad_account_path(ad_account_id: str) -> str:
    """Graph addresses ad accounts as ``act_<id>``; accept the id with or without the prefix."""
    return ad_account_id if ad_account_id.startswith("act_") else f"act_{ad_account_id}"


def marketing_campaign(
    *, name: str, page_id: str, daily_budget: int | None = None, lifetime_budget: int | None = None
) -> MarketingCampaignBody:
    """A paid-API message campaign (Meta's "Send Messages on Marketing Message API for
    Messenger", step 1 ``message_campaign``). The budget is optional since Meta's "Default Budget
    Mode" (Send Messages, Jun 30 2026; changelog 2026-06-30): omitted, none is sent and Meta may
    cap the daily spend itself. Given, it is either daily or lifetime ("Either ``daily_budget`` or
    ``lifetime_budget``", same page), in the ad account's smallest currency unit, above 0."""
    if daily_budget is not None and lifetime_budget is not None:
        raise ValueError("give at most one of daily_budget or lifetime_budget")
    for budget in (daily_budget, lifetime_budget):
        if budget is not None and budget <= 0:
            raise ValueError(f"a budget must be above 0 (in the currency's smallest unit), got {budget}")
    fields = {
        "name": name,
        "page_id": page_id,
        "daily_budget": daily_budget,
        "lifetime_budget": lifetime_budget,
    }
    return {key: value for key, value in fields.items() if value is not None}  # type: ignore[return-value]


def unsubscribe_body(psids: Sequence[str], tokens: Sequence[str] = ()) -> dict[str, list[dict[str, str]]]:
    """The rows of Meta's Unsubscribe API (Grow your Audience for Marketing Message API for
    Messenger; changelog 2026-06-11): one ``psid`` or ``subscriber_token`` per row, alone, since
    they "never mix" with another identifier. It unsubscribes the person at Page level."""
    rows = [{"psid": psid} for psid in psids] + [{"subscriber_token": token} for token in tokens]
    return {"data": rows}


def delivery_estimate_query(
    *, page_id: str, daily_budget: int | None = None, lifetime_budget: int | None = None
) -> dict[str, str]:
    """The query of ``act_{id}/message_delivery_estimate`` (Send Messages on Marketing Message API
    for Messenger, "Delivery estimate"): both budgets omitted estimates the full audience."""
    query = {
        "fields": ",".join(ESTIMATE_FIELDS),
        "targeting_spec": '{"messenger_positions":["marketing_messages"],"publisher_platforms":["messenger"]}',
        "promoted_object": f'{{"page_id":"{page_id}"}}',
        "is_direct_send_campaign": "true",
        "pacing_type": "no_pacing",
    }
    budgets = {"daily_budget": daily_budget, "lifetime_budget": lifetime_budget}
    return {**query, **{key: str(value) for key, value in budgets.items() if value is not None}}


#: What a delivery estimate answers (same page).
ESTIMATE_FIELDS = (
    "estimate_delivery_lower_bound",
    "estimate_delivery_upper_bound",
    "estimate_cost_lower_bound",
    "estimate_cost_upper_bound",
)
#: The campaign insights onesend reads (Measure Campaign Performance on Marketing Message API for
#: Messenger: the documented fields).
INSIGHT_FIELDS = (
    "marketing_messages_delivered",
    "marketing_messages_read_rate",
    "marketing_messages_link_btn_click",
    "marketing_messages_spend",
)

#: The ad-account fields onesend reads for the Page's connection panel (Ad Account reference,
#: Marketing API): its currency (budgets), status, country (Meta's supported business regions)
#: and payment method.
AD_ACCOUNT_FIELDS = (
    "account_id",
    "name",
    "currency",
    "account_status",
    "disable_reason",
    "business_country_code",
    "funding_source",
    "funding_source_details",
)


def paid_message(
    *,
    message_id: str,
    subscription_token: str,
    message: Mapping[str, Any],
    min_conversation_gap_seconds: int | None = None,
) -> PaidMessageBody:
    """A paid marketing message to a subscriber of the Marketing Messages API (Send Messages on
    Marketing Message API for Messenger). ``min_conversation_gap_seconds`` (changelog 2026-06-11):
    Meta refuses the send (2300052) if the person and the Page talked within that many seconds."""
    body: PaidMessageBody = {
        "message_id": message_id,
        "messenger_delivery_data": {"subscription_token": subscription_token},
        "message": message,
    }
    if min_conversation_gap_seconds is not None:
        if min_conversation_gap_seconds <= 0:
            raise ValueError(
                f"min_conversation_gap_seconds must be positive, got {min_conversation_gap_seconds}"
            )
        body["min_conversation_gap_seconds"] = min_conversation_gap_seconds
    return body


# -- Reading a message back -------------------------------------------------------------------


def _template(message: Mapping[str, Any]) -> Mapping[str, Any]:
    return (message.get("attachment") or {}).get("payload") or {}


def words(message: Mapping[str, Any]) -> str:
    """What the message says: its text, its template's text, or its first card's title (a video
    or a file says nothing)."""
    payload = _template(message)
    return (
        message.get("text") or payload.get("text") or ((payload.get("elements") or [{}])[0]).get("title", "")
    )


def url_buttons(message: Mapping[str, Any]) -> list[UrlButton]:
    """The message's URL buttons: the template's, then each card's, in order."""
    payload = _template(message)
    buttons = list(payload.get("buttons") or [])
    for element in payload.get("elements") or []:
        buttons.extend(element.get("buttons") or [])
    return [b for b in buttons if b.get("type") == "web_url"]


def with_button_urls(message: Mapping[str, Any], url_for: Callable[[int], str]) -> Mapping[str, Any]:
    """The message with the n-th URL button (as :func:`url_buttons` counts) pointing to
    ``url_for(n)``; every other key as it was. A message without buttons is returned as is."""
    payload = _template(message)
    containers = [payload, *(payload.get("elements") or [])]
    if not any(c.get("buttons") for c in containers):
        return message
    numbers = iter(range(len(url_buttons(message))))

    def moved(buttons: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return [{**b, "url": url_for(next(numbers))} if b.get("type") == "web_url" else b for b in buttons]

    new_payload = {**payload}
    if payload.get("buttons"):
        new_payload["buttons"] = moved(payload["buttons"])
    if payload.get("elements"):
        new_payload["elements"] = [
            {**el, "buttons": moved(el.get("buttons", []))} if el.get("buttons") else el
            for el in payload["elements"]
        ]
    return {**message, "attachment": {**message["attachment"], "payload": new_payload}}


def is_media(message: Mapping[str, Any]) -> bool:
    """Whether Meta counts the message against the media rate limit (an attachment, a card with
    an image, or a media template)."""
    if (message.get("attachment") or {}).get("type") in MEDIA_TYPES:
        return True
    elements = _template(message).get("elements") or []
    return any("image_url" in element or "media_type" in element for element in elements)
