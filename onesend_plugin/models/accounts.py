"""Who owns what: client accounts, their members and invitations, Meta apps and the
Facebook Pages connected to them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.models import Collection

from .. import conf

if TYPE_CHECKING:
    from .campaigns import Campaign


OPTIN_TITLE_MAX_LENGTH = 65  # Meta's limit for the notification_messages template title.

#: How long before a paid token expires its Page warns (panel and ``onesend.W004``): a Flow 2 token
#: lives about 60 days (Onboard Businesses with Marketing Message API for Messenger, Flow 2).
PAID_TOKEN_WARNING = timedelta(days=7)


#: A business's country: an ISO 3166-1 alpha-2 code in capitals (GB, FR, US).
COUNTRY_CODE = RegexValidator(
    r"^[A-Z]{2}$", _("Enter the country's two-letter ISO code in capitals, e.g. GB.")
)


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
    collection = models.OneToOneField(
        "wagtailcore.Collection",
        null=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="onesend_account",
        help_text=_("The client's images and documents: its users see and choose only these."),
    )

    business_country = models.CharField(
        max_length=2,
        blank=True,
        validators=[COUNTRY_CODE],
        help_text=_(
            "Where the business is (ISO 3166 code: GB, FR, US…). Meta's legacy marketing-message tokens "
            "work only for businesses in the EU, the UK, Australia, Japan and South Korea; Pages sending "
            "per person use them only there. A Page may say otherwise."
        ),
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

    def save(self, *args, **kwargs) -> None:
        """A new account gets its own media collection (``onesend_plugin.admin.media``), named
        like the account, also after a rename (agency staff pick collections by name). The root
        is Wagtail's (created by its migrations; again here if a flushed database lost it)."""
        if self.collection_id is None:
            root = Collection.get_first_root_node() or Collection.add_root(name="Root")
            self.collection = root.add_child(name=self.name)
        else:
            Collection.objects.filter(pk=self.collection_id).exclude(name=self.name).update(name=self.name)
        super().save(*args, **kwargs)

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

    def owns_media(self, media) -> bool:
        """Whether an image or document is in the account's collection (or one inside it): a
        campaign may send only its own account's media. An account without a collection owns any."""
        collection = self.collection
        if collection is None:
            return True
        return media.collection_id == collection.pk or media.collection.is_descendant_of(collection)

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

    PER_PERSON = "per_person", _("Per person: free, token or paid, whichever reaches them (recommended)")
    MARKETING_TOKEN = "token", _("Marketing-message token (Send API)")
    MARKETING_API = "marketing_api", _("Marketing Messages API (paid)")
    STANDARD = "standard", _("Standard messaging (24 h window only)")


class PaidLoginFlow(models.TextChoices):
    """The Facebook Login for Business configurations that give the paid channel its token
    (Onboard Businesses with Marketing Message API for Messenger)."""

    BUSINESS = "business", _("Business portfolio (system-user token)")
    ASSET = "asset", _("Asset based (user token, 60 days)")
    PARTNER = "partner", _("Partner billing (system-user token, the partner's ad account)")


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
    business_country = models.CharField(
        max_length=2,
        blank=True,
        validators=[COUNTRY_CODE],
        help_text=_("Where the Page's business is (ISO 3166 code), when not where its account's is."),
    )
    ad_account_id = models.CharField(
        max_length=64, blank=True, help_text=_("Required by the paid Marketing Messages API channel.")
    )
    ad_account_currency = models.CharField(
        max_length=3,
        blank=True,
        help_text=_(
            "The ad account's currency (ISO 4217), as Meta reports it: paid-channel budgets are entered "
            "and spend is shown in it."
        ),
    )
    paid_access_token = models.TextField(
        blank=True,
        help_text=_(
            "The business's token for the paid Marketing Messages API (Facebook Login for Business). "
            "Never shown in listings or logs."
        ),
    )
    paid_token_flow = models.CharField(
        max_length=10, choices=PaidLoginFlow.choices, blank=True, editable=False
    )
    paid_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The last error Meta gave a paid-API call of the Page's account ({"code", "message", "at"}),
    # for its connection panel.
    paid_error = models.JSONField(default=dict, blank=True, editable=False)
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

    def note_paid_error(self, code: int | None, message: str) -> None:
        """Keep Meta's last refusal of a paid-API call for the connection panel."""
        self.paid_error = {"code": code, "message": message[:500], "at": timezone.now().isoformat()}
        MessengerPage.objects.filter(pk=self.pk).update(paid_error=self.paid_error)

    def paid_token_left(self) -> timedelta | None:
        """Time left before the paid token expires (negative once it has); None when it never
        expires (Flow 1 and 3 system-user tokens) or there is none."""
        if not self.paid_access_token or self.paid_token_expires_at is None:
            return None
        return self.paid_token_expires_at - timezone.now()

    @property
    def sends_paid(self) -> bool:
        """Whether the Page may send through Meta's paid Marketing Messages API: its channel, or a
        per-person Page with an ad account (its messages then keep to the paid API's limits, and
        the paid webhooks and unsubscribes apply)."""
        return self.channel == Channel.MARKETING_API or (
            self.channel == Channel.PER_PERSON and bool(self.ad_account_id)
        )

    @property
    def country(self) -> str:
        """The business's country (ISO 3166, upper case) this Page sends for: its own, else its
        account's; empty when neither says."""
        return (self.business_country or self.account.business_country).upper()

    @property
    def cooldown(self) -> timedelta:
        """The Page's frequency cap, else its account's, else the site's."""
        hours = self.frequency_cap_hours or self.account.setting("frequency_cap_hours", "FREQUENCY_CAP_HOURS")
        return timedelta(hours=hours)
