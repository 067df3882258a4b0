"""The campaign preview's message (``campaign_preview.html``): built by a tag rather than by the
model's preview context, so that the models need not import the message rules (which import them)."""

from __future__ import annotations

from django import template

from ..messages import build
from ..messenger.types import Message
from ..models import Campaign

register = template.Library()


@register.simple_tag
def campaign_message(campaign: Campaign) -> Message:
    """What every recipient gets: ``messages.build(campaign)``."""
    return build(campaign)
