"""The account switcher: people with several accounts (agency staff, a client user in more than one
account) pick the account they work on. The choice lives in the session
(``request.session["onesend_account"]``); listings, reports, exports and the dashboard panel narrow
to it through :func:`scoping.narrow`, always within the user's own accounts."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView
from wagtail.admin.menu import MenuItem
from wagtail.admin.ui.sidebar import LinkMenuItem as LinkMenuItemComponent
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from ..accounts import scoping

URL_NAME = "onesend_account_switch"


def several_accounts(request) -> bool:
    """Whether the site holds a second account (before that, there is nothing to switch between
    or to overview): asked once per request, for the menu items that depend on it."""
    if not hasattr(request, "_onesend_several_accounts"):
        request._onesend_several_accounts = scoping.several_accounts()
    return request._onesend_several_accounts


def has_choice(request) -> bool:
    user = request.user
    return several_accounts(request) and (scoping.is_agency(user) or len(scoping.roles(user)) > 1)


class AccountSwitchView(WagtailAdminTemplateMixin, TemplateView):
    page_title = _("Account")
    header_icon = "group"
    template_name = "onesend_plugin/admin/account_switch.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["accounts"] = scoping.accounts(self.request.user).order_by("name")
        context["active"] = scoping.active_account(self.request)
        context["next"] = self.request.GET.get("next", "")
        return context

    def post(self, request):
        value = request.POST.get("account", "")
        if value:
            account = scoping.accounts(request.user).filter(pk=value if value.isdigit() else None).first()
            if account is None:
                messages.error(request, _("You have no access to that account."))
                return redirect(URL_NAME)
            request.session[scoping.SESSION_KEY] = account.pk
            messages.success(request, _("Now working on %(account)s.") % {"account": account})
        else:
            request.session.pop(scoping.SESSION_KEY, None)
            messages.success(request, _("Now showing all your accounts."))
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            target = reverse("wagtailadmin_home")
        return redirect(target or "wagtailadmin_home")


class AccountSwitchMenuItem(MenuItem):
    """The "Account: <the active one>" main menu item, for people who have a choice."""

    def is_shown(self, request):
        return request.user.is_authenticated and has_choice(request)

    def render_component(self, request):
        active = scoping.active_account(request)
        account = scoping.accounts(request.user).filter(pk=active).first() if active else None
        label = _("Account: %(name)s") % {"name": account.name if account else _("all")}
        return LinkMenuItemComponent(
            self.name, label, self.url, icon_name=self.icon_name, classname=self.classname, attrs=self.attrs
        )


def menu_item() -> MenuItem:
    return AccountSwitchMenuItem(
        _("Account"), reverse(URL_NAME), name="onesend-account", icon_name="group", order=240
    )


def admin_urls() -> list:
    return [path("messenger/account/", AccountSwitchView.as_view(), name=URL_NAME)]
