"""Broadcasts and flows: campaigns, their buttons, the delivery ledger, the shared send-rate
state, and the counters and clicks reports read."""

from __future__ import annotations

from datetime import datetime

from django.contrib.contenttypes.fields import GenericRelation
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel
from wagtail.models import DraftStateMixin, LockableMixin, Orderable, PreviewableMixin, RevisionMixin

from .accounts import MessengerPage
from .subscribers import Subscriber

TEXT_MAX_LENGTH = 1999  # Meta: text messages must be shorter than 2000 characters
BUTTON_TEXT_MAX_LENGTH = 640  # Meta: the button template's text
PAID_TEXT_MAX_LENGTH = 640  # Meta: a text of the paid Marketing Message API (Text Template)
CARD_TITLE_MAX_LENGTH = 80  # Meta: generic template title and subtitle
BUTTON_TITLE_MAX_LENGTH = 20
MAX_BUTTONS = 3


#: A flow's status in words, where it differs from a broadcast's: a flow is on or off.
FLOW_STATES = {"running": _("Active"), "paused": _("Paused"), "cancelled": _("Stopped")}


class Campaign(DraftStateMixin, LockableMixin, RevisionMixin, PreviewableMixin, ClusterableModel):
    """A one-off marketing broadcast to a Page's subscribers (a Wagtail snippet).

    Content is edited with drafts and revisions; what goes out is the snapshot taken when the
    campaign starts (``message``), so later edits never change a broadcast in flight.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        RUNNING = "running", _("Sending")
        PAUSED = "paused", _("Paused")
        CANCELLED = "cancelled", _("Cancelled")
        FINISHED = "finished", _("Finished")

    class Schedule(models.TextChoices):
        NOW = "now", _("As soon as it is started")
        AT = "at", _("At a set time")
        LOCAL = "local", _("At a local time in each subscriber's timezone")

    class Metric(models.TextChoices):
        """What an A/B test's winner is picked by: a share of the messages its variant sent."""

        CLICKS = "clicks", _("Click rate")
        CONVERSIONS = "conversions", _("Conversion rate")

    class BudgetPeriod(models.TextChoices):
        DAILY = "daily", _("Per day")
        LIFETIME = "lifetime", _("For the whole campaign")

    class Media(models.TextChoices):
        NONE = "", _("None")
        IMAGE = "image", _("Image (shown as a card with the text as its title)")
        VIDEO = "video", _("Video")
        FILE = "file", _("File")

    name = models.CharField(max_length=255)
    page = models.ForeignKey(MessengerPage, on_delete=models.PROTECT, related_name="campaigns")

    # The message
    text = models.TextField(blank=True)
    subtitle = models.CharField(
        max_length=CARD_TITLE_MAX_LENGTH,
        blank=True,
        help_text=_("Image cards only: the line under the title."),
    )
    media = models.CharField(max_length=10, choices=Media.choices, blank=True)
    image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    document = models.ForeignKey(
        "wagtaildocs.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    video_url = models.URLField(blank=True)
    unsubscribe_quick_reply = models.BooleanField(
        default=True, help_text=_("Add an 'Unsubscribe' quick reply under the message.")
    )

    # An A/B test: a share of the audience gets variant A (the content above) or B at random;
    # after ``ab_hours`` the variant with the higher rate goes to the rest (``broadcast.abtest``).
    ab_test = models.BooleanField(
        _("test two variants (A/B)"),
        default=False,
        help_text=_("Variant A is the content of the Content tab; write variant B below."),
    )
    variant_b_text = models.TextField(_("text"), blank=True)
    variant_b_subtitle = models.CharField(_("subtitle"), max_length=CARD_TITLE_MAX_LENGTH, blank=True)
    variant_b_media = models.CharField(_("attach"), max_length=10, choices=Media.choices, blank=True)
    variant_b_image = models.ForeignKey(
        "wagtailimages.Image",
        verbose_name=_("image"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    variant_b_document = models.ForeignKey(
        "wagtaildocs.Document",
        verbose_name=_("document"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    variant_b_video_url = models.URLField(_("video URL"), blank=True)
    ab_test_share = models.PositiveSmallIntegerField(
        _("test share (%)"),
        default=20,
        validators=[MinValueValidator(2), MaxValueValidator(100)],
        help_text=_(
            "The part of the audience that gets a variant, half A and half B, drawn at random. "
            "The rest get the winner. 100: everyone is in the test."
        ),
    )
    ab_metric = models.CharField(
        _("winner picked by"), max_length=12, choices=Metric.choices, default=Metric.CLICKS
    )
    ab_hours = models.PositiveSmallIntegerField(
        _("pick the winner after (hours)"),
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(168)],
        help_text=_("Counted from the start. The variant with the higher rate wins; equal rates: A."),
    )

    # The audience (everyone subscribed to the Page, narrowed by these)
    include_tags = models.CharField(max_length=500, blank=True, help_text=_("Comma-separated: any of these."))
    exclude_tags = models.CharField(
        max_length=500, blank=True, help_text=_("Comma-separated: none of these.")
    )
    include_refs = models.CharField(max_length=500, blank=True, help_text=_("Comma-separated source refs."))
    exclude_refs = models.CharField(max_length=500, blank=True)
    opted_in_after = models.DateTimeField(null=True, blank=True)
    opted_in_before = models.DateTimeField(null=True, blank=True)
    segment = models.CharField(
        max_length=100,
        blank=True,
        help_text=_("A segment a plugin offers (its name); empty: everyone. Broadcasts only."),
    )

    # When
    schedule = models.CharField(max_length=10, choices=Schedule.choices, default=Schedule.NOW)
    send_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("For 'at a local time', the wall-clock date and time used everywhere."),
    )
    quiet_hours_start = models.TimeField(
        null=True,
        blank=True,
        help_text=_("Subscriber's local time. A new campaign left without them gets its account's."),
    )
    quiet_hours_end = models.TimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Messages not sent by then are skipped, never sent late.")
    )

    # Paid Marketing Messages API only: what Meta may charge the Page's ad account
    budget = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Pages on the paid Marketing Messages API: in the ad account currency's smallest unit "
            "(cents). Empty: no budget is sent and Meta sets its own daily cap."
        ),
    )
    budget_period = models.CharField(
        max_length=10, choices=BudgetPeriod.choices, default=BudgetPeriod.DAILY, blank=True
    )

    # Automated flows: a campaign with a trigger sends to each person when their event happens
    trigger_event = models.CharField(
        max_length=50,
        blank=True,
        help_text=_(
            "Empty for a one-off broadcast. Otherwise a store event, e.g. order_placed, cart_abandoned."
        ),
    )
    trigger_conditions = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            'Conditions on the event\'s properties, e.g. [{"property": "value", "op": ">=", "value": 50}].'
        ),
    )
    delay_minutes = models.PositiveIntegerField(default=0, help_text=_("Wait this long after the event."))
    local_send_time = models.TimeField(
        null=True,
        blank=True,
        help_text=_("Then wait for this time of day in the person's timezone (optional)."),
    )
    exit_events = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("Comma-separated events that cancel the message when they happen after the trigger."),
    )

    # Progress (written by the engine)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    message = models.JSONField(null=True, blank=True, editable=False)
    audience_size = models.PositiveIntegerField(default=0, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    throttled_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    #: Paid Marketing Messages API: since when Meta has answered that the campaign's message
    #: campaign is not ready yet (it warms up for about an hour after creation: FAQs of the
    #: Marketing Message API for Messenger; changelog 2026-05-05). Cleared by the first send.
    warming_up_since = models.DateTimeField(null=True, blank=True, editable=False)
    #: What the Page's channel set up for test sends (the paid API's message campaign, reused by
    #: every test of this campaign so that it warms up once).
    test_channel = models.JSONField(null=True, blank=True, editable=False)
    #: When the whole audience was in the ledger (``broadcast.freeze``): until then the campaign
    #: can't finish, however few rows are left open.
    frozen_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: A freeze task holds the campaign until then: the minute tick starts another only after,
    #: when a task died before the audience was all in.
    freezing_until = models.DateTimeField(null=True, blank=True, editable=False)
    #: An A/B test's outcome: the winning variant ("a" or "b"), when, and why in words.
    ab_winner = models.CharField(max_length=1, blank=True, editable=False)
    ab_decided_at = models.DateTimeField(null=True, blank=True, editable=False)
    ab_decision = models.TextField(blank=True, editable=False)
    #: The new-campaign form it was made from: a form saves more than once before it learns
    #: the campaign exists (Wagtail's autosave, then Publish), and each must not make another.
    form_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    _revisions = GenericRelation("wagtailcore.Revision", related_query_name="onesend_campaign")

    class Meta:
        ordering = ["-id"]
        permissions = [("send_campaign", "Can send, schedule, pause and cancel campaigns")]

    def __str__(self) -> str:
        return self.name

    @property
    def revisions(self):
        return self._revisions

    @property
    def is_flow(self) -> bool:
        return bool(self.trigger_event)

    #: Written by the broadcast engine only: a revision must never carry old values back.
    ENGINE_FIELDS = (
        "status",
        "message",
        "audience_size",
        "started_at",
        "finished_at",
        "throttled_until",
        "last_error",
        "warming_up_since",
        "test_channel",
        "ab_winner",
        "ab_decided_at",
        "ab_decision",
        "frozen_at",
        "freezing_until",
    )

    @property
    def ab_decide_at(self) -> datetime | None:
        """When a started A/B test's winner is due (frozen with its message at the start); None
        for a campaign without a test."""
        test = (self.message or {}).get("ab")
        return datetime.fromisoformat(test["decide_at"]) if test else None

    @property
    def phase(self) -> str:
        """The status as shown: ``warming_up`` while a sending campaign waits for Meta to make
        its message campaign ready, ``testing`` while its A/B test waits for the winner, else
        the status."""
        if self.status != self.Status.RUNNING:
            return self.status
        if self.warming_up_since:
            return "warming_up"
        return "testing" if self.ab_decide_at and not self.ab_decided_at else self.status

    def get_phase_display(self) -> str:
        """The status in words; a flow is on ("Active") or off ("Paused"), never "sending"."""
        if self.phase == "warming_up":
            return str(_("Warming up"))
        if self.phase == "testing":
            at = formats.date_format(timezone.localtime(self.ab_decide_at), "DATETIME_FORMAT")
            return str(_("Testing — winner picked at %(at)s")) % {"at": at}
        if self.is_flow and self.status in FLOW_STATES:
            return str(FLOW_STATES[self.status])
        return self.get_status_display()

    def with_content_json(self, content):
        """Revisions restore content, never the broadcast's state (publishing a draft while a
        campaign is sending must not reset its progress)."""
        obj = super().with_content_json(content)
        for name in self.ENGINE_FIELDS:
            setattr(obj, name, getattr(self, name))
        return obj

    def save(self, *args, **kwargs):
        if self._state.adding and self.page_id:
            self.page.account.apply_quiet_hours(self)
        super().save(*args, **kwargs)

    @property
    def preview_modes(self):
        """An A/B test previews each variant."""
        if self.ab_test:
            return [("", _("Variant A")), ("b", _("Variant B"))]
        return super().preview_modes

    def get_preview_context(self, request, mode_name):
        return {**super().get_preview_context(request, mode_name), "variant": mode_name}

    def get_preview_template(self, request, mode_name):
        return "onesend_plugin/campaign_preview.html"


class Button(Orderable):
    """A link button under a message."""

    title = models.CharField(max_length=BUTTON_TITLE_MAX_LENGTH)
    url = models.URLField(max_length=2000)

    class Meta(Orderable.Meta):
        abstract = True

    def __str__(self) -> str:
        return self.title


class CampaignButton(Button):
    campaign = ParentalKey(Campaign, on_delete=models.CASCADE, related_name="buttons")


class VariantButton(Button):
    """A button of an A/B test's variant B."""

    campaign = ParentalKey(Campaign, on_delete=models.CASCADE, related_name="variant_b_buttons")


class Delivery(models.Model):
    """The ledger: one row per campaign and recipient, the single source of truth of a broadcast.

    A row only moves forward: pending → claimed → sending → sent | failed | skipped | unknown.
    ``sending`` is committed *before* the Graph API call, so a row found in ``sending`` after a
    crash may or may not have gone out: it becomes ``unknown`` and is never resent automatically.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Queued")
        CLAIMED = "claimed", _("Claimed by a worker")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")
        UNKNOWN = "unknown", _("Unknown (lost in a crash)")

    # No single-column indexes on campaign and page: the composite indexes below start with them,
    # and every state change would rewrite each extra index.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    subscriber = models.ForeignKey(
        Subscriber, null=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    page = models.ForeignKey(MessengerPage, on_delete=models.CASCADE, related_name="+", db_index=False)
    psid = models.CharField(max_length=64, blank=True)
    trigger_key = models.CharField(
        max_length=100, blank=True, default="", help_text=_("For automated flows: the event that caused it.")
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    reason = models.CharField(max_length=50, blank=True)
    # The channel the message went through (``Channel``), written when it is sent: one Page may
    # reach each person differently, and reports count outcomes and cost per channel.
    channel = models.CharField(max_length=20, blank=True)
    #: An A/B test's variant the row was drawn for ("a" or "b"); empty: the rest (who get the
    #: winner) or a campaign without a test. One row per person: nobody gets both.
    variant = models.CharField(max_length=1, blank=True, default="")
    not_before = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "subscriber", "trigger_key"], name="onesend_delivery_once_per_recipient"
            )
        ]
        indexes = [
            models.Index(fields=["campaign", "state", "id"], name="onesend_delivery_queue"),
            models.Index(fields=["page", "psid", "sent_at"], name="onesend_delivery_receipts"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.psid} ({self.state})"


class RateLimitState(models.Model):
    """Shared per-Page send-rate state when no Redis is configured (see ``broadcast/ratelimit.py``)."""

    key = models.CharField(max_length=100, primary_key=True)
    available_at = models.FloatField(default=0.0)  # GCRA theoretical arrival time (epoch seconds)

    def __str__(self) -> str:
        return self.key


# -- Analytics ------------------------------------------------------------------------------------


class CampaignStat(models.Model):
    """A maintained counter of a campaign: reports read these instead of counting ledger rows,
    so they open instantly for a million recipients.

    Names (built and read back only by ``onesend_plugin.counters``): ``sent``, ``delivered``,
    ``read``, ``clicks``, ``unique_clicks``, ``conversions``, ``unsubscribed``, ``unknown``,
    ``failed:<reason>`` / ``skipped:<reason>`` (outcomes), ``revenue:<CUR>`` (minor units),
    ``button:<n>`` (clicks per button), ``read@<hour>`` / ``click@<hour>`` (time series, ISO hour
    in UTC), ``sent@<minute>`` (send rate), ``fcap@<hour>`` (refused by Meta's frequency caps).
    Revenue is kept in hundredths of the currency unit.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="stats")
    name = models.CharField(max_length=100)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "name"], name="onesend_stat_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"


class Click(models.Model):
    """One human click on a tracked button link."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="clicks")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="clicks")
    subscriber = models.ForeignKey(Subscriber, null=True, on_delete=models.SET_NULL, related_name="clicks")
    button = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"click on button {self.button} of {self.campaign}"


class PaidInsights(models.Model):
    """Meta's own figures for a campaign sent through the paid Marketing Messages API (Measure
    Campaign Performance on Marketing Message API for Messenger): what the ad account spent and
    what Meta counted. Fetched by the tick (``analytics.spend``); a failed fetch keeps the last
    figures and notes its error. Meta's counts leave out Europe and Japan and may be estimated,
    so the report shows them beside ours, never instead."""

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, primary_key=True, related_name="paid_insights"
    )
    spend = models.DecimalField(
        max_digits=16, decimal_places=4, default=0, help_text=_("In the ad account's currency.")
    )
    delivered = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0, help_text=_("Meta's link and button clicks."))
    fetched_at = models.DateTimeField(null=True, blank=True, help_text=_("Empty: Meta has told nothing yet."))
    checked_at = models.DateTimeField(null=True, blank=True, help_text=_("The last attempt."))
    error = models.TextField(blank=True, help_text=_("Why the last attempt failed (empty: it worked)."))
    ended_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the campaign was first seen finished or cancelled.")
    )

    class Meta:
        verbose_name_plural = _("paid insights")

    def __str__(self) -> str:
        return f"{self.campaign}: {self.spend} spent"
