"""The admin side of connecting Facebook Pages ("Connect a Facebook Page") and of a Page's
connection health (its inspect view and the "Re-check" action). The Meta side is
:mod:`onesend_plugin.accounts.onboarding`."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView, TemplateView
from wagtail.admin.views.generic import CreateView, EditView, IndexView
from wagtail.admin.views.generic.base import BaseOperationView, WagtailAdminTemplateMixin
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.admin.widgets import HeaderButton
from wagtail.log_actions import log

from ..accounts import onboarding, scoping
from ..broadcast import ratelimit
from ..messenger import login as facebook_login
from ..messenger.errors import GraphError
from ..models import Account, Channel, Delivery, MessengerPage, MetaApp
from . import paid_health, store_audience, token_import
from .inspect import InspectView
from .views import ScopedObjectMixin

#: The Pages viewset's URL names (``MessengerPageViewSet.name``).
URLS = "onesend_pages"


class ConnectPageForm(forms.Form):
    account = forms.ModelChoiceField(queryset=Account.objects.all(), label=_("Client account"))
    app = forms.ModelChoiceField(
        queryset=MetaApp.objects.all(),
        label=_("Meta app"),
        help_text=_("The app whose webhooks and permissions the Page will use."),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if not scoping.is_agency(user):  # Meta apps are the agency's: clients never pick (or see) them
            del self.fields["app"]

    def clean(self):
        cleaned = super().clean()
        account = cleaned.get("account")
        if account is not None and "app" not in self.fields:
            cleaned["app"] = default_app(account)
            if cleaned["app"] is None:
                raise forms.ValidationError(_("Ask agency staff to connect this account's first Page."))
        return cleaned


def default_app(account: Account) -> MetaApp | None:
    """The app of the account's latest Page, else the install's only app."""
    page = account.pages.select_related("app").order_by("-created_at").first()
    if page is not None:
        return page.app
    apps = list(MetaApp.objects.all()[:2])
    return apps[0] if len(apps) == 1 else None


class ConnectMixin(PermissionCheckedMixin, WagtailAdminTemplateMixin):
    """Both steps: for people who may add Pages, under the Pages listing in the breadcrumbs."""

    model = MessengerPage  # its permission policy: adding Pages
    permission_required = "add"
    page_title = _("Connect a Facebook Page")
    header_icon = "comment"

    def get_breadcrumbs_items(self):
        return self.breadcrumbs_items + [
            {"url": reverse(f"{URLS}:index"), "label": capfirst(MessengerPage._meta.verbose_name_plural)},
            {"url": "", "label": self.get_page_title()},
        ]


class ConnectPageView(ConnectMixin, FormView):
    """Step 1: which client account (and Meta app) the Pages are for; then off to Meta's dialog."""

    template_name = "onesend_plugin/admin/page_connect.html"
    form_class = ConnectPageForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def get_initial(self):
        return {"account": scoping.active_account(self.request)}

    def form_valid(self, form):
        account, app = form.cleaned_data["account"], form.cleaned_data["app"]
        state = onboarding.make_state(self.request.session, "page", {"account": account.pk, "app": app.pk})
        return redirect(onboarding.dialog_url(app, callback_url(self.request), state))


def callback_url(request) -> str:
    return request.build_absolute_uri(reverse(f"{URLS}:connect_callback"))


class ConnectCallbackView(ConnectMixin, TemplateView):
    """Step 2: Meta sends the browser back here. GET: check the ``state``, exchange the code,
    check the permissions and list the Pages to choose. POST: connect the chosen ones."""

    template_name = "onesend_plugin/admin/page_connect_choose.html"

    def get(self, request, *args, **kwargs):
        answer = facebook_login.read_answer(request.GET)
        try:
            ids = onboarding.read_state(request.session, answer.state, "page")
            account = scoping.get_or_404(Account, ids["account"], request.user, "add")
            app = MetaApp.objects.get(pk=ids["app"])
        except (onboarding.OnboardingError, MetaApp.DoesNotExist) as exc:
            return self.fail(str(exc) or _("That Meta app no longer exists."))
        if answer.error:
            return self.fail(
                _("The Facebook login was cancelled (%(reason)s). Nothing was connected.")
                % {"reason": answer.error}
            )
        try:
            login = onboarding.finish_login(app, callback_url(request), answer.code)
        except GraphError as exc:
            return self.fail(_("Meta refused the login: %(error)s") % {"error": exc})
        if login.missing_required:
            return self.fail(
                _(
                    "Meta did not grant %(permissions)s: onesend cannot send messages without it. "
                    "Connect again and leave it ticked in the Facebook dialog."
                )
                % {"permissions": ", ".join(login.missing_required)}
            )
        if login.missing_marketing:
            messages.warning(
                request,
                _("Not granted: %(permissions)s. The paid Marketing Messages API channel will not work.")
                % {"permissions": ", ".join(login.missing_marketing)},
            )
        request.session[onboarding.LOGIN_KEY] = {
            "token": login.user_token,
            "account": account.pk,
            "app": app.pk,
        }
        return self.render_to_response(
            self.get_context_data(account=account, choices=self.choices(account, login))
        )

    def choices(self, account: Account, login: onboarding.Login) -> list[dict]:
        """The Pages the person chose in Meta's dialog, each with what connecting it would do."""
        existing = {
            page.page_id: page
            for page in MessengerPage.objects.filter(page_id__in=[p.page_id for p in login.pages])
        }
        rows = []
        for managed in login.pages:
            page = existing.get(managed.page_id)
            if page is None:
                state, note = "new", ""
            elif page.account_id == account.pk:
                state, note = "connected", _("Already connected: connecting again renews its token.")
            else:
                state, note = "elsewhere", _("Connected to another client account: it will not be moved.")
            rows.append({"page": managed, "state": state, "note": note})
        return rows

    def post(self, request, *args, **kwargs):
        pending = request.session.pop(onboarding.LOGIN_KEY, None)
        if not isinstance(pending, dict):
            return self.fail(_("No Facebook login to finish. Please start again."))
        account = scoping.get_or_404(Account, pending["account"], request.user, "add")
        app = MetaApp.objects.filter(pk=pending["app"]).first()
        chosen = set(request.POST.getlist("page_id"))
        if app is None or not chosen:
            return self.fail(_("No Page was chosen. Nothing was connected."))
        try:
            login = onboarding.read_login(pending["token"], app)
        except GraphError as exc:
            return self.fail(_("Meta refused the login: %(error)s") % {"error": exc})
        connected = []
        for managed in login.pages:
            if managed.page_id not in chosen:
                continue
            try:
                page = onboarding.connect(account, app, managed)
            except onboarding.OnboardingError as exc:
                messages.error(request, _("%(page)s: %(error)s") % {"page": managed.name, "error": exc})
                continue
            log(page, "onesend.page.connect", user=request.user, data={"health": page.health})
            connected.append(page)
            if onboarding.is_healthy(page.health):
                messages.success(request, _("%(page)s is connected and healthy.") % {"page": page.name})
            else:
                messages.warning(
                    request, _("%(page)s is connected, but see its health panel.") % {"page": page.name}
                )
        if len(connected) == 1:
            return redirect(f"{URLS}:inspect", connected[0].pk)
        return redirect(f"{URLS}:index")

    def fail(self, message):
        messages.error(self.request, message)
        return redirect(f"{URLS}:connect")


# -- The Pages listing and the Page's health --------------------------------------------------------


class MessengerPageIndexView(IndexView):
    """The Pages listing, with "Connect a Facebook Page" next to manual "Add"."""

    @cached_property
    def header_buttons(self):
        buttons = list(super().header_buttons)
        if self.permission_policy.user_has_permission(self.request.user, "add"):
            url = reverse(f"{URLS}:connect")
            buttons.insert(0, HeaderButton(_("Connect a Facebook Page"), url=url, icon_name="plus"))
        return buttons


def health_rows(page: MessengerPage) -> list[dict]:
    """The health panel: one row per question; ``ok`` is True (good), False (bad) or None (no verdict)."""
    return [*_check_rows(page), *paid_health.rows(page), *_activity_rows(page)]


def _check_rows(page: MessengerPage) -> list[dict]:
    """What the last check asked Meta (``onboarding.check_health``)."""
    health = page.health or {}
    if page.health_checked_at is None:
        return [{"label": _("Token valid"), "ok": None, "text": _("Not checked yet: press Re-check.")}]
    valid = health.get("token_valid")
    rows = [
        {
            "label": _("Token valid"),
            "ok": valid,
            "text": _("Yes") if valid else health.get("error") or _("Could not check"),
        }
    ]
    if not valid:
        return rows
    missing, marketing = health.get("permissions_missing") or [], health.get("marketing_missing") or []
    text = _("Missing: %(names)s") % {"names": ", ".join(missing)} if missing else str(_("Yes"))
    if marketing:
        text += " " + _("(not granted, needed by the paid Marketing Messages API: %(names)s)") % {
            "names": ", ".join(marketing)
        }
    rows.append({"label": _("Permissions granted"), "ok": not missing, "text": text})
    fields = health.get("fields_missing") or []
    if not health.get("app_subscribed"):
        text = _("No: Meta sends this Page's webhooks to no onesend app.")
    elif fields:
        text = _("Missing fields: %(names)s") % {"names": ", ".join(fields)}
    else:
        text = _("Yes")
    rows.append(
        {
            "label": _("App subscribed to webhooks"),
            "ok": bool(health.get("app_subscribed")) and not fields,
            "text": text,
        }
    )
    rows.append(_get_started_row(health))
    return rows


def _get_started_row(health: dict) -> dict:
    """Whether the Page has a Get Started button: without it, Meta tells onesend nothing about
    a person new to the Page who opens its link (``accounts.get_started``)."""
    if health.get("get_started"):
        return {"label": _("Get Started button"), "ok": True, "text": _("Yes")}
    text = _("No: people new to the Page who open its subscribe link never reach onesend.")
    error = health.get("get_started_error")
    return {"label": _("Get Started button"), "ok": False, "text": f"{text} {error}" if error else text}


def _activity_rows(page: MessengerPage) -> list[dict]:
    """What onesend saw itself: webhooks, send errors, Meta's throttling."""
    rows = []
    last_webhook = page.last_webhook_at
    rows.append(
        {
            "label": _("Last webhook received"),
            "ok": None,
            "text": _("%(when)s ago") % {"when": timesince(last_webhook, timezone.now())}
            if last_webhook
            else _("Never"),
        }
    )
    failed = (
        Delivery.objects.filter(page=page, state=Delivery.State.FAILED)
        .exclude(error="")
        .order_by("-pk")
        .values("error", "campaign__name")
        .first()
    )
    rows.append(
        {
            "label": _("Last send error"),
            "ok": None if failed else True,
            "text": f"{failed['campaign__name']}: {failed['error']}" if failed else _("None"),
        }
    )
    waits = {media: ratelimit.available_in(ratelimit.bucket(page, media)[0]) for media in (False, True)}
    throttled = max(waits.values())
    rows.append(
        {
            "label": _("Rate limit"),
            "ok": throttled < 1,
            "text": _("Sending freely")
            if throttled < 1
            else _("Held for %(seconds)d s more (Meta asked to slow down)") % {"seconds": throttled},
        }
    )
    return rows


class SubscribeOnSaveMixin:
    """A Page added or edited by hand ("Add", a new token, app, id or channel): once saved (after
    commit), the app is subscribed to its webhook fields and the connection checked, as "Connect a
    Facebook Page" does; without it Meta sends the Page's webhooks nowhere. The Page stays saved
    whatever Meta answers: a problem is shown, with the health panel to fix it."""

    def save_instance(self):
        before = onboarding.connection(self.form.instance.pk)
        page = super().save_instance()
        if onboarding.is_new_connection(page, before):
            transaction.on_commit(lambda: self.subscribe_saved(page))
        return page

    def subscribe_saved(self, page: MessengerPage) -> None:
        health = onboarding.refresh(page)
        if onboarding.is_healthy(health):
            messages.success(
                self.request, _("%(page)s: the app is subscribed to its webhooks.") % {"page": page.name}
            )
            return
        problems = "; ".join(
            f"{row['label']}: {row['text']}" for row in _check_rows(page) if row["ok"] is False
        )
        messages.warning(
            self.request,
            _("%(page)s is saved, but its connection has a problem (%(problems)s). See its health panel.")
            % {"page": page.name, "problems": problems or health.get("error") or _("see below")},
        )


class MessengerPageCreateView(SubscribeOnSaveMixin, CreateView):
    pass


class MessengerPageEditView(SubscribeOnSaveMixin, EditView):
    pass


class MessengerPageInspectView(InspectView):
    """The Page's connection: what the last check found, and "Re-check" for those who may change it."""

    template_name = "onesend_plugin/admin/page_inspect.html"
    recheck_url_name = None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["health_rows"] = health_rows(self.object)
        context["healthy"] = onboarding.is_healthy(self.object.health or {})
        context["token_import"] = token_import.summary(self.object)
        context["store_audience"] = store_audience.summary(self.object)
        if self.permission_policy.user_has_permission_for_instance(self.request.user, "change", self.object):
            context["recheck_url"] = reverse(self.recheck_url_name, args=[self.object.pk])
            if onboarding.needs_subscribing(self.object.health or {}):
                context["subscribe_url"] = reverse(f"{URLS}:subscribe_app", args=[self.object.pk])
            context["import_tokens_url"] = reverse(f"{URLS}:import_tokens", args=[self.object.pk])
            if store_audience.offered(self.object):
                context["upload_customers_url"] = reverse(f"{URLS}:upload_customers", args=[self.object.pk])
            if self.object.channel in (Channel.MARKETING_API, Channel.PER_PERSON):
                context["ad_account_url"] = reverse(f"{URLS}:connect_ad_account", args=[self.object.pk])
        return context


class RecheckPageView(PermissionCheckedMixin, ScopedObjectMixin, BaseOperationView):
    """Ask Meta again about the Page's token, permissions and webhook subscription (POST)."""

    permission_required = "change"

    def perform_operation(self):
        health = onboarding.check_health(self.object)
        log(self.object, "onesend.page.recheck", user=self.request.user, data={"health": health})
        self.healthy = onboarding.is_healthy(health)

    def add_success_message(self):
        if self.healthy:
            messages.success(self.request, _("Re-checked: the connection is healthy."))
        else:
            messages.warning(self.request, _("Re-checked: the connection has problems (see below)."))


class SubscribeAppView(RecheckPageView):
    """The health panel's fix for a Page whose webhooks reach no onesend app: subscribe the app to
    its webhook fields, then check again (POST)."""

    def perform_operation(self):
        health = onboarding.refresh(self.object)
        log(self.object, "onesend.page.subscribe_app", user=self.request.user, data={"health": health})

    def add_success_message(self):
        if not onboarding.needs_subscribing(self.object.health or {}):
            messages.success(self.request, _("The app is subscribed to the Page's webhooks."))
        else:
            messages.error(
                self.request,
                _("Meta did not subscribe the app: %(error)s")
                % {"error": self.object.health.get("error") or _("see below")},
            )
