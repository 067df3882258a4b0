"""“Send to Messenger subscribers” in Wagtail's page editor: its action menu, the page header's
and the page listing's “More” menus, and an offer after publishing a page whose type asks for it
(``broadcast.from_page``). Each leads to one view: what the draft will say, which Messenger Page
it goes to when the user can reach several, and a button that makes the draft and opens it in
the campaign editor. Nothing is ever sent from here.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView
from wagtail.admin import messages
from wagtail.admin.action_menu import ActionMenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.widgets import Button
from wagtail.models import Page
from wagtail.permissions import policy_registry

from ..accounts import scoping
from ..broadcast import from_page
from ..models import Campaign, MessengerPage

URL_NAME = "onesend_send_page"
LABEL = gettext_lazy("Send to Messenger subscribers")
#: The form field naming the chosen Messenger Page.
CHOICE = "messenger_page"


def messenger_pages(user, page):
    """The Messenger Pages the user may make a campaign about ``page`` for (``from_page``'s rule
    on the Pages the user's roles allow adding campaigns to), kept on the user for the request:
    a page listing asks once per row."""
    cache = user.__dict__.setdefault("_onesend_send_page_choices", {})
    site = page.get_site()
    key = site.pk if site else None
    if key not in cache:
        pages = scoping.scope(MessengerPage.objects.all(), user, ("add",))
        cache[key] = list(from_page.messenger_pages(pages, site))
    return cache[key]


def may_send(user, page) -> bool:
    """Whether to offer the action: a live page the user may edit (the action belongs to the
    page's editor), a user who may add campaigns, and a Messenger Page the campaign can go to."""
    return bool(
        page.live
        and policy_registry.get_by_type(Campaign).user_has_permission(user, "add")
        and page.permissions_for_user(user).can_edit()
        and messenger_pages(user, page)
    )


def send_page_url(page) -> str:
    return reverse(URL_NAME, args=[page.pk])


class SendPageView(WagtailAdminTemplateMixin, TemplateView):
    """GET: the draft the page makes and, when the user reaches several Messenger Pages (the
    page's site is no single client's), the choice of one. POST: make the draft, open it."""

    template_name = "onesend_plugin/admin/send_page.html"
    header_icon = "mail"
    _show_breadcrumbs = True

    def dispatch(self, request, *args, **kwargs):
        self.page = get_object_or_404(Page, pk=kwargs["page_pk"]).specific
        if not may_send(request.user, self.page):
            raise PermissionDenied
        if from_page.page_url(self.page) is None:
            messages.error(request, _("This page has no address on a site: it cannot be linked to."))
            return redirect("wagtailadmin_pages:edit", self.page.pk)
        self.choices = messenger_pages(request.user, self.page)
        return super().dispatch(request, *args, **kwargs)

    def get_page_title(self):
        return str(LABEL)

    def get_page_subtitle(self):
        return self.page.get_admin_display_title()

    def get_breadcrumbs_items(self):
        return self.breadcrumbs_items + [
            {"url": reverse("wagtailadmin_pages:edit", args=[self.page.pk]), "label": self.page.title},
            {"url": "", "label": LABEL},
        ]

    def get_context_data(self, **kwargs):
        chosen = self.chosen() or self.choices[0]
        return super().get_context_data(
            page=self.page,
            draft=from_page.build(self.page, chosen),
            choices=self.choices,
            chosen=chosen,
            choice_name=CHOICE,
            **kwargs,
        )

    def chosen(self) -> MessengerPage | None:
        """The Messenger Page picked in the form (one of the choices), or the only choice."""
        if len(self.choices) == 1:
            return self.choices[0]
        picked = self.request.POST.get(CHOICE) or self.request.GET.get(CHOICE)
        return next((p for p in self.choices if str(p.pk) == picked), None)

    def post(self, request, *args, **kwargs):
        messenger_page = self.chosen()
        if messenger_page is None:
            messages.error(request, _("Choose the Messenger Page the campaign is for."))
            return self.get(request, *args, **kwargs)
        campaign = from_page.create_draft(self.page, messenger_page, request.user)
        messages.success(
            request,
            _(
                "A draft campaign was made from '%(title)s'. Review it, send yourself a test, "
                "then publish and send it: nothing goes out before you confirm."
            )
            % {"title": self.page.title},
        )
        return redirect(Campaign.snippet_viewset.get_url_name("edit"), campaign.pk)


class SendPageMenuItem(ActionMenuItem):
    """The page editor's action menu entry (edit view only: a new page has nothing to link to)."""

    label = LABEL
    name = "action-onesend-send-page"
    icon_name = "mail"

    def is_shown(self, context):
        return context["view"] == "edit" and may_send(context["request"].user, context["page"])

    def get_url(self, parent_context):
        return send_page_url(parent_context["page"])


def page_buttons(page, user, view_name=None, next_url=None):
    """The entry in the page header's and the page listing's "More" menus."""
    if may_send(user, page):
        yield Button(LABEL, send_page_url(page), icon_name="mail", priority=90)


def offer_after_publish(request, page) -> None:
    """After a page whose type sets ``onesend_offer_campaign`` is published: a message with a
    link to the draft's view. Only an offer: the draft is made, reviewed and sent by a person.
    None for a publication scheduled for later: the page's own menu offers it once it is out."""
    if from_page.offers_campaign(page) and not page.approved_schedule and may_send(request.user, page):
        messages.info(
            request,
            _("'%(title)s' is published. Tell your Messenger subscribers about it?") % {"title": page.title},
            buttons=[messages.button(send_page_url(page), _("Send it to Messenger subscribers"))],
        )


def admin_urls() -> list:
    return [path("messenger/send-page/<int:page_pk>/", SendPageView.as_view(), name=URL_NAME)]
