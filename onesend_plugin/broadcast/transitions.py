"""Every change of a campaign's (or a Page's) status is one conditional UPDATE from the status
it is expected to have, so concurrent requests, workers and the tick never undo each other."""

from __future__ import annotations

import logging

from ..models import Campaign, MessengerPage

logger = logging.getLogger(__name__)

Status = Campaign.Status


class CampaignError(ValueError):
    """An action that is not allowed now; the message is meant for the editor."""


def claim_start(campaign: Campaign, was: str, **changes) -> None:
    """Move the campaign on from the status this request read, in one conditional UPDATE: of two
    simultaneous "send" presses (or a press and the minute tick) only one wins, so the campaign is
    logged and queued once; the other is told it already happened."""
    if not Campaign.objects.filter(pk=campaign.pk, status=was).update(**changes):
        campaign.refresh_from_db(fields=["status"])
        raise CampaignError(f"This campaign is already {campaign.get_status_display().lower()}.")
    for field, value in changes.items():
        setattr(campaign, field, value)


def transition(campaign: Campaign, allowed, to: str, reason: str = "") -> None:
    """Move the campaign to ``to`` if its status is one of ``allowed``; else say why not."""
    updated = Campaign.objects.filter(pk=campaign.pk, status__in=allowed).update(status=to, last_error=reason)
    campaign.refresh_from_db(fields=["status", "last_error"])
    if not updated:
        raise CampaignError(f"Not possible while the campaign is {campaign.get_status_display().lower()}.")


def pause_page(page: MessengerPage, reason: str) -> None:
    """Meta refused the Page's credentials: stop everything it sends until someone re-checks
    the connection, and say why on the Page and on each campaign."""
    MessengerPage.objects.filter(pk=page.pk).update(
        status=MessengerPage.Status.PAUSED, status_reason=reason[:255]
    )
    Campaign.objects.filter(page=page, status__in=(Status.RUNNING, Status.SCHEDULED)).update(
        status=Status.PAUSED, last_error=f"The Page was paused: {reason}"
    )
    logger.error("Page %s paused: %s", page.page_id, reason)
