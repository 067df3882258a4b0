"""The people reachable through a Page: subscribers, their tags, marketing-message tokens,
consent evidence, and the links they subscribe through.

One PSID per Page is a database constraint, so concurrent workers cannot break it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from taggit.managers import TaggableManager
from taggit.models import TaggedItemBase

from .accounts import OPTIN_TITLE_MAX_LENGTH, MessengerPage


class SubscriptionLink(models.Model):
    """A named way in: a website button, a QR code on a poster, an e-mail footer link.

    Each has its own ``ref`` so subscribers can be counted and segmented by where they came from.
    """

    page = models.ForeignKey(MessengerPage, on_delete=models.CASCADE, related_name="links")
    name = models.CharField(max_length=255)
    ref = models.SlugField(
        max_length=50, help_text=_("Source name recorded on subscribers, e.g. 'poster-store-1'.")
    )
    tags = models.CharField(
        max_length=255, blank=True, help_text=_("Comma-separated tags given to people who subscribe here.")
    )
    clicks = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["page", "ref"], name="onesend_link_unique_ref")]
        ordering = ["page", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ref})"

    @property
    def tag_list(self) -> list[str]:
        return [tag.strip() for tag in self.tags.split(",") if tag.strip()]


#: Meta's standard messaging window: a person who wrote to the Page less than this ago may be sent
#: a standard message, free.
STANDARD_WINDOW = timedelta(hours=24)


class SubscriberTag(TaggedItemBase):
    content_object = models.ForeignKey("Subscriber", on_delete=models.CASCADE, related_name="tagged_items")


class Subscriber(models.Model):
    """A person reachable on Messenger through one Page (a PSID is Page-scoped)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Opt-in offered")  # opened the link, has not accepted (yet)
        SUBSCRIBED = "subscribed", _("Subscribed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        UNREACHABLE = "unreachable", _("Unreachable")  # Meta says the person can't be messaged
        BLOCKED = "blocked", _("Blocked the Page")

    page = models.ForeignKey(MessengerPage, on_delete=models.CASCADE, related_name="subscribers")
    psid = models.CharField(_("PSID"), max_length=64)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    timezone = models.CharField(max_length=64, blank=True)
    locale = models.CharField(max_length=20, blank=True)
    source_ref = models.CharField(
        max_length=255, blank=True, db_index=True, help_text=_("The link or QR code they came through.")
    )
    customer_ref = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text=_("The shop's customer reference (identity link)."),
    )
    tags = TaggableManager(through=SubscriberTag, blank=True)
    # The person's public profile, asked of Meta once (User Profile API), so the admin shows
    # people by name and picture; blank when Meta gave none. Erased with the subscriber.
    first_name = models.CharField(max_length=255, blank=True)
    last_name = models.CharField(max_length=255, blank=True)
    profile_pic = models.URLField(max_length=2000, blank=True)
    profile_asked_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    opted_in_at = models.DateTimeField(null=True, blank=True, db_index=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    last_interaction_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("Last message or referral from the person (opens the 24 h window)."),
    )
    last_marketing_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Last marketing message sent (frequency cap).")
    )
    paid_region_refused_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "When Meta refused a paid message because of the person's region (2300032): later "
            "campaigns skip them without asking Meta again."
        ),
    )
    # Meta's receipts: everything sent up to these times was delivered / read.
    delivered_watermark = models.DateTimeField(null=True, blank=True, editable=False)
    read_watermark = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            # A subscriber Meta matched from the shop's Custom Audience has no PSID (Get
            # subscription tokens lists its token without one): "" for each of them.
            models.UniqueConstraint(
                fields=["page", "psid"], condition=~models.Q(psid=""), name="onesend_subscriber_unique_psid"
            )
        ]
        ordering = ["-created_at"]
        permissions = [("erase_subscriber", "Can erase subscriber (GDPR erasure)")]

    def __str__(self) -> str:
        return self.label

    @property
    def name(self) -> str:
        """The person's name from their Meta profile, "" when unknown."""
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def label(self) -> str:
        """How the admin names the person: their name, else where and when they came (a PSID is
        for the details view only)."""
        if self.name:
            return self.name
        came = self.opted_in_at or self.created_at or timezone.now()
        source = self.source_ref or _("no link")
        return _("Subscriber via %(source)s, %(date)s") % {
            "source": source,
            "date": f"{timezone.localtime(came):%d %b %Y}",
        }

    def in_standard_window(self, now=None) -> bool:
        """Whether Meta's 24 h standard messaging window is open for this person."""
        now = now or timezone.now()
        return bool(self.last_interaction_at and now - self.last_interaction_at < STANDARD_WINDOW)


class MarketingToken(models.Model):
    """A marketing-message token: permission to message one subscriber about one topic."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        STOPPED = "stopped", _("Stopped by the person")
        INVALID = "invalid", _("Rejected by Meta")
        EXPIRED = "expired", _("No longer listed by Meta")

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="tokens")
    token = models.CharField(max_length=512)
    topic = models.CharField(max_length=OPTIN_TITLE_MAX_LENGTH)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    timezone = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # What Meta's token list says (``notification_message_tokens``): when the person opted in
    # there, the token's status (REFRESHED, NOT_REFRESHED), when Meta last listed it, and when a
    # complete list no longer had it (the token is then expired).
    meta_created_at = models.DateTimeField(null=True, blank=True)
    meta_status = models.CharField(max_length=20, blank=True)
    listed_at = models.DateTimeField(null=True, blank=True, editable=False)
    unlisted_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "topic"], name="onesend_token_unique_topic"),
            models.UniqueConstraint(fields=["token"], name="onesend_token_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} ({self.get_status_display()})"

    @property
    def since(self) -> datetime:
        """When the person opted in to the topic: Meta's date for a token imported from Meta
        (the consent history dates it so), else when onesend stored it."""
        return self.meta_created_at or self.created_at


class ConsentRecord(models.Model):
    """Append-only evidence of consent: what was shown, when, and through which entry point.

    Rows are never edited. Erasing a subscriber detaches their rows (``subscriber`` becomes
    NULL) and appends an ``erased`` record, so the audit trail survives without personal data.
    """

    class Action(models.TextChoices):
        OPTIN_REQUESTED = "optin_requested", _("Opt-in request shown")
        OPTED_IN = "opted_in", _("Opted in")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        RESUMED = "resumed", _("Resumed")
        ERASED = "erased", _("Erased")

    page = models.ForeignKey(MessengerPage, on_delete=models.CASCADE, related_name="consent_records")
    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="consent_records"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    entry_point = models.CharField(
        max_length=50, blank=True, help_text=_("e.g. SHORTLINK, GET_STARTED, STOP keyword, Meta control.")
    )
    ref = models.CharField(max_length=255, blank=True)
    shown = models.JSONField(
        default=dict, blank=True, help_text=_("What the person saw (title, CTA, image).")
    )
    detail = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    #: On an ``erased`` record: a keyed hash of the Page and the person's PSID
    #: (``subscribe.erasure.person_key``), so an import from Meta can leave them out without
    #: onesend keeping who they were.
    person_key = models.CharField(max_length=64, blank=True, db_index=True, editable=False)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Consent records are append-only.")
        super().save(*args, **kwargs)


class TokenImport(models.Model):
    """One pass over the tokens Meta holds for a Page (``notification_message_tokens``): an
    import someone asked for ("Import existing subscribers from Meta"), or the scheduled
    reconciliation. The counts are per token, kept as the pass goes, so the admin shows where a
    long pass is and what a finished one did."""

    class Kind(models.TextChoices):
        IMPORT = "import", _("Import")
        RECONCILE = "reconcile", _("Reconciliation")

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    page = models.ForeignKey(MessengerPage, on_delete=models.CASCADE, related_name="token_imports")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.IMPORT)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    requested_by = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    listed = models.PositiveIntegerField(default=0, help_text=_("Tokens Meta listed."))
    imported = models.PositiveIntegerField(default=0, help_text=_("New tokens stored."))
    updated = models.PositiveIntegerField(default=0, help_text=_("Tokens whose details Meta changed."))
    unchanged = models.PositiveIntegerField(default=0)
    expired = models.PositiveIntegerField(default=0, help_text=_("Tokens Meta no longer lists."))
    skipped = models.JSONField(default=dict, blank=True, help_text=_("Reason → tokens skipped."))
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.page} ({self.get_state_display()})"
