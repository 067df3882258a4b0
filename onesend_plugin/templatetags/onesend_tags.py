"""Subscribe buttons for templates without a StreamField::

    {% load onesend_tags %}
    {% messenger_subscribe_button page="acme" ref="footer" tags="vip,footer" %}
    <a href="{% messenger_subscribe_url page="acme" ref="footer" %}">Messenger</a>

``page`` is the Facebook Page's username or ID. An unknown Page renders nothing (and logs a
warning) rather than breaking the page it sits on.
"""

from __future__ import annotations

import logging

from django import template
from django.db.models import Q

from ..blocks import DEFAULT_LABEL, TEMPLATE, button_context
from ..models import MessengerPage
from ..subscribe import links

logger = logging.getLogger(__name__)
register = template.Library()


def _page(username_or_id: str) -> MessengerPage | None:
    page = MessengerPage.objects.filter(Q(username=username_or_id) | Q(page_id=username_or_id)).first()
    if page is None:
        logger.warning("No Messenger Page %r for a subscribe button", username_or_id)
    return page


@register.inclusion_tag(TEMPLATE, takes_context=True)
def messenger_subscribe_button(
    context, page, label=DEFAULT_LABEL, ref="website", tags="", intro="", style="blue", align="center"
):
    return button_context(
        _page(page),
        request=context.get("request"),
        source=ref,
        tags=links.split_tags(tags),
        label=label,
        intro=intro,
        style=style,
        align=align,
    )


@register.simple_tag(takes_context=True)
def messenger_subscribe_url(context, page, ref="website", tags=""):
    return links.button_url(_page(page), ref, links.split_tags(tags), request=context.get("request"))
