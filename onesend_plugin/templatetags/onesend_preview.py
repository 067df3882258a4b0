"""The campaign preview's message (``campaign_preview.html``): built by a tag rather than by the
model's preview context, so that the models need not import the message rules (which import them)."""

from __future__ import annotations

from django import template

from ..messages import build, variant_b
from ..messenger.types import Message
from ..models import Campaign

register = template.Library()


@register.simple_tag
def campaign_message(campaign: Campaign, variant: str = "") -> Message:
    """What every recipient gets: ``messages.build(campaign)``, or of an A/B test's variant B."""
    return build(variant_b(campaign) if variant == "b" else campaign)
