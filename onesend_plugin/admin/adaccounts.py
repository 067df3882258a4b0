"""The admin side of connecting a paid-channel Page's ad account ("Connect the ad account", from
the Page's connection panel). The Meta side is :mod:`onesend_plugin.accounts.adaccounts`."""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import FormView
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.log_actions import log

from ..accounts import adaccounts, onboarding, scoping
from ..messenger import login as facebook_login
from ..models import MessengerPage, PaidLoginFlow
from .onboarding import URLS
from .views import ScopedObjectMixin

AD_ACCOUNT_ID = re.compile(r"(act_)?\d{1,20}")


class ConnectAdAccountForm(forms.Form):
    flow = forms.ChoiceField(label=_("How the business logs in"))
    ad_account_id = forms.CharField(
        label=_("Ad account ID"),
        required=False,
        max_length=64,
        help_text=_(
            "act_<id>, as Meta Business Settings shows it; choose it in the Facebook dialog too. Not "
            "used by Partner Billing: your own ad account is billed."
        ),
    )

    def __init__(self, *args, flows: list[PaidLoginFlow], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["flow"].choices = [(flow.value, flow.label) for flow in flows]

    def clean(self):
        cleaned = super().clean()
        account = (cleaned.get("ad_account_id") or "").strip()
        if cleaned.get("flow") != PaidLoginFlow.PARTNER and not AD_ACCOUNT_ID.fullmatch(account):
            self.add_error("ad_account_id", _("Enter the ad account ID: act_ followed by digits."))
        cleaned["ad_account_id"] = account
        return cleaned


def callback_url(request) -> str:
    """Where Meta sends the browser back (add it to the Login for Business settings' Valid OAuth
    Redirect URIs)."""
    return request.build_absolute_uri(reverse(f"{URLS}:ad_account_callback"))


class ConnectAdAccountView(PermissionCheckedMixin, ScopedObjectMixin, WagtailAdminTemplateMixin, FormView):
    """Which Login for Business flow (and ad account), then off to Meta's dialog."""

    model = MessengerPage
    permission_required = "change"
    template_name = "onesend_plugin/admin/page_connect_ad_account.html"
    form_class = ConnectAdAccountForm
    page_title = _("Connect the ad account")
    header_icon = "comment"

    def get_page_subtitle(self):
        return str(self.object)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "flows": adaccounts.offered_flows()}

    def get_initial(self):
        return {"ad_account_id": self.object.ad_account_id}

    def get_context_data(self, **kwargs):
        return super().get_context_data(object=self.object, flows=adaccounts.offered_flows(), **kwargs)

    def form_valid(self, form):
        flow, account = form.cleaned_data["flow"], form.cleaned_data["ad_account_id"]
        data = {"page": self.object.pk, "flow": flow, "ad_account": account}
        state = onboarding.make_state(self.request.session, "ad_account", data)
        return redirect(adaccounts.dialog_url(self.object, flow, callback_url(self.request), state))


class AdAccountCallbackView(PermissionCheckedMixin, View):
    """Meta sends the browser back here: check the ``state``, connect, back to the Page's panel."""

    model = MessengerPage
    permission_required = "change"

    def get(self, request, *args, **kwargs):
        answer = facebook_login.read_answer(request.GET)
        try:
            data = onboarding.read_state(request.session, answer.state, "ad_account")
        except onboarding.OnboardingError as exc:
            messages.error(request, str(exc))
            return redirect(f"{URLS}:index")
        page = scoping.get_or_404(MessengerPage, data["page"], request.user, "change")
        back = redirect(f"{URLS}:inspect", page.pk)
        if answer.error:
            messages.error(
                request,
                _("The Facebook login was cancelled (%(reason)s). Nothing was connected.")
                % {"reason": answer.error},
            )
            return back
        try:
            account = adaccounts.connect(
                page,
                data["flow"],
                code=answer.code,
                redirect_uri=callback_url(request),
                ad_account_id=data["ad_account"],
            )
        except onboarding.OnboardingError as exc:
            messages.error(request, str(exc))
            return back
        health = onboarding.refresh(page)
        log(
            page,
            "onesend.page.connect_ad_account",
            user=request.user,
            data={"ad_account": page.ad_account_id, "flow": data["flow"], "health": health},
        )
        text = _("%(page)s sends paid messages through %(account)s (%(currency)s).") % {
            "page": page.name,
            "account": account.name or page.ad_account_id,
            "currency": account.currency,
        }
        if onboarding.is_healthy(health):
            messages.success(request, text)
        else:
            messages.warning(request, f"{text} {_('See its health panel.')}")
        return back
