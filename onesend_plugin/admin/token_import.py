"""The Page's "Import existing subscribers from Meta" action and what its last pass did (the
import and the scheduled reconciliation are :mod:`onesend_plugin.subscribe.meta_import`)."""

from __future__ import annotations

from django.contrib import messages
from django.utils.translation import gettext_lazy as _
from wagtail.admin.views.generic.base import BaseOperationView
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.log_actions import log

from ..models import MessengerPage, TokenImport
from ..subscribe import meta_import
from .views import ScopedObjectMixin


def summary(page: MessengerPage) -> dict | None:
    """The Page's latest pass over Meta's tokens, as the Page's view shows it; None before any."""
    sync = page.token_imports.order_by("-created_at", "-id").first()
    if sync is None:
        return None
    counts = _(
        "%(listed)d listed by Meta: %(imported)d imported, %(updated)d updated, %(unchanged)d "
        "already up to date, %(skipped)d skipped, %(expired)d no longer listed (expired)."
    ) % {
        "listed": sync.listed,
        "imported": sync.imported,
        "updated": sync.updated,
        "unchanged": sync.unchanged,
        "skipped": sum((sync.skipped or {}).values()),
        "expired": sync.expired,
    }
    return {
        "run": sync,
        "finished": sync.state in (TokenImport.State.DONE, TokenImport.State.FAILED),
        "counts": counts,
        "skipped": meta_import.skipped_reasons(sync),
    }


class ImportTokensView(PermissionCheckedMixin, ScopedObjectMixin, BaseOperationView):
    """Queue an import of the subscribers Meta holds for the Page (POST); a worker runs it."""

    permission_required = "change"

    def perform_operation(self):
        user = self.request.user
        self.sync = meta_import.request(self.object, by=user.get_username())
        if self.sync is not None:
            log(self.object, "onesend.page.import_tokens", user=user, data={"run": self.sync.pk})

    def add_success_message(self):
        if self.sync is None:
            messages.warning(self.request, _("An import of this Page's subscribers is already under way."))
        else:
            messages.success(
                self.request, _("Import started: its result shows under “Subscribers held by Meta”.")
            )
