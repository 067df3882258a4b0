"""Deleting campaigns also deletes, after the delete is committed, what Meta holds for them (the
paid API's message campaigns). Meta refusing is shown to the editor and logged; the campaign
stays deleted here."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.utils.translation import gettext as _

from .. import broadcast
from ..models import Campaign


def after_delete_snippets(request, instances) -> None:
    """Wagtail's ``after_delete_snippet`` hook (the delete view and the bulk delete)."""
    campaigns = [instance for instance in instances if isinstance(instance, Campaign)]
    if campaigns:
        transaction.on_commit(lambda: _delete_at_meta(request, campaigns))


def _delete_at_meta(request, campaigns: list[Campaign]) -> None:
    for campaign in campaigns:
        for error in broadcast.delete_at_meta(campaign):
            messages.warning(
                request,
                _("%(campaign)s was deleted here, but Meta did not delete its paid campaign: %(error)s")
                % {"campaign": campaign.name, "error": error},
            )
