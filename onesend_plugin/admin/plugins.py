"""The "Messenger plugins" settings page, for agency staff only: what ``onesend_plugins`` prints
(:func:`onesend_plugin.hooks.loaded`), so a broken plugin is seen without shell access."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.defaults import permission_denied
from django.views.generic import TemplateView
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from ..accounts import scoping
from ..hooks import loaded
from .agency import AgencyStaffMenuItem

URL_NAME = "onesend_plugins"


class PluginsView(WagtailAdminTemplateMixin, TemplateView):
    page_title = _("Messenger plugins")
    header_icon = "cogs"
    template_name = "onesend_plugin/admin/plugins.html"

    def dispatch(self, request, *args, **kwargs):
        if not scoping.is_agency(request.user):  # a plain 403: Wagtail would redirect home
            return permission_denied(request, PermissionDenied())
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "loaded": loaded()}


def menu_item() -> MenuItem:
    return AgencyStaffMenuItem(
        _("Messenger plugins"), reverse(URL_NAME), name="onesend-plugins", icon_name="cogs", order=900
    )


def admin_urls() -> list:
    return [path("messenger/plugins/", PluginsView.as_view(), name=URL_NAME)]
