"""The core data model: who owns which Facebook Page, who subscribed, what they consented to,
and every webhook Meta sent us.

Invariants that matter for correctness (one PSID per Page, one row per webhook event) are
database constraints, so concurrent workers cannot break them.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel
from taggit.managers import TaggableManager
from taggit.models import TaggedItemBase
from wagtail.models import (
    DraftStateMixin,
    LockableMixin,
    ModelLogEntry,
    Orderable,
    PreviewableMixin,
    RevisionMixin,
)
from wagtail.models.audit_log import ModelLogEntryManager

from . import conf

OPTIN_TITLE_MAX_LENGTH = 65  # Meta's limit for the notification_messages template title.


def _new_secret() -> str:
    return secrets.token_hex(32)


class OptinCTA(models.TextChoices):
    """Meta's ``notification_messages_cta_text`` values."""

    GET_UPDATES = "GET_UPDATES", _("Get updates")
    ALLOW = "ALLOW", _("Allow messages")
    GET = "GET", _("Get messages")
    OPT_IN = "OPT_IN", _("Opt in to messages")
    SIGN_UP = "SIGN_UP", _("Sign up for messages")


class Account(models.Model):
    """A business whose Messenger marketing is run from this install.

    An agency serves many accounts; a single business is one account. Pages, subscribers and
    everything derived from them belong to exactly one account.
    """

    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=100, unique=True)
    timezone = models.CharField(
        max_length=64, default="UTC", help_text=_("Default timezone for schedules and reports.")
    )
    events_secret = models.CharField(
        max_length=64,
        default=_new_secret,
        help_text=_("Signs store events sent to /onesend/events/<slug>/ (HMAC-SHA256)."),
    )
    shopify_secret = models.CharField(
        max_length=255,
        blank=True,
        help_text=_("Shopify's webhook signing secret, for its order and checkout webhooks."),
    )
    sites = models.ManyToManyField(
        "wagtailcore.Site",
        blank=True,
        related_name="onesend_accounts",
        help_text=_("Wagtail Sites of this client: their subscribe buttons offer only this client's Pages."),
    )

    # Defaults of the account's Pages and campaigns (empty: the site-wide setting).
    frequency_cap_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "At most one marketing message per subscriber per this many hours, unless a Page says "
            "otherwise. Empty: the site default."
        ),
    )
    attribution_click_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "An order counts for the campaign last clicked within this many days. Empty: site default."
        ),
    )
    attribution_read_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Failing a click, for the campaign last read within this many days (0: off). Empty: site default."
        ),
    )
    optin_title = models.CharField(
        max_length=OPTIN_TITLE_MAX_LENGTH,
        blank=True,
        help_text=_("Opt-in title of new Pages that leave theirs at the default."),
    )
    optin_cta = models.CharField(
        _("opt-in button"),
        max_length=20,
        choices=OptinCTA.choices,
        blank=True,
        help_text=_("Opt-in button of new Pages that leave theirs at the default."),
    )
    optin_image_url = models.URLField(blank=True, help_text=_("Opt-in image of new Pages that have none."))
    welcome_message = models.TextField(
        blank=True, max_length=1999, help_text=_("Welcome message of new Pages that have none.")
    )
    quiet_hours_start = models.TimeField(
        null=True, blank=True, help_text=_("Quiet hours of new campaigns (subscriber's local time).")
    )
    quiet_hours_end = models.TimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("access_all_accounts", "Can see and manage every client account (agency staff)")]

    def __str__(self) -> str:
        return self.name

    def setting(self, field: str, name: str):
        """The account's value of a setting, else the site-wide ``conf`` setting ``name``."""
        value = getattr(self, field)
        return conf.get(name) if value is None else value

    #: Opt-in fields a new Page takes from its account when it leaves them at their defaults.
    OPTIN_DEFAULTS = ("optin_title", "optin_cta", "optin_image_url", "welcome_message")

    def apply_optin_defaults(self, page: MessengerPage) -> None:
        """Give a new Page the account's opt-in wording and branding where the Page kept the
        model's default. Only at creation: the title is the subscription topic, which must not
        change under existing subscribers when the account's default changes later."""
        for name in self.OPTIN_DEFAULTS:
            default = MessengerPage._meta.get_field(name).get_default()
            if getattr(self, name) and getattr(page, name) == default:
                setattr(page, name, getattr(self, name))

    def apply_quiet_hours(self, campaign: Campaign) -> None:
        """A new campaign without quiet hours gets the account's."""
        if campaign.quiet_hours_start is None and campaign.quiet_hours_end is None:
            campaign.quiet_hours_start, campaign.quiet_hours_end = (
                self.quiet_hours_start,
                self.quiet_hours_end,
            )


class Membership(models.Model):
    """A client user's access to one account, with a role. Agency staff need none: they see
    every account. Removing the row removes the access at once."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Client admin")  # everything in the account, incl. sending and erasing
        EDITOR = "editor", _("Editor")  # content: campaigns, links, tags; test sends
        ANALYST = "analyst", _("Analyst")  # read-only: listings, reports, exports

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="onesend_memberships"
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="onesend_membership_once")]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} ({self.get_role_display()})"


def _invitation_expiry():
    return timezone.now() + Invitation.VALID_FOR


class Invitation(models.Model):
    """An e-mailed invitation to join an account with a role. The link carries a random token;
    only its hash is stored, so the table cannot be used to accept anyone's invitation. Valid
    once, until it expires; revoking deletes it."""

    VALID_FOR = timedelta(days=7)

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.EDITOR)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=_invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.account} ({self.get_role_display()})"

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, *, account: Account, email: str, role: str, invited_by) -> tuple[Invitation, str]:
        """A new invitation and its token (shown once, in the e-mail). Earlier pending
        invitations of the same person to the same account are replaced."""
        token = secrets.token_urlsafe(32)
        cls.objects.filter(account=account, email__iexact=email, accepted_at__isnull=True).delete()
        invitation = cls.objects.create(
            account=account, email=email, role=role, token_hash=cls.hash(token), invited_by=invited_by
        )
        return invitation, token

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at


class MetaApp(models.Model):
    """A Meta (Facebook) app. One app usually serves many Pages of many accounts.

    Its secret signs every webhook Meta sends; its verify token answers Meta's subscription check.
    Each app has its own webhook URL, ``/onesend/webhook/<app_id>/``.
    """

    name = models.CharField(max_length=255)
    app_id = models.CharField(_("app ID"), max_length=64, unique=True)
    app_secret = models.CharField(max_length=255)
    verify_token = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Meta app")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.app_id})"

    def __repr__(self) -> str:  # never print secrets in logs or tracebacks
        return f"<MetaApp {self.app_id}>"


class Channel(models.TextChoices):
    """How marketing messages reach a Page's subscribers (see docs/channels in the README)."""

    MARKETING_TOKEN = "token", _("Marketing-message token (Send API)")
    MARKETING_API = "marketing_api", _("Marketing Messages API (paid)")
    STANDARD = "standard", _("Standard messaging (24 h window only)")


class MessengerPage(models.Model):
    """A Facebook Page connected to onesend, with its Page access token and messaging settings."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")  # e.g. the token was revoked: nothing is sent until re-checked

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="pages")
    app = models.ForeignKey(MetaApp, on_delete=models.PROTECT, related_name="pages")
    page_id = models.CharField(_("Page ID"), max_length=64, unique=True)
    name = models.CharField(max_length=255)
    username = models.CharField(
        max_length=100, blank=True, help_text=_("Used in m.me links; the Page ID is used when empty.")
    )
    access_token = models.TextField(help_text=_("Page access token. Never shown in listings or logs."))
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.MARKETING_TOKEN)
    ad_account_id = models.CharField(
        max_length=64, blank=True, help_text=_("Required by the paid Marketing Messages API channel.")
    )
    frequency_cap_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "At most one marketing message per subscriber per this many hours. Empty: the account's, "
            "else the site default."
        ),
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=255, blank=True)

    # Opt-in request (Meta's notification_messages template) shown to people who open the link.
    optin_title = models.CharField(
        max_length=OPTIN_TITLE_MAX_LENGTH,
        default="Updates and promotions",
        help_text=_("The topic people subscribe to. Changing it starts a new topic."),
    )
    optin_image_url = models.URLField(blank=True)
    optin_cta = models.CharField(max_length=20, choices=OptinCTA.choices, default=OptinCTA.GET_UPDATES)
    welcome_message = models.TextField(
        blank=True, max_length=1999, help_text=_("Sent right after someone subscribes.")
    )
    unsubscribe_keywords = models.CharField(
        max_length=500,
        default="STOP, UNSUBSCRIBE, STOPP, ARRET, ARRÊT, BAJA, ABMELDEN, CANCELAR",
        help_text=_("Comma-separated words that unsubscribe when sent alone (any case)."),
    )
    offer_optin_without_ref = models.BooleanField(
        default=True, help_text=_("Offer the opt-in to people who message the Page without a link.")
    )

    last_webhook_at = models.DateTimeField(null=True, blank=True)
    # What the last connection check asked Meta (``onboarding.check_health``): token, permissions,
    # webhook subscription. Shown in the Page's health panel.
    health = models.JSONField(default=dict, blank=True, editable=False)
    health_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("Messenger Page")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<MessengerPage {self.page_id}>"

    def save(self, *args, **kwargs):
        if self._state.adding and self.account_id:
            self.account.apply_optin_defaults(self)
        super().save(*args, **kwargs)

    @property
    def cooldown(self) -> timedelta:
        """The Page's frequency cap, else its account's, else the site's."""
        hours = self.frequency_cap_hours or self.account.setting("frequency_cap_hours", "FREQUENCY_CAP_HOURS")
        return timedelta(hours=hours)


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
    # Meta's receipts: everything sent up to these times was delivered / read.
    delivered_watermark = models.DateTimeField(null=True, blank=True, editable=False)
    read_watermark = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["page", "psid"], name="onesend_subscriber_unique_psid")
        ]
        ordering = ["-created_at"]
        permissions = [("erase_subscriber", "Can erase subscriber (GDPR erasure)")]

    def __str__(self) -> str:
        return f"{self.psid} @ {self.page}"

    def in_standard_window(self, now=None) -> bool:
        """Whether Meta's 24 h standard messaging window is open for this person."""
        now = now or timezone.now()
        return bool(self.last_interaction_at and now - self.last_interaction_at < timedelta(hours=24))


class MarketingToken(models.Model):
    """A marketing-message token: permission to message one subscriber about one topic."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        STOPPED = "stopped", _("Stopped by the person")
        INVALID = "invalid", _("Rejected by Meta")

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="tokens")
    token = models.CharField(max_length=512)
    topic = models.CharField(max_length=OPTIN_TITLE_MAX_LENGTH)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    timezone = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "topic"], name="onesend_token_unique_topic"),
            models.UniqueConstraint(fields=["token"], name="onesend_token_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} ({self.get_status_display()})"


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

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Consent records are append-only.")
        super().save(*args, **kwargs)


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

    class Meta:
        verbose_name = _("webhook event")
        ordering = ["-received_at", "-id"]
        # Few indexes: every event is written once per webhook, at Meta's pace. The person's events
        # (data export, erasure), and what is left to process.
        indexes = [
            models.Index(fields=["page", "psid"], name="onesend_event_person"),
            models.Index(fields=["received_at"], condition=Q(state="pending"), name="onesend_event_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} from {self.psid or '?'}"


# -- Broadcasts -----------------------------------------------------------------------------------

TEXT_MAX_LENGTH = 1999  # Meta: text messages must be shorter than 2000 characters
BUTTON_TEXT_MAX_LENGTH = 640  # Meta: the button template's text
CARD_TITLE_MAX_LENGTH = 80  # Meta: generic template title and subtitle
BUTTON_TITLE_MAX_LENGTH = 20
MAX_BUTTONS = 3


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

    # The audience (everyone subscribed to the Page, narrowed by these)
    include_tags = models.CharField(max_length=500, blank=True, help_text=_("Comma-separated: any of these."))
    exclude_tags = models.CharField(
        max_length=500, blank=True, help_text=_("Comma-separated: none of these.")
    )
    include_refs = models.CharField(max_length=500, blank=True, help_text=_("Comma-separated source refs."))
    exclude_refs = models.CharField(max_length=500, blank=True)
    opted_in_after = models.DateTimeField(null=True, blank=True)
    opted_in_before = models.DateTimeField(null=True, blank=True)

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
    )

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

    def get_preview_template(self, request, mode_name):
        return "onesend_plugin/campaign_preview.html"

    def get_preview_context(self, request, mode_name):
        from .messages import build  # messages imports this module

        return {**super().get_preview_context(request, mode_name), "message": build(self)}


class CampaignButton(Orderable):
    campaign = ParentalKey(Campaign, on_delete=models.CASCADE, related_name="buttons")
    title = models.CharField(max_length=BUTTON_TITLE_MAX_LENGTH)
    url = models.URLField(max_length=2000)

    def __str__(self) -> str:
        return self.title


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
    """Shared per-Page send-rate state when no Redis is configured (see ``ratelimit.py``)."""

    key = models.CharField(max_length=100, primary_key=True)
    available_at = models.FloatField(default=0.0)  # GCRA theoretical arrival time (epoch seconds)

    def __str__(self) -> str:
        return self.key


# -- Analytics ------------------------------------------------------------------------------------


class CampaignStat(models.Model):
    """A maintained counter of a campaign: reports read these instead of counting ledger rows,
    so they open instantly for a million recipients.

    Names: ``sent``, ``delivered``, ``read``, ``clicks``, ``unique_clicks``, ``conversions``,
    ``unsubscribed``, ``revenue:<CUR>`` (minor units), ``button:<n>`` (clicks per button),
    ``read@<hour>`` / ``click@<hour>`` (time series, ISO hour in UTC), ``sent@<minute>`` (send rate).
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


class Conversion(models.Model):
    """An order (or any valued event) reported by the shop, attributed to the campaign whose
    link the customer last clicked within the attribution window (or, optionally, read)."""

    class Via(models.TextChoices):
        CLICK = "click", _("Click")
        READ = "read", _("Read")
        NONE = "", _("Not attributed")

    #: The shop's account: order ids are the shop's own, unique only within it.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="conversions")
    order_id = models.CharField(max_length=255)
    customer_ref = models.CharField(max_length=255, blank=True, db_index=True)
    subscriber = models.ForeignKey(
        Subscriber, null=True, on_delete=models.SET_NULL, related_name="conversions"
    )
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversions"
    )
    via = models.CharField(max_length=10, choices=Via.choices, blank=True)
    value = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "order_id"], name="onesend_conversion_once")
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.value} {self.currency}"


# -- Store events --------------------------------------------------------------------------------


class StoreEvent(models.Model):
    """Something a customer did in the shop (an order, an abandoned cart, ...), as reported by
    store code, the signed HTTP endpoint or the Shopify adapter. Stored once per idempotency
    key, then processed by a worker: conversions, and the flows it triggers."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="store_events")
    name = models.CharField(max_length=50, db_index=True)
    customer_ref = models.CharField(max_length=255, db_index=True)
    properties = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=255)
    source = models.CharField(max_length=20, default="api")
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    received_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="onesend_store_event_once")
        ]
        ordering = ["-occurred_at"]

    def __str__(self) -> str:
        return f"{self.name} by {self.customer_ref}"


# -- Audit log ------------------------------------------------------------------------------------


class ScopedLogEntryManager(ModelLogEntryManager):
    def viewable_by_user(self, user):
        from .scoping import log_entries  # scoping imports this module

        return log_entries(super().viewable_by_user(user), user)


class ScopedModelLogEntry(ModelLogEntry):
    """Wagtail's log of model changes (the same table), whose entries about onesend's objects a
    client user sees only for objects of their own accounts. Wagtail's site history report lists
    every entry of every model the user has any permission on; registered as the log model of
    every model instead of ``ModelLogEntry`` (see ``wagtail_hooks``)."""

    objects = ScopedLogEntryManager()

    class Meta:
        proxy = True
