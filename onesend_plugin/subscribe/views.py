"""Public click-tracking endpoints: subscribe buttons and QR codes, and the buttons of
campaign messages."""

from __future__ import annotations

import logging
import re

from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.views.decorators.http import require_safe

from .. import analytics
from ..models import MessengerPage, SubscriptionLink
from . import links

logger = logging.getLogger(__name__)

# Link previews (Messenger, Slack, X...) and crawlers fetch links nobody clicked. "bot" also
# covers Slackbot, Twitterbot, Googlebot and friends.
NOT_A_CLICK = re.compile(r"facebookexternalhit|bot|crawler|spider|preview", re.IGNORECASE)


@login_not_required
@require_safe
def subscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Count a click on a subscription link and send the person on to m.me.

    Only tokens this site signed are followed, and the destination is always built from the
    Page's own username: the endpoint cannot be turned into an open redirect. HEAD requests and
    bots are redirected too, but not counted.
    """
    try:
        target = links.read(token)
    except signing.BadSignature:
        return HttpResponseNotFound("This subscription link is invalid.", content_type="text/plain")
    page = MessengerPage.objects.filter(pk=target.page_pk).first()
    if page is None:
        return HttpResponseNotFound("This subscription link is no longer active.", content_type="text/plain")
    if _is_click(request):
        link, _ = SubscriptionLink.objects.get_or_create(
            page=page, ref=target.source, defaults={"name": target.source, "tags": ", ".join(target.tags)}
        )
        SubscriptionLink.objects.filter(pk=link.pk).update(clicks=F("clicks") + 1)
    return HttpResponseRedirect(links.mme_url(page, target.source, target.tags, target.customer_ref))


def _is_click(request: HttpRequest) -> bool:
    return request.method == "GET" and not NOT_A_CLICK.search(request.headers.get("User-Agent", ""))


@login_not_required
@require_safe
def click(request: HttpRequest, token: str) -> HttpResponse:
    """A campaign button: count the click, then redirect to the button's URL (with UTM tags).

    The destination comes from the campaign itself, never from the link, so a tampered link
    leads nowhere. Counting must never stand between a person and the shop: if it fails, the
    redirect still happens.
    """
    resolved = analytics.resolve_click(token)
    if resolved is None:
        return HttpResponseNotFound("This link is invalid.", content_type="text/plain")
    delivery, button, url = resolved
    if _is_click(request):
        try:
            analytics.record_click(delivery, button)
        except Exception:
            logger.exception("Could not record a click on delivery %s", delivery.pk)
    return HttpResponseRedirect(url)
