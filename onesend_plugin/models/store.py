"""What the shop reports: store events, and the orders attributed to campaigns."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .accounts import Account
from .campaigns import Campaign
from .subscribers import Subscriber


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
    #: The ledger row it is attributed through: its A/B test variant, kept when the person is
    #: erased (the row stays, detached from them, as this order does).
    delivery = models.ForeignKey(
        "onesend.Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
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
    #: What the plugins told about the event raised, one line per plugin (the event stays processed).
    listener_errors = models.TextField(blank=True)
    #: The failed listeners, ``[plugin, hook]`` pairs, called again at ``listeners_next_attempt_at``.
    listeners_retry = models.JSONField(default=list, blank=True)
    listener_attempts = models.PositiveSmallIntegerField(default=0)
    listeners_next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="onesend_store_event_once")
        ]
        ordering = ["-occurred_at"]

    def __str__(self) -> str:
        return f"{self.name} by {self.customer_ref}"
