"""Subscription links: the one place that builds the URLs a subscribe button or QR code points at.

A button never links to m.me directly. It links to onesend's click-tracking URL,
``/onesend/s/<token>/``, which counts the click and redirects to m.me. The token is signed, so
nobody can make a working link that names another Page or adds tags: every m.me link onesend
sends people to is one this site built. The token carries no timestamp and never expires,
because printed QR codes live for years; and the same inputs always give the same URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from django.urls import reverse

from .. import conf
from ..hooks import plugins
from ..models import MessengerPage
from . import refs

SALT = "onesend.links"


@dataclass(frozen=True)
class Target:
    """Where a click-tracking token sends people, and what their subscription will carry."""

    page_pk: int
    source: str
    tags: tuple[str, ...] = ()
    customer_ref: str = ""


def split_tags(text: str) -> tuple[str, ...]:
    """Tags as editors type them: comma-separated, blanks ignored."""
    return tuple(tag.strip() for tag in (text or "").split(",") if tag.strip())


def click_url(page: MessengerPage, source: str, tags=(), customer_ref: str = "") -> str:
    """The site-relative click-tracking URL for ``page``."""
    data = {"p": page.pk, "s": source}
    if tags:
        data["t"] = list(tags)
    if customer_ref:
        data["c"] = customer_ref
    token = signing.Signer(salt=SALT).sign_object(data, compress=True)
    return reverse("onesend:subscribe", args=[token])


def read(token: str) -> Target:
    """What a click-tracking token says. Raises ``signing.BadSignature`` unless this site made it."""
    data = signing.Signer(salt=SALT).unsign_object(token)
    return Target(
        page_pk=data["p"], source=data["s"], tags=tuple(data.get("t", ())), customer_ref=data.get("c", "")
    )


def mme_url(page: MessengerPage, source: str, tags=(), customer_ref: str = "") -> str:
    """The m.me link that opens a conversation with ``page``, carrying a signed ref."""
    base = conf.get("MME_BASE_URL").rstrip("/")
    return f"{base}/{page.username or page.page_id}?ref={refs.encode(source, tags, customer_ref)}"


def button_url(page: MessengerPage | None, source: str, tags=(), *, request=None) -> str:
    """A subscribe button's link ("" without a Page). When rendering for a request, plugins may
    name the shop customer visiting, so their subscription is linked to their shop account."""
    if page is None:
        return ""
    customer_ref = (plugins.customer_ref_for_request(request=request) or "") if request is not None else ""
    return click_url(page, source, tags, customer_ref)
