"""The shop's customers at Meta: the Page's Marketing Messages Custom Audience, each upload of
the customers who accepted marketing to it, and who was uploaded (by hashes only), so that a
removal, an unsubscribe or an erasure can name them to Meta again (reference
``meta-paid-marketing-api.md`` §7.1, §7.3)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from ..messenger import audiences
from .accounts import MessengerPage


class StoreAudience(models.Model):
    """The Page's Custom Audience at Meta, made with its ad account at the first upload."""

    page = models.OneToOneField(MessengerPage, on_delete=models.CASCADE, related_name="store_audience")
    audience_id = models.CharField(max_length=64, unique=True)
    ad_account_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Custom Audience {self.audience_id} of {self.page}"


class AudienceUpload(models.Model):
    """One upload of the shop's consenting customers to the Page's audience, and what came of
    it: the counts of the shop's list, the batches sent, Meta's answers and its matching."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Uploading")
        MATCHING = "matching", _("Uploaded, Meta is matching (up to 24 h)")
        DONE = "done", _("Matched")
        FAILED = "failed", _("Failed")

    page = models.ForeignKey(MessengerPage, on_delete=models.CASCADE, related_name="audience_uploads")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    requested_by = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    matched_at = models.DateTimeField(null=True, blank=True)
    customers = models.PositiveIntegerField(default=0, help_text=_("Customers the shop listed."))
    no_consent = models.PositiveIntegerField(default=0, help_text=_("Not uploaded: no marketing consent."))
    invalid = models.JSONField(default=dict, blank=True, help_text=_("Reason → rows not uploaded."))
    uploaded = models.PositiveIntegerField(default=0, help_text=_("Rows sent to Meta, hashed."))
    batches = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0, help_text=_("Customers taken out of the audience."))
    meta_invalid = models.PositiveIntegerField(default=0, help_text=_("Rows Meta called invalid."))
    session_id = models.CharField(max_length=32, blank=True)
    statuses = models.PositiveIntegerField(default=0, help_text=_("Upload-status webhooks received."))
    matched_low = models.PositiveIntegerField(default=0)
    matched_high = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Upload to {self.page}'s audience ({self.get_state_display()})"


class AudienceMember(models.Model):
    """A shop customer sent to the Page's audience, known by the SHA-256 hashes Meta was sent and
    a keyed hash of their shop reference (``store_audience.customer_key``), never the reference
    itself. An erased customer's row stays as a tombstone, without hashes, so they are never
    uploaded again."""

    page = models.ForeignKey(MessengerPage, on_delete=models.CASCADE, related_name="audience_members")
    customer_key = models.CharField(max_length=64)
    email_hash = models.CharField(max_length=64, blank=True)
    phone_hash = models.CharField(max_length=64, blank=True)
    uploaded_at = models.DateTimeField()
    erased = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["page", "customer_key"], name="onesend_audience_member_once")
        ]

    def __str__(self) -> str:
        return f"Customer {self.customer_key[:8]} in {self.page}'s audience"

    @property
    def row(self) -> list[str]:
        """The member as an upload row (names are not kept)."""
        return audiences.row_from_hashes(self.email_hash, self.phone_hash)
