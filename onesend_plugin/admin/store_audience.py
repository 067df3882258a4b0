"""The Page's "Upload store customers to Meta" action and what its last upload did (the upload,
Meta's matching and the import of the people it matched are
:mod:`onesend_plugin.subscribe.store_audience`)."""

from __future__ import annotations

from django.contrib import messages
from django.utils.translation import gettext_lazy as _
from wagtail.admin.views.generic.base import BaseOperationView
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.log_actions import log

from ..models import AudienceUpload, MessengerPage
from ..subscribe import store_audience
from .views import ScopedObjectMixin


def summary(page: MessengerPage) -> dict | None:
    """The Page's latest upload, as the Page's view shows it; None before any."""
    upload = page.audience_uploads.order_by("-created_at", "-id").first()
    if upload is None:
        return None
    counts = _(
        "%(customers)d customers given by the shop: %(uploaded)d uploaded, hashed, in %(batches)d "
        "batches; %(no_consent)d without marketing consent; %(invalid)d not uploaded (below); "
        "%(removed)d taken out of the audience."
    ) % {
        "customers": upload.customers,
        "uploaded": upload.uploaded,
        "batches": upload.batches,
        "no_consent": upload.no_consent,
        "invalid": sum((upload.invalid or {}).values()),
        "removed": upload.removed,
    }
    matched = None
    if upload.statuses:
        matched = _(
            "Meta matched about %(low)d to %(high)d people on Messenger (%(reports)d of %(batches)d "
            "batches reported); rows Meta refused: %(refused)d."
        ) % {
            "low": upload.matched_low,
            "high": upload.matched_high,
            "reports": upload.statuses,
            "batches": upload.batches,
            "refused": upload.meta_invalid,
        }
    return {
        "upload": upload,
        "finished": upload.state in (AudienceUpload.State.DONE, AudienceUpload.State.FAILED),
        "counts": counts,
        "matched": matched,
        "invalid": store_audience.invalid_reasons(upload),
    }


def offered(page: MessengerPage) -> bool:
    """Whether the Page's view offers the upload: it needs the paid channel's ad account."""
    return not store_audience.refusal(page)


class UploadCustomersView(PermissionCheckedMixin, ScopedObjectMixin, BaseOperationView):
    """Queue an upload of the shop's consenting customers to the Page's audience (POST)."""

    permission_required = "change"

    def perform_operation(self):
        user = self.request.user
        self.refused = store_audience.refusal(self.object)
        self.upload = None if self.refused else store_audience.request(self.object, by=user.get_username())
        if self.upload is not None:
            log(self.object, "onesend.page.upload_customers", user=user, data={"upload": self.upload.pk})

    def add_success_message(self):
        if self.refused:
            messages.error(self.request, self.refused)
        elif self.upload is None:
            messages.warning(self.request, _("An upload of this Page's customers is already under way."))
        else:
            messages.success(
                self.request, _("Upload started: its result shows under “Store customers at Meta”.")
            )
