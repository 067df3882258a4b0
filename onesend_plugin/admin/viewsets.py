"""Admin viewsets, grouped under one "Messenger" menu (a snippet group: campaigns are snippets)."""

from __future__ import annotations

import json

from django.http import Http404
from django.urls import path
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.views import View
from wagtail.admin.panels import (
    FieldPanel,
    FieldRowPanel,
    InlinePanel,
    MultiFieldPanel,
    ObjectList,
    TabbedInterface,
)
from wagtail.admin.ui.tables import Column, DateColumn, LiveStatusTagColumn, StatusTagColumn
from wagtail.admin.views.generic.models import InspectView
from wagtail.admin.views.mixins import SpreadsheetExportMixin
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.snippets.views.chooser import SnippetChooserViewSet
from wagtail.snippets.views.snippets import SnippetViewSet

from .. import scoping
from ..models import (
    MAX_BUTTONS,
    Account,
    Campaign,
    MessengerPage,
    MetaApp,
    Subscriber,
    SubscriptionLink,
    WebhookDelivery,
    WebhookEvent,
)
from . import onboarding, views
from .exports import SafeSpreadsheetExportMixin
from .filters import SubscriberFilterSet
from .forms import AccountForm, CampaignForm, MessengerPageForm, MetaAppForm
from .panels import AudienceCountPanel

# -- Account scoping: one wrapper for every view of every onesend viewset ---------------------------


def _action(view) -> str:
    """The action a view performs on its object: its ``permission_required``, else "view"."""
    required = getattr(view, "permission_required", None)
    return required if isinstance(required, str) else "view"


def _narrow(queryset, request):
    if queryset is not None and queryset.model in scoping.ACCOUNT_PATH:
        return scoping.narrow(queryset, request)
    return queryset  # not onesend's rows (log entries, revisions): found through a scoped object


_scoped_classes: dict[type, type] = {}


def scoped_view_class(view_class: type) -> type:
    """``view_class`` with every way it reaches onesend rows going through ``scoping``:

    * listings, exports and choosers (``get_base_queryset``, ``get_object_list``,
      ``get_objects``): only the user's accounts (and the account switcher's choice);
    * the object of an object view (``get_object``: edit, inspect, delete, history, usage, copy,
      revisions, preview, lock, unlock, and onesend's own actions): :func:`scoping.check` —
      404 outside the user's accounts, permission denied when the role does not allow the view's
      ``permission_required``;
    * model choice fields of its forms and filters (Pages, Accounts, Meta apps): only what the
      user may use;
    * spreadsheet exports: every CSV cell :func:`~.exports.spreadsheet_safe`.
    """
    if getattr(view_class, "onesend_scoped", False):
        return view_class
    if view_class in _scoped_classes:
        return _scoped_classes[view_class]
    attrs: dict = {"onesend_scoped": True, "__module__": view_class.__module__, "__doc__": view_class.__doc__}

    if hasattr(view_class, "get_base_queryset"):

        def get_base_queryset(self, *args, **kwargs):
            return _narrow(view_class.get_base_queryset(self, *args, **kwargs), self.request)

        attrs["get_base_queryset"] = get_base_queryset

    if hasattr(view_class, "get_object_list"):

        def get_object_list(self, *args, **kwargs):
            return _narrow(view_class.get_object_list(self, *args, **kwargs), self.request)

        attrs["get_object_list"] = get_object_list

    if hasattr(view_class, "get_objects"):

        def get_objects(self, *args, **kwargs):
            return _narrow(view_class.get_objects(self, *args, **kwargs), self.request)

        attrs["get_objects"] = get_objects

    if hasattr(view_class, "get_object"):

        def get_object(self, *args, **kwargs):
            obj = view_class.get_object(self, *args, **kwargs)
            if obj is not None and type(obj) in scoping.ACCOUNT_PATH:
                scoping.check(self.request.user, obj, _action(self))
            return obj

        attrs["get_object"] = get_object

    if hasattr(view_class, "get_form"):

        def get_form(self, *args, **kwargs):
            form = view_class.get_form(self, *args, **kwargs)
            scoping.scope_fields(form.fields, self.request.user, (_action(self),))
            return form

        attrs["get_form"] = get_form

    if isinstance(getattr(view_class, "filters", None), cached_property):

        def filters(self):
            filterset = view_class.filters.func(self)
            if filterset is not None:
                account = scoping.active_account(self.request)
                scoping.scope_fields(filterset.form.fields, self.request.user, account=account)
            return filterset

        attrs["filters"] = cached_property(filters)

    bases = (view_class,)
    if issubclass(view_class, SpreadsheetExportMixin):  # listing exports: no formulas in cells
        bases = (SafeSpreadsheetExportMixin, view_class)
    scoped = type(view_class.__name__, bases, attrs)
    _scoped_classes[view_class] = scoped
    return scoped


class ScopedViewSetMixin:
    """For every onesend viewset: each view it constructs is :func:`scoped_view_class`."""

    def construct_view(self, view_class, **kwargs):
        return super().construct_view(scoped_view_class(view_class), **kwargs)

    def get_queryset(self, request):
        """Snippet listings' queryset (ModelViewSet listings are narrowed in the view)."""
        return scoping.narrow(self.model._default_manager.all(), request)


class ScopedSnippetChooserViewSet(ScopedViewSetMixin, SnippetChooserViewSet):
    """The campaign chooser: only the user's campaigns. Campaigns are created in their editor,
    never from a chooser (Wagtail would fail on a chooser without a creation form)."""

    @property
    def create_view(self):
        return self.construct_view(NoChooserCreationView)


class NoChooserCreationView(View):
    def dispatch(self, request, *args, **kwargs):
        raise Http404


class AccountViewSet(ScopedViewSetMixin, ModelViewSet):
    """Client accounts and their settings: agency staff create them; a client admin edits their
    own (editors and analysts only see them listed); the Sites field is agency-only."""

    name = "onesend_accounts"
    url_prefix = "messenger/accounts"
    model = Account
    icon = "group"
    index_view_class = views.AccountIndexView
    list_display = ["name", "slug", "timezone", "created_at"]
    edit_handler = TabbedInterface(
        [
            ObjectList(
                [FieldPanel("name"), FieldPanel("slug"), FieldPanel("timezone"), FieldPanel("sites")],
                heading=_("Account"),
            ),
            ObjectList(
                [
                    MultiFieldPanel(
                        [
                            FieldPanel("frequency_cap_hours"),
                            FieldRowPanel(
                                [FieldPanel("quiet_hours_start"), FieldPanel("quiet_hours_end")],
                                heading=_("Quiet hours of new campaigns"),
                            ),
                        ],
                        heading=_("Sending"),
                    ),
                    FieldRowPanel(
                        [FieldPanel("attribution_click_days"), FieldPanel("attribution_read_days")],
                        heading=_("Attribution windows"),
                    ),
                    MultiFieldPanel(
                        [
                            FieldPanel("optin_title"),
                            FieldRowPanel([FieldPanel("optin_cta"), FieldPanel("optin_image_url")]),
                            FieldPanel("welcome_message"),
                        ],
                        heading=_("Opt-in wording and branding of new Pages"),
                    ),
                ],
                heading=_("Defaults"),
            ),
            ObjectList(
                [FieldPanel("events_secret"), FieldPanel("shopify_secret")],
                heading=_("Store events"),
            ),
        ],
        base_form_class=AccountForm,
    )
    search_fields = ["name", "slug"]


class MetaAppViewSet(ScopedViewSetMixin, ModelViewSet):
    name = "onesend_apps"
    url_prefix = "messenger/apps"
    model = MetaApp
    icon = "key"
    menu_label = _("Meta apps")
    list_display = ["name", "app_id", "created_at"]  # never the secret
    search_fields = ["name", "app_id"]
    edit_handler = ObjectList(
        [FieldPanel("name"), FieldPanel("app_id"), FieldPanel("app_secret"), FieldPanel("verify_token")],
        base_form_class=MetaAppForm,
    )


class MessengerPageViewSet(ScopedViewSetMixin, ModelViewSet):
    name = "onesend_pages"
    url_prefix = "messenger/pages"
    model = MessengerPage
    icon = "comment"
    menu_label = _("Pages")
    index_view_class = onboarding.MessengerPageIndexView
    inspect_view_enabled = True
    inspect_view_class = onboarding.MessengerPageInspectView
    inspect_view_fields = [
        "name",
        "page_id",
        "username",
        "account",
        "app",
        "channel",
        "status",
        "status_reason",
        "last_webhook_at",
    ]  # never the token
    list_display = ["name", "page_id", "account", "channel", "status", "last_webhook_at"]
    list_filter = ["account", "channel", "status"]
    search_fields = ["name", "page_id", "username"]
    edit_handler = ObjectList(
        [
            MultiFieldPanel(
                [
                    FieldRowPanel([FieldPanel("account"), FieldPanel("app")]),
                    FieldRowPanel([FieldPanel("page_id"), FieldPanel("name"), FieldPanel("username")]),
                    FieldPanel("access_token"),
                    FieldRowPanel([FieldPanel("status"), FieldPanel("status_reason")]),
                ],
                heading=_("Connection"),
            ),
            MultiFieldPanel(
                [FieldPanel("channel"), FieldPanel("ad_account_id"), FieldPanel("frequency_cap_hours")],
                heading=_("Sending"),
            ),
            MultiFieldPanel(
                [
                    FieldPanel("optin_title"),
                    FieldRowPanel([FieldPanel("optin_cta"), FieldPanel("optin_image_url")]),
                    FieldPanel("welcome_message"),
                    FieldPanel("unsubscribe_keywords"),
                    FieldPanel("offer_optin_without_ref"),
                ],
                heading=_("Opt-in and unsubscribe"),
                help_text=_(
                    "A new Page left at the default title and button, or without an image or welcome "
                    "message, takes its account's defaults."
                ),
            ),
        ],
        base_form_class=MessengerPageForm,
    )

    def get_urlpatterns(self):
        return super().get_urlpatterns() + [
            path("connect/", self.construct_view(onboarding.ConnectPageView), name="connect"),
            path(
                "connect/callback/",
                self.construct_view(onboarding.ConnectCallbackView),
                name="connect_callback",
            ),
            path(
                "recheck/<int:pk>/",
                self.construct_view(
                    onboarding.RecheckPageView, success_url_name=self.get_url_name("inspect")
                ),
                name="recheck",
            ),
        ]

    def get_inspect_view_kwargs(self, **kwargs):
        return super().get_inspect_view_kwargs(recheck_url_name=self.get_url_name("recheck"), **kwargs)


class WebhookEventInspectView(InspectView):
    def get_payload_display_value(self):
        return format_html("<pre>{}</pre>", json.dumps(self.object.payload, indent=2, ensure_ascii=False))

    def get_delivery_display_value(self):
        delivery = self.object.delivery
        return format_html(
            "<p>{} · {}</p><pre>{}</pre><pre>{}</pre>",
            delivery.received_at,
            delivery.get_state_display(),
            json.dumps(delivery.headers, indent=2),
            bytes(delivery.body).decode("utf-8", errors="replace"),
        )


class WebhookDeliveryInspectView(InspectView):
    def get_headers_display_value(self):
        return format_html("<pre>{}</pre>", json.dumps(self.object.headers, indent=2))

    def get_body_display_value(self):
        return format_html("<pre>{}</pre>", bytes(self.object.body).decode("utf-8", errors="replace"))


class WebhookDeliveryViewSet(ScopedViewSetMixin, ModelViewSet):
    """Meta's POSTs as received: those that could not be processed, with their error, attempts
    and next retry (agency staff only: one delivery may concern several clients' Pages)."""

    name = "onesend_deliveries"
    url_prefix = "messenger/deliveries"
    model = WebhookDelivery
    icon = "warning"
    menu_label = _("Webhook deliveries")
    inspect_view_enabled = True
    inspect_view_class = WebhookDeliveryInspectView
    inspect_view_fields = [
        "received_at",
        "app",
        "state",
        "attempts",
        "next_attempt_at",
        "error",
        "headers",
        "body",
    ]
    copy_view_enabled = False
    list_display = ["received_at", "app", "state", "attempts", "next_attempt_at", "error"]
    list_filter = ["state", "app"]
    search_fields = ["error"]
    exclude_form_fields = []


class WebhookEventViewSet(ScopedViewSetMixin, ModelViewSet):
    """The webhook inbox: every event Meta sent, its processing state and error."""

    name = "onesend_inbox"
    url_prefix = "messenger/inbox"
    model = WebhookEvent
    icon = "tasks"
    menu_label = _("Webhook inbox")
    inspect_view_enabled = True
    inspect_view_class = WebhookEventInspectView
    inspect_view_fields = [
        "kind",
        "state",
        "error",
        "page",
        "page_external_id",
        "psid",
        "timestamp",
        "received_at",
        "processed_at",
        "payload",
        "delivery",
    ]
    copy_view_enabled = False
    list_display = ["kind", "psid", "page_external_id", "state", "timestamp", "received_at"]
    list_filter = ["kind", "state", "page"]
    search_fields = ["psid", "page_external_id", "kind"]
    exclude_form_fields = []


# What the admin shows and exports about a subscriber: never their marketing-message tokens.
SUBSCRIBER_FIELDS = [
    "psid",
    "page",
    "status",
    "tags",
    "source_ref",
    "customer_ref",
    "timezone",
    "locale",
    "created_at",
    "opted_in_at",
    "unsubscribed_at",
    "last_interaction_at",
    "last_marketing_at",
]


class SubscriberViewSet(ScopedViewSetMixin, ModelViewSet):
    """Browse, segment and export subscribers; inspect one person's consent history; edit their
    tags; unsubscribe, export or erase them. Nobody adds a subscriber by hand: they come only
    from opt-ins (see ``SubscriberPermissionPolicy``)."""

    name = "onesend_subscribers"
    url_prefix = "messenger/subscribers"
    model = Subscriber
    icon = "user"
    index_view_class = views.SubscriberIndexView
    inspect_view_enabled = True
    inspect_view_class = views.SubscriberInspectView
    inspect_view_fields = SUBSCRIBER_FIELDS
    copy_view_enabled = False
    form_fields = ["tags"]
    list_display = [
        "psid",
        "page",
        StatusTagColumn(
            "status",
            accessor="get_status_display",
            primary=lambda subscriber: subscriber.status == Subscriber.Status.SUBSCRIBED,
            sort_key="status",
        ),
        Column("tags", accessor=lambda subscriber: views.tag_names(subscriber.tags)),
        "source_ref",
        DateColumn("opted_in_at", label=_("Opted in"), sort_key="opted_in_at"),
        DateColumn("last_marketing_at", label=_("Last marketing message"), sort_key="last_marketing_at"),
    ]
    filterset_class = SubscriberFilterSet
    search_fields = ["psid", "customer_ref", "source_ref"]
    list_export = SUBSCRIBER_FIELDS
    export_filename = "subscribers"

    def get_urlpatterns(self):
        return super().get_urlpatterns() + [
            path("unsubscribe/<int:pk>/", self.unsubscribe_view, name="unsubscribe"),
            path("export/<int:pk>/", self.export_view, name="export"),
            path("erase/<int:pk>/", self.erase_view, name="erase"),
        ]

    def get_inspect_view_kwargs(self, **kwargs):
        return super().get_inspect_view_kwargs(
            unsubscribe_url_name=self.get_url_name("unsubscribe"),
            export_url_name=self.get_url_name("export"),
            erase_url_name=self.get_url_name("erase"),
            **kwargs,
        )

    @property
    def unsubscribe_view(self):
        return self.construct_view(
            views.SubscriberUnsubscribeView, success_url_name=self.get_url_name("inspect")
        )

    @property
    def export_view(self):
        return self.construct_view(views.SubscriberExportView)

    @property
    def erase_view(self):
        return self.construct_view(
            views.SubscriberEraseView, delete_url_name=self.get_url_name("erase"), usage_url_name=None
        )


class SubscriptionLinkViewSet(ScopedViewSetMixin, ModelViewSet):
    """Named ways in (a website button, a poster, an e-mail footer) with their clicks and
    subscribers, and each one's copyable link and QR code (on the inspect view)."""

    name = "onesend_links"
    url_prefix = "messenger/links"
    model = SubscriptionLink
    icon = "link"
    menu_label = _("Subscription links")
    index_view_class = views.SubscriptionLinkIndexView
    inspect_view_enabled = True
    inspect_view_class = views.SubscriptionLinkInspectView
    inspect_view_fields = ["name", "page", "ref", "tags", "clicks", "created_at"]
    form_fields = ["page", "name", "ref", "tags"]
    list_display = [
        "name",
        "page",
        "ref",
        "tags",
        "clicks",
        Column("subscriber_count", label=_("Subscribers"), sort_key="subscriber_count"),
    ]
    list_filter = ["page"]
    search_fields = ["name", "ref", "tags"]

    def get_urlpatterns(self):
        return super().get_urlpatterns() + [path("qr/<int:pk>/<str:kind>/", self.qr_view, name="qr")]

    def get_inspect_view_kwargs(self, **kwargs):
        return super().get_inspect_view_kwargs(qr_url_name=self.get_url_name("qr"), **kwargs)

    @property
    def qr_view(self):
        return self.construct_view(views.SubscriptionLinkQRCodeView)


class CampaignViewSet(ScopedViewSetMixin, SnippetViewSet):
    """Campaigns: content with drafts, revisions and a Messenger preview; audience; schedule;
    and a "Sending and progress" page (the inspect view) with the send actions and live progress.

    Sending needs the ``onesend_plugin.send_campaign`` permission; without it the campaign can be
    edited and published but not sent.
    """

    model = Campaign
    icon = "mail"
    url_prefix = "messenger/campaigns"
    chooser_viewset_class = ScopedSnippetChooserViewSet
    index_view_class = views.CampaignIndexView
    edit_view_class = views.CampaignEditView
    inspect_view_enabled = True
    inspect_view_class = views.CampaignInspectView
    inspect_view_fields = [
        "page",
        "schedule",
        "send_at",
        "quiet_hours_start",
        "quiet_hours_end",
        "expires_at",
        "include_tags",
        "exclude_tags",
        "include_refs",
        "exclude_refs",
        "opted_in_after",
        "opted_in_before",
        "started_at",
        "finished_at",
    ]
    list_display = [
        "name",
        "page",
        views.CampaignStatusColumn(
            "status", label=_("Broadcast"), accessor="get_status_display", sort_key="status"
        ),
        Column("audience", label=_("Audience"), accessor="progress.audience"),
        Column("percent", label=_("Progress"), accessor=views.percent_label),
        Column("sent", label=_("Sent"), accessor="progress.sent"),
        DateColumn("started_at", label=_("Started"), sort_key="started_at"),
        LiveStatusTagColumn(label=_("Content")),  # published or not: only published content is sent
    ]
    list_filter = ["page", "status"]
    search_fields = ["name"]
    list_export = [
        "name",
        "page",
        "status",
        "progress.audience",
        "progress.sent",
        "progress.percent",
        "started_at",
        "finished_at",
    ]
    export_headings = {
        "progress.audience": _("Audience"),
        "progress.sent": _("Sent"),
        "progress.percent": _("Progress (%)"),
    }
    export_filename = "campaigns"
    edit_handler = TabbedInterface(
        [
            ObjectList(
                [
                    FieldRowPanel([FieldPanel("name"), FieldPanel("page")]),
                    FieldPanel("text"),
                    MultiFieldPanel(
                        [
                            FieldPanel("media", heading=_("Attach")),
                            FieldRowPanel([FieldPanel("image"), FieldPanel("subtitle")]),
                            FieldPanel("document"),
                            FieldPanel("video_url", heading=_("Video URL")),
                        ],
                        heading=_("Media"),
                    ),
                    InlinePanel(
                        "buttons",
                        min_num=0,
                        max_num=MAX_BUTTONS,
                        heading=_("Buttons"),
                        label=_("Button"),
                        help_text=format_lazy(_("Links under the message, at most {}."), MAX_BUTTONS),
                    ),
                    FieldPanel("unsubscribe_quick_reply"),
                ],
                heading=_("Content"),
            ),
            ObjectList(
                [
                    FieldRowPanel(
                        [
                            FieldPanel(
                                "include_tags",
                                help_text=_(
                                    "Only subscribers with any of these tags (comma-separated). "
                                    "Empty: everyone."
                                ),
                            ),
                            FieldPanel(
                                "exclude_tags",
                                help_text=_("Leave out subscribers with any of these tags."),
                            ),
                        ]
                    ),
                    FieldRowPanel(
                        [
                            FieldPanel(
                                "include_refs",
                                help_text=_(
                                    "Only subscribers who came through one of these subscription "
                                    "link refs (comma-separated). Empty: every source."
                                ),
                            ),
                            FieldPanel(
                                "exclude_refs",
                                help_text=_("Leave out subscribers who came through these refs."),
                            ),
                        ]
                    ),
                    FieldRowPanel([FieldPanel("opted_in_after"), FieldPanel("opted_in_before")]),
                    AudienceCountPanel(heading=_("Audience now")),
                ],
                heading=_("Audience"),
            ),
            ObjectList(
                [
                    FieldPanel("schedule"),
                    FieldPanel("send_at"),
                    FieldRowPanel(
                        [FieldPanel("quiet_hours_start"), FieldPanel("quiet_hours_end")],
                        heading=_("Quiet hours"),
                        help_text=_("Nothing is sent between these times of the subscriber's day."),
                    ),
                    FieldPanel("expires_at"),
                ],
                heading=_("Schedule"),
            ),
            ObjectList(
                [
                    FieldPanel("trigger_event"),
                    FieldPanel("trigger_conditions"),
                    FieldRowPanel([FieldPanel("delay_minutes"), FieldPanel("local_send_time")]),
                    FieldPanel("exit_events"),
                ],
                heading=_("Automation"),
                help_text=_(
                    "Leave the trigger empty for a one-off broadcast. With a trigger this campaign is a flow: "
                    "once started it stays on and messages each subscriber when their store event happens "
                    "(pause it to switch it off)."
                ),
            ),
        ],
        base_form_class=CampaignForm,
    )

    # Each action's URL name and view; the progress page links to those its status allows.
    action_views = {
        "send": views.SendCampaignView,
        "pause": views.PauseCampaignView,
        "resume": views.ResumeCampaignView,
        "cancel": views.CancelCampaignView,
        "retry_unknown": views.RetryUnknownView,
        "send_test": views.SendTestView,
    }

    def get_urlpatterns(self):
        audience_view = self.construct_view(views.CampaignAudienceView)
        return [
            *super().get_urlpatterns(),
            *(
                path(f"{name}/<int:pk>/", self.construct_view(view_class), name=name)
                for name, view_class in self.action_views.items()
            ),
            path("progress/<int:pk>/", self.construct_view(views.CampaignProgressView), name="progress"),
            path("audience/", audience_view, name="audience"),
            path("audience/<int:pk>/", audience_view, name="audience"),
        ]

    def get_inspect_view_kwargs(self, **kwargs):
        return super().get_inspect_view_kwargs(
            action_url_names={name: self.get_url_name(name) for name in self.action_views},
            progress_url_name=self.get_url_name("progress"),
            send_test_url_name=self.get_url_name("send_test"),
            **kwargs,
        )
