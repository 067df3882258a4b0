"""Campaigns: a snippet with drafts, revisions and preview, its audience, schedule and send actions."""

from __future__ import annotations

from django.urls import path
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import (
    FieldPanel,
    FieldRowPanel,
    InlinePanel,
    MultiFieldPanel,
    ObjectList,
    Panel,
    TabbedInterface,
)
from wagtail.admin.ui.tables import Column, DateColumn, LiveStatusTagColumn
from wagtail.snippets.views.snippets import SnippetViewSet

from ...models import MAX_BUTTONS, Campaign
from .. import sending, views
from ..forms import CampaignForm
from ..panels import AudienceCountPanel
from .scoped import ScopedSnippetChooserViewSet, ScopedViewSetMixin

#: The flows' list: what starts each one, whether it is on, and what it sent.
FLOW_COLUMNS = [
    "name",
    "page",
    Column("trigger_event", label=_("Trigger")),
    views.CampaignStatusColumn("status", label=_("State"), accessor="get_phase_display", sort_key="status"),
    Column("sent", label=_("Sent"), accessor="progress.sent"),
    LiveStatusTagColumn(label=_("Content")),
]


def media_panels(prefix: str = "") -> list[Panel]:
    """A message's media fields (variant B's carry ``prefix``): "Attach" picks which one shows."""
    return [
        FieldPanel(f"{prefix}media", heading=_("Attach")),
        FieldRowPanel([FieldPanel(f"{prefix}image"), FieldPanel(f"{prefix}subtitle")]),
        FieldPanel(f"{prefix}document"),
        FieldPanel(f"{prefix}video_url", heading=_("Video URL")),
    ]


def buttons_panel(relation: str, heading: str, help_text: str) -> InlinePanel:
    """A message's link buttons, at most ``MAX_BUTTONS`` (``help_text`` has a ``{}`` for it)."""
    return InlinePanel(
        relation,
        panels=[FieldPanel("title"), FieldPanel("url", heading=_("Link (https://…)"))],
        min_num=0,
        max_num=MAX_BUTTONS,
        heading=heading,
        label=_("Button"),
        help_text=format_lazy(help_text, MAX_BUTTONS),
    )


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
    add_view_class = views.CampaignCreateView
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
        "segment",
        "started_at",
        "finished_at",
    ]
    list_display = [
        "name",
        "page",
        views.CampaignStatusColumn(
            "status", label=_("Broadcast"), accessor="get_phase_display", sort_key="status"
        ),
        Column("audience", label=_("Audience"), accessor=views.audience_label),
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
                    MultiFieldPanel(media_panels(), heading=_("Media")),
                    buttons_panel("buttons", _("Buttons"), _("Links under the message, at most {}.")),
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
                    FieldPanel("segment"),
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
                    FieldRowPanel(
                        [FieldPanel("budget"), FieldPanel("budget_period")],
                        heading=_("Budget (paid Marketing Messages API)"),
                    ),
                ],
                heading=_("Schedule"),
            ),
            ObjectList(
                [
                    FieldPanel("ab_test"),
                    FieldRowPanel(
                        [FieldPanel("ab_test_share"), FieldPanel("ab_metric"), FieldPanel("ab_hours")],
                        heading=_("The test"),
                    ),
                    MultiFieldPanel(
                        [FieldPanel("variant_b_text"), *media_panels("variant_b_")], heading=_("Variant B")
                    ),
                    buttons_panel(
                        "variant_b_buttons",
                        _("Variant B's buttons"),
                        _("Links under variant B's message, at most {}."),
                    ),
                ],
                heading=_("A/B test"),
                help_text=_(
                    "Send two versions to a share of the audience, drawn at random: half get A (the Content "
                    "tab), half get B. After the hours set, the version with the higher rate wins (equal "
                    "rates: A) and goes to everyone else. The report shows both and why one won."
                ),
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
        "send": sending.SendCampaignView,
        "pause": views.PauseCampaignView,
        "resume": views.ResumeCampaignView,
        "cancel": views.CancelCampaignView,
        "retry_unknown": views.RetryUnknownView,
        "send_test": views.SendTestView,
    }

    def get_index_view_kwargs(self, **kwargs):
        kwargs.setdefault("other_list_url_name", self.get_url_name("flows"))
        return super().get_index_view_kwargs(**kwargs)

    def flows_view(self, results_only: bool = False):
        """The flows' own list (``views.FlowIndexView``), with its own columns and URLs."""
        return self.construct_view(
            views.FlowIndexView,
            **self.get_index_view_kwargs(
                list_display=FLOW_COLUMNS,
                list_export=[],
                index_url_name=self.get_url_name("flows"),
                index_results_url_name=self.get_url_name("flows_results"),
                other_list_url_name=self.get_url_name("list"),
            ),
            results_only=results_only,
        )

    def get_urlpatterns(self):
        audience_view = self.construct_view(views.CampaignAudienceView)
        return [
            *super().get_urlpatterns(),
            path("flows/", self.flows_view(), name="flows"),
            path("flows/results/", self.flows_view(results_only=True), name="flows_results"),
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
