"""Tracked clicks: URL buttons rewritten per recipient into signed redirect links, and each click
counted (total, unique, per button, per hour)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from .. import conf
from ..messenger import builders
from ..models import Campaign, Click, Delivery
from .counters import Kind, hourly, keyed
from .storage import bump

CLICK_SALT = "onesend.click"


def tracked_buttons(message: dict, delivery_id: int) -> dict:
    """The message with each URL button replaced by a signed per-recipient redirect link."""
    signer = signing.Signer(salt=CLICK_SALT)
    return builders.with_button_urls(message, lambda n: public_click_url(signer.sign(f"{delivery_id}.{n}")))


def public_click_url(token: str) -> str:
    from ..messages import public_url

    return public_url(reverse("onesend:click", args=[token]))


def button_urls(message: dict) -> list[str]:
    """The original URLs of a message's URL buttons, in the order ``tracked_buttons`` numbers them."""
    return [button["url"] for button in builders.url_buttons(message)]


def resolve_click(token: str) -> tuple[Delivery, int, str] | None:
    """The delivery, button and destination of a click link; None for a tampered link."""
    try:
        delivery_id, button = (int(part) for part in signing.Signer(salt=CLICK_SALT).unsign(token).split("."))
    except (signing.BadSignature, ValueError):
        return None
    delivery = Delivery.objects.select_related("campaign").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    from ..messages import sent_message

    urls = button_urls(sent_message(delivery.campaign, delivery.variant) or {})
    if button >= len(urls):
        return None
    return delivery, button, with_utm(urls[button], delivery.campaign)


def with_utm(url: str, campaign: Campaign, fallback: str = "") -> str:
    """``url`` with the ``UTM_PARAMETERS`` it lacks. The campaign is named by its name's slug;
    a name without letters to slug (emoji, a non-Latin script) by ``fallback`` if given, else by
    the campaign's id."""
    utm = conf.get("UTM_PARAMETERS")
    if not utm:
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    values = {"campaign": slugify(campaign.name) or fallback or str(campaign.pk)}
    for key, value in utm.items():
        query.setdefault(key, value.format(**values))
    return urlunsplit(parts._replace(query=urlencode(query)))


@transaction.atomic
def record_click(delivery: Delivery, button: int, at: datetime | None = None) -> None:
    at = at or timezone.now()
    Click.objects.create(
        delivery=delivery,
        campaign_id=delivery.campaign_id,
        subscriber_id=delivery.subscriber_id,
        button=button,
        at=at,
    )
    first = Delivery.objects.filter(pk=delivery.pk, clicked_at__isnull=True).update(clicked_at=at)
    bump(
        delivery.campaign_id,
        {
            Kind.CLICKS: 1,
            Kind.UNIQUE_CLICKS: first,
            keyed(Kind.BUTTON, button): 1,
            hourly(Kind.CLICKS, at): 1,
        },
    )
