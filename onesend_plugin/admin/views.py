"""Admin views beyond Wagtail's generic ones: the object views' scoping, accounts,
subscription-link sharing, and campaigns (listings, actions, test sends, progress). The
subscribers' views are :mod:`onesend_plugin.admin.subscribers`."""

from __future__ import annotations

import io
import uuid

import segno
from django import forms
from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect
from django.urls import resolve, reverse
from django.utils.functional import cached_property
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import TemplateView
from wagtail.admin.ui.menus import MenuItem
from wagtail.admin.ui.tables import StatusTagColumn
from wagtail.admin.views.generic import IndexView
from wagtail.admin.views.generic.base import BaseObjectMixin, WagtailAdminTemplateMixin
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.admin.widgets import HeaderButton
from wagtail.snippets.views import snippets

from .. import broadcast
from ..accounts import scoping
from ..messenger.errors import GraphError
from ..models import Campaign, MessengerPage, Subscriber, SubscriptionLink
from ..subscribe import links
from .forms import CampaignAudienceForm, SendTestForm
from .inspect import InspectView

#: The hidden field of a new campaign's form that ties its saves to one campaign.
FORM_KEY = "onesend_form_key"


class ScopedObjectMixin(BaseObjectMixin):
    """onesend's own object views: the object through :func:`scoping.get_or_404`, for the view's
    action (404 outside the user's accounts; permission denied when the role does not allow it)."""

    def get_object(self):
        required = getattr(self, "permission_required", None)
        action = required if isinstance(required, str) else "view"
        return scoping.get_or_404(self.model, self.pk, self.request.user, action)


class ObjectDownloadView(PermissionCheckedMixin, ScopedObjectMixin, View):
    """A file about one object, for anyone who may look at the object."""

    any_permission_required = ["view", "change"]

    def get_file(self) -> tuple[str, str, bytes | str]:
        """``(filename, content_type, content)``."""
        raise NotImplementedError

    def get(self, request, *args, **kwargs):
        filename, content_type, content = self.get_file()
        return HttpResponse(
            content,
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


# -- Accounts ------------------------------------------------------------------------------------


class AccountIndexView(IndexView):
    def get_list_more_buttons(self, instance):
        buttons = super().get_list_more_buttons(instance)
        if scoping.allows(self.request.user, instance, "change"):
            url = reverse("onesend_members", args=[instance.pk])
            buttons.append(MenuItem(_("Members"), url=url, icon_name="group", priority=20))
        return buttons


# -- Subscription links ----------------------------------------------------------------------------


QR_KINDS = {"png": "image/png", "svg": "image/svg+xml"}


def public_url(request, link: SubscriptionLink) -> str:
    """The link as people get it, shared or printed: absolute, with the link's source and tags."""
    return request.build_absolute_uri(links.click_url(link.page, link.ref, link.tag_list))


class SubscriptionLinkIndexView(IndexView):
    def get_base_queryset(self):
        subscribers = (
            Subscriber.objects.filter(page=OuterRef("page"), source_ref=OuterRef("ref"))
            .order_by()
            .values("page")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_base_queryset()
            .select_related("page")
            .annotate(subscriber_count=Coalesce(Subquery(subscribers), 0))
        )


class SubscriptionLinkInspectView(InspectView):
    """The link to copy and its QR code, with downloads for print."""

    template_name = "onesend_plugin/admin/subscriptionlink_inspect.html"
    qr_url_name = None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        url = public_url(self.request, self.object)
        context["public_url"] = url
        context["qr_svg"] = mark_safe(segno.make(url, error="m").svg_inline(scale=5))
        context["qr_downloads"] = [
            (kind.upper(), reverse(self.qr_url_name, args=[self.object.pk, kind])) for kind in QR_KINDS
        ]
        return context


class SubscriptionLinkQRCodeView(ObjectDownloadView):
    """The link's QR code as a print-quality PNG or SVG file."""

    def get_file(self):
        kind = self.kwargs["kind"]
        if kind not in QR_KINDS:
            raise Http404
        out = io.BytesIO()
        segno.make(public_url(self.request, self.object), error="m").save(out, kind=kind, scale=20)
        return f"{self.object.ref}-qr.{kind}", QR_KINDS[kind], out.getvalue()


# -- Campaigns -------------------------------------------------------------------------------------

Status = Campaign.Status


def percent_label(campaign) -> str:
    return f"{campaign.progress['percent']:.0f}%" if campaign.progress["audience"] else "—"


def audience_label(campaign) -> int | str:
    """The audience the campaign started with; "—" before it starts, since it is counted then (a
    draft's page says how many would receive it now; a 0 here would contradict it)."""
    return campaign.progress["audience"] if campaign.started_at else "—"


class CampaignStatusColumn(StatusTagColumn):
    """The status as a tag coloured by status (Wagtail's own tags have one accent only)."""

    cell_template_name = "onesend_plugin/admin/campaign_status_cell.html"

    class Media:
        css = {"all": ["onesend_plugin/css/campaign-admin.css"]}


class CampaignIndexView(snippets.IndexView):
    """Lists and exports each broadcast with its progress as the engine counts it; columns and
    export fields read it as ``progress.<key>``. Flows (campaigns with a trigger) have a list of
    their own (:class:`FlowIndexView`): they are on or off, never "sending" to an audience."""

    flows = False
    other_list_url_name = None

    def get_base_queryset(self):
        queryset = super().get_base_queryset().select_related("page")
        return queryset.exclude(trigger_event="") if self.flows else queryset.filter(trigger_event="")

    @cached_property
    def header_buttons(self):
        label = _("Broadcasts") if self.flows else _("Flows")
        icon = "mail" if self.flows else "rotate"
        return [
            *super().header_buttons,
            HeaderButton(label, url=reverse(self.other_list_url_name), icon_name=icon),
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for campaign in context["table"].data:  # this page's rows, before they are rendered
            campaign.progress = broadcast.progress(campaign)
        return context

    def to_row_dict(self, item):
        item.progress = broadcast.progress(item)
        return super().to_row_dict(item)


class FlowIndexView(CampaignIndexView):
    """The flows: each one Active or Paused, with what triggers it and how many it sent."""

    flows = True
    page_title = _("Flows")


def posted_form_key(request) -> uuid.UUID | None:
    """The new-campaign form's key in a save of it (see ``CampaignCreateView``)."""
    try:
        return uuid.UUID(request.POST.get(FORM_KEY, ""))
    except ValueError:
        return None


class CampaignCreateView(snippets.CreateView):
    """Makes one campaign per new-campaign form, in whatever order its saves arrive.

    Wagtail's autosave makes the campaign from the new form, and only its answer turns the page
    into the campaign's edit form. A Publish or Save draft pressed before that answer (on a slow
    server, or while the autosave still waits to start) posts here too, and both made a
    campaign. So the form carries a key the campaign keeps: a later save of the same form edits
    that campaign, as it would have after the answer, and a late autosave is refused the way
    Wagtail refuses one that would overwrite a newer version.
    """

    def get_initial(self):
        """The Page, when the user may make campaigns for one Page only (a client's usual case):
        there is nothing to choose."""
        initial = super().get_initial()
        pages = scoping.scope(MessengerPage.objects.all(), self.request.user, ("add",))[:2]
        if len(pages) == 1:
            initial["page"] = pages[0].pk
        return initial

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.fields[FORM_KEY] = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4, required=False)
        return form

    def post(self, request, *args, **kwargs):
        key = posted_form_key(request)
        if key is not None and (made := Campaign.objects.filter(form_key=key).first()):
            return self.save_made(made)
        try:
            return super().post(request, *args, **kwargs)
        except IntegrityError:  # the form's other save made it meanwhile
            if key is None or not (made := Campaign.objects.filter(form_key=key).first()):
                raise
            return self.save_made(made)

    def save_instance(self):
        self.form.instance.form_key = posted_form_key(self.request)
        return super().save_instance()

    def save_made(self, campaign: Campaign):
        """This save of a form whose campaign exists: an edit of it, or for an autosave, a refusal.
        The new form's buttons carry no ids (the answer would have given them), so the edit, which
        starts from the first save's revision, would add them beside that revision's: the revision
        forgets its buttons first, and the form's replace them (publishing deletes the old rows)."""
        if self.expects_json_response:
            return self.json_error_response("invalid_revision", _("Saving will overwrite a newer version."))
        if revision := campaign.latest_revision:
            revision.content.update(buttons=[], variant_b_buttons=[])
            revision.save(update_fields=["content"])
        edit = resolve(reverse(self.edit_url_name, args=[campaign.pk]))
        return edit.func(self.request, *edit.args, **edit.kwargs)


class CampaignEditView(snippets.EditView):
    """Puts "Sending and progress" in the header: editors look there to send what they wrote."""

    @cached_property
    def header_buttons(self):
        return [HeaderButton(_("Sending and progress"), url=self.get_inspect_url(), icon_name="mail")]


class CampaignInspectView(snippets.InspectView):
    """The campaign's control room: its live progress and the actions its status allows
    (send, pause, resume, cancel, retry, send a test) for users who may send."""

    page_title = _("Sending and progress")
    template_name = "onesend_plugin/admin/campaign_inspect.html"
    # Which actions each status offers; the engine still refuses a transition that is not allowed.
    actions_by_status = {
        Status.DRAFT: ["send"],
        Status.SCHEDULED: ["pause", "cancel"],
        Status.RUNNING: ["pause", "cancel"],
        Status.PAUSED: ["resume", "cancel"],
    }
    action_url_names: dict[str, str] = {}
    progress_url_name = None

    def get_fields_context(self):
        """The settings this campaign uses: those left empty are not listed (a row of "None"
        per unused option says nothing)."""
        return [field for field in super().get_fields_context() if field["value"] not in (None, "", "-")]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        campaign, args = self.object, [self.object.pk]
        context["progress"] = broadcast.progress(campaign)
        context["progress_url"] = reverse(self.progress_url_name, args=args)
        context["not_sent_url"] = reverse("onesend_reports:campaign_not_sent", args=args)
        if campaign.status == Status.DRAFT and not campaign.is_flow:  # as the confirmation counts it
            context["audience_now"], context["audience_error"] = broadcast.count(campaign)
        if campaign.started_at:
            context["report_url"] = reverse("onesend_reports:campaign", args=args)
        can = self.permission_policy.user_has_permission_for_instance
        if can(self.request.user, "send", campaign):
            names = list(self.actions_by_status.get(campaign.status, []))
            if not campaign.live:
                names = [name for name in names if name != "send"]
            if context["progress"]["unknown"] and campaign.status != Status.CANCELLED:
                names.append("retry_unknown")
            context["actions"] = [(name, reverse(self.action_url_names[name], args=args)) for name in names]
        if can(self.request.user, "send_test", campaign):  # editors too: a test reaches one person
            context["send_test_url"] = reverse(self.action_url_names["send_test"], args=args)
            context["send_test_form"] = SendTestForm(page=campaign.page, ab_test=tests_variants(campaign))
        return context


class CampaignObjectView(PermissionCheckedMixin, ScopedObjectMixin, WagtailAdminTemplateMixin, TemplateView):
    """A page about one campaign, under its "Sending and progress" page in the breadcrumbs."""

    permission_required = "send"
    index_url_name = None
    inspect_url_name = None

    def get_page_subtitle(self):
        return str(self.object)

    def get_context_data(self, **kwargs):
        return super().get_context_data(object=self.object, **kwargs)

    def get_breadcrumbs_items(self):
        return self.breadcrumbs_items + [
            {"url": reverse(self.index_url_name), "label": capfirst(Campaign._meta.verbose_name_plural)},
            {"url": self.inspect_url, "label": str(self.object)},
            {"url": "", "label": self.get_page_title(), "sublabel": self.get_page_subtitle()},
        ]

    @cached_property
    def inspect_url(self):
        return reverse(self.inspect_url_name, args=[self.object.pk])


class CampaignActionView(CampaignObjectView):
    """Runs one engine action on POST and says how it went. Actions with a ``button_label``
    have a confirmation page (GET); the others are only posted from the progress page."""

    template_name = "onesend_plugin/admin/campaign_confirm.html"
    confirmation_message = None
    button_label = None
    button_classname = "button"
    can_confirm = True  # False: the page says why it can't be done, and offers no button

    def get(self, request, *args, **kwargs):
        if not self.button_label:
            return self.http_method_not_allowed(request, *args, **kwargs)
        return super().get(request, *args, **kwargs)

    def perform(self) -> str:
        """Call the engine; return the success message."""
        raise NotImplementedError

    def post(self, request, *args, **kwargs):
        try:
            messages.success(request, self.perform())
        except broadcast.CampaignError as exc:
            messages.error(request, str(exc))
        return redirect(self.inspect_url)


class PauseCampaignView(CampaignActionView):
    def perform(self):
        broadcast.pause(self.object, user=self.request.user)
        return _("Paused. Nothing more is sent until you resume it.")


class ResumeCampaignView(CampaignActionView):
    def perform(self):
        broadcast.resume(self.object, user=self.request.user)
        return _("Resumed.")


class CancelCampaignView(CampaignActionView):
    page_title = _("Cancel")
    confirmation_message = _(
        "Cancel this campaign? Messages not sent yet will never be sent; messages already sent "
        "stay sent. This cannot be undone."
    )
    button_label = _("Yes, cancel it")
    button_classname = "button serious"

    def perform(self):
        broadcast.cancel(self.object, user=self.request.user)
        return _("Cancelled. Nothing more will be sent.")


class RetryUnknownView(CampaignActionView):
    page_title = _("Retry unknown")
    confirmation_message = _(
        "A worker stopped while sending these messages: each may or may not have reached its "
        "recipient. Retrying sends them again, so some people may get the message twice."
    )
    button_label = _("Yes, retry them")

    def perform(self):
        count = broadcast.retry_unknown(self.object, user=self.request.user)
        return _("%(count)s messages queued again.") % {"count": count}


class SendTestView(CampaignObjectView):
    """Send the latest draft to one subscriber of the Page, to see it in Messenger."""

    page_title = _("Send a test")
    template_name = "onesend_plugin/admin/campaign_send_test.html"
    permission_required = "send_test"  # ``onesend.send_campaign``, and a role that may test (editors)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", SendTestForm(page=self.object.page, ab_test=tests_variants(self.object)))
        return context

    def post(self, request, *args, **kwargs):
        form = SendTestForm(request.POST, page=self.object.page, ab_test=tests_variants(self.object))
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        subscriber = form.cleaned_data["subscriber"]
        variant = form.cleaned_data.get("variant", "a")
        try:
            broadcast.send_test(self.object, subscriber, user=request.user, variant=variant)
        except (broadcast.CampaignError, GraphError) as exc:
            messages.error(request, _("The test was not sent: %(error)s") % {"error": exc})
        else:
            sent = (
                _("Test of variant %(variant)s sent to %(person)s.")
                if "variant" in form.fields
                else _("Test sent to %(person)s.")
            )
            messages.success(request, sent % {"variant": variant.upper(), "person": subscriber.label})
        return redirect(self.inspect_url)


def tests_variants(campaign: Campaign) -> bool:
    """Whether the draft a test sends is an A/B test (the test form then asks which variant)."""
    return campaign.get_latest_revision_as_object().ab_test


class CampaignProgressView(PermissionCheckedMixin, ScopedObjectMixin, View):
    """``broadcast.progress`` as JSON, polled by the progress page."""

    any_permission_required = ["add", "change", "delete", "view"]

    def get(self, request, *args, **kwargs):
        return JsonResponse(broadcast.progress(self.object), encoder=DjangoJSONEncoder)


class CampaignAudienceView(PermissionCheckedMixin, View):
    """How many subscribers the audience settings in the query string would reach now, for the
    edit form's live count, or why that can't be said (a plugin failing, a segment not offered).
    With a pk, for that campaign (plugins may filter by campaign)."""

    any_permission_required = ["add", "change"]
    model = Campaign

    def get(self, request, pk=None):
        campaign = scoping.get_or_404(Campaign, pk, request.user, "change") if pk else Campaign()
        form = CampaignAudienceForm(request.GET, instance=campaign)
        scoping.scope_fields(form.fields, request.user, ("add", "change"))  # only the user's Pages
        if not form.is_valid():
            return HttpResponseBadRequest(form.errors.as_json(), content_type="application/json")
        count, error = broadcast.count(form.instance)
        return JsonResponse({"count": count, "error": error})
