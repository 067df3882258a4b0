"""Every webhook Meta sent us, stored raw before parsing, and the events split from it.

One row per webhook event is a database constraint, so Meta's redeliveries are processed once."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from .accounts import MessengerPage, MetaApp


class WebhookDelivery(models.Model):
    """One POST from Meta, stored byte for byte before anything is parsed.

    Keeping the raw body means a processing bug loses nothing: events can be re-parsed later.
    """

    class State(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        MALFORMED = "malformed", _("Malformed (kept, not processed)")
        RETRY = "retry", _("Failed, to be retried")
        FAILED = "failed", _("Failed (kept, not processed)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(MetaApp, on_delete=models.SET_NULL, null=True, related_name="deliveries")
    body = models.BinaryField()
    headers = models.JSONField(default=dict)
    received_at = models.DateTimeField(db_default=Now(), db_index=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True, help_text=_("Why it is malformed, or why its last attempt failed."))
    # Processing that failed is tried again later, a bounded number of times (``inbox``).
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-received_at"]
        indexes = [  # the workers' queue: deliveries not split into events yet, oldest first
            models.Index(fields=["received_at"], condition=Q(state="received"), name="onesend_webhook_todo"),
            models.Index(
                fields=["next_attempt_at"], condition=Q(state="retry"), name="onesend_webhook_retry"
            ),
        ]

    def __str__(self) -> str:
        return f"Webhook {self.received_at:%Y-%m-%d %H:%M:%S}"


class WebhookEvent(models.Model):
    """One event (one ``entry[].messaging[]`` item) of a webhook delivery.

    ``dedupe_key`` is unique in the database: Meta's redeliveries and replays insert nothing new,
    so they are processed at most once.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSED = "processed", _("Processed")
        RETRY = "retry", _("Failed, to be retried")
        FAILED = "failed", _("Failed")
        UNKNOWN_PAGE = "unknown_page", _("Unknown Page (kept)")
        INVALID = "invalid", _("Invalid (kept, not processed)")

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="events")
    page = models.ForeignKey(
        MessengerPage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_events",
        db_index=False,  # the (page, psid) index below starts with it
    )
    page_external_id = models.CharField(_("Page ID"), max_length=64)
    kind = models.CharField(max_length=20)
    standby = models.BooleanField(
        default=False, help_text=_("Sent while another app owned the thread (handover protocol).")
    )
    psid = models.CharField(_("PSID"), max_length=64, blank=True)
    timestamp = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=64, unique=True)
    payload = models.JSONField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(db_default=Now(), db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # A handler that failed is run again later, as a failed delivery is (``inbox``).
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Plugins told about the event once it is processed (``hooks.listeners``): what the failed
    # ones raised (the event stays processed), and what calling them again needs.
    listener_errors = models.TextField(blank=True, default="", db_default="")
    #: The failed listeners, ``[plugin, hook]`` pairs, called again at ``listeners_next_attempt_at``.
    listeners_retry = models.JSONField(default=list, db_default=[], blank=True)
    listener_attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    listeners_next_attempt_at = models.DateTimeField(null=True, blank=True)
    #: The subscriber hooks' arguments (``subscriber`` by id), by hook, for calling them again.
    listener_arguments = models.JSONField(default=dict, db_default={}, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        ordering = ["-received_at", "-id"]
        # Few indexes: every event is written once per webhook, at Meta's pace. The person's events
        # (data export, erasure), and what is left to process (pending, retries by due time, listeners
        # to call again).
        indexes = [
            models.Index(fields=["page", "psid"], name="onesend_event_person"),
            models.Index(fields=["received_at"], condition=Q(state="pending"), name="onesend_event_pending"),
            models.Index(fields=["next_attempt_at"], condition=Q(state="retry"), name="onesend_event_retry"),
            models.Index(
                fields=["listeners_next_attempt_at"],
                condition=Q(listeners_next_attempt_at__isnull=False),
                name="onesend_event_listeners_retry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} from {self.psid or '?'}"


class InboxCount(models.Model):
    """Messages people sent to a Page, per UTC hour: the organic side of the dashboard's
    marketing-to-organic balance (``analytics.balance``), counted by the inbox as each message
    event is processed, so the panel never reads the webhook log."""

    page = models.ForeignKey(MessengerPage, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField(help_text=_("The start of the UTC hour."))
    messages = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("inbox count")
        constraints = [models.UniqueConstraint(fields=["page", "hour"], name="onesend_inbox_count_hour")]

    def __str__(self) -> str:
        return f"{self.messages} messages at {self.hour:%Y-%m-%d %H}:00"
