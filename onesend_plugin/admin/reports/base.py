"""What every report shares: its URL namespace and stylesheet, who may see it, its menu item."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.permissions import policy_registry

from ...models import Campaign

#: The URL namespace of the reports (``onesend_reports:<name>``).
NAMESPACE = "onesend_reports"
CSS = "onesend_plugin/css/reports.css"


def can_view_reports(user) -> bool:
    """Reports and their exports need the permission to view campaigns (superusers have it)."""
    return bool(user and user.is_authenticated) and policy_registry.get_by_type(Campaign).user_has_permission(
        user, "view"
    )


class CampaignReportPermissionMixin(PermissionCheckedMixin):
    """``view`` on campaigns, through the campaign permission policy (``onesend.view_campaign``)."""

    model = Campaign
    permission_required = "view"


def comparison_crumb() -> dict:
    return {"url": reverse(f"{NAMESPACE}:campaigns"), "label": _("Campaign performance")}


class CampaignReportsMenuItem(MenuItem):
    def is_shown(self, request):
        return can_view_reports(request.user)


def menu_item() -> MenuItem:
    return CampaignReportsMenuItem(
        _("Campaign performance"),
        reverse(f"{NAMESPACE}:campaigns"),
        name="onesend-campaign-performance",
        icon_name="mail",
        order=700,
    )
