"""The agency overview page, for agency staff only: every client account on one page (the
figures are :mod:`onesend_plugin.accounts.overview`'s)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from ..accounts import scoping
from ..accounts.overview import ERROR_PERIOD, GROWTH_PERIOD, overview
from . import switcher

URL_NAME = "onesend_agency"


class AgencyOverviewView(WagtailAdminTemplateMixin, TemplateView):
    page_title = _("Agency overview")
    header_icon = "group"
    template_name = "onesend_plugin/admin/agency_overview.html"

    def dispatch(self, request, *args, **kwargs):
        if not scoping.is_agency(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["rows"] = overview()
        context["growth_days"] = GROWTH_PERIOD.days
        context["error_days"] = ERROR_PERIOD.days
        return context


class AgencyStaffMenuItem(MenuItem):
    """A menu item for agency staff only."""

    def is_shown(self, request):
        return scoping.is_agency(request.user)


class AgencyMenuItem(AgencyStaffMenuItem):
    """The overview's: shown once there is a second account to compare with the first."""

    def is_shown(self, request):
        return super().is_shown(request) and switcher.several_accounts(request)


def menu_item() -> MenuItem:
    return AgencyMenuItem(
        _("Agency overview"), reverse(URL_NAME), name="onesend-agency", icon_name="group", order=245
    )


def admin_urls() -> list:
    return [path("messenger/agency/", AgencyOverviewView.as_view(), name=URL_NAME)]
