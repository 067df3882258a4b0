"""The "Send now" / "Schedule" confirmation: what starting the campaign would do, then starting it.

For a Page on Meta's paid Marketing Messages API it also shows the budget and Meta's delivery
estimate (Send Messages on Marketing Message API for Messenger, "Delivery estimate"), converted
from the ad account currency's smallest unit. The estimate is information: when Meta gives none,
the page says so and sending works the same.
"""

from __future__ import annotations

from dataclasses import replace

from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from .. import broadcast, messages
from ..analytics import reasons
from ..broadcast import abtest, channels
from ..messenger import currency
from ..models import Campaign, Channel
from . import channel_split
from .views import CampaignActionView


class SendCampaignView(CampaignActionView):
    """Confirms with the audience it would reach now and when it goes out, then starts it
    (the engine sends now, or schedules it when its time is still to come)."""

    template_name = "onesend_plugin/admin/campaign_send.html"

    @cached_property
    def time_has_passed(self) -> bool:
        """A set time already past: the campaign goes out now, and the page says "Send now"."""
        send_at = self.object.send_at
        return self.object.schedule == Campaign.Schedule.AT and (send_at is None or send_at <= timezone.now())

    @cached_property
    def scheduled(self) -> bool:
        return self.object.schedule != Campaign.Schedule.NOW and not self.time_has_passed

    @cached_property
    def audience(self) -> tuple[int | None, str]:
        """(how many it would reach now, the error when that can't be said)."""
        return broadcast.count(self.object)

    @property
    def can_confirm(self) -> bool:
        """Nobody to send to now: the engine would refuse (``lifecycle.EMPTY_AUDIENCE``), or
        skip everyone (all in their frequency cap), so the page says why instead of offering the
        button. A scheduled one is counted again."""
        return self.scheduled or self.audience[0] != 0 and self.in_cooldown != self.audience[0]

    @cached_property
    def in_cooldown(self) -> int:
        """How many of those it would reach are in their frequency cap (0 when not counted now)."""
        return broadcast.in_cooldown(self.object) if self.audience[0] and not self.scheduled else 0

    def get_page_title(self):
        return _("Schedule") if self.scheduled else _("Send now")

    @property
    def button_label(self):
        return _("Yes, schedule it") if self.scheduled else _("Yes, send it now")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["audience"], context["audience_error"] = self.audience
        context["segment"] = broadcast.segments.label(self.object.segment) if self.object.segment else ""
        context.update(self._paid_and_split(context["audience"]))
        if context["audience"] and not self.scheduled:  # a scheduled one is counted when it starts
            context["in_cooldown"] = self.in_cooldown
            context["would_receive"] = context["audience"] - context["in_cooldown"]
            context["cooldown_hours"] = round(self.object.page.cooldown.total_seconds() / 3600)
            context["cooldown_reason"] = reasons.label("frequency_cap")
            context["all_capped"] = context["audience"] == context["in_cooldown"]
        if self.object.ab_test and context["audience"]:  # drawn from those it reaches now
            drawn = abtest.split(self.object.ab_test_share, context.get("would_receive", context["audience"]))
            context["ab_split"] = replace(drawn, rest=context["audience"] - drawn.a - drawn.b)
        return context

    def _paid_and_split(self, audience: int | None) -> dict:
        """The paid summary (budget, Meta's estimate) of a Page that may send paid messages and,
        for a Page sending per person, the channel split (``channel_split``): the paid summary
        then counts only the people routed to paid, and is left out when there are none."""
        campaign, shown = self.object, {}
        counted = channel_split.counts(campaign) if campaign.page.channel == Channel.PER_PERSON else None
        paid_audience = counted.channels[Channel.MARKETING_API] if counted else audience
        if messages.is_paid(campaign.page) and (counted is None or paid_audience):
            shown["paid"] = paid_summary(campaign, paid_audience)
        if counted is not None:
            estimate = shown["paid"]["meta_estimate"] if "paid" in shown else None
            shown["split"] = channel_split.summary(campaign, counted, estimate)
        return shown

    def perform(self):
        broadcast.start(self.object, user=self.request.user)
        if self.object.status == Campaign.Status.SCHEDULED:
            return _("Scheduled. It starts by itself when its time comes.")
        return _("Sending started.")


def paid_summary(campaign: Campaign, audience: int | None) -> dict:
    """The budget and Meta's delivery estimate as the confirmation shows them (amounts in the ad
    account's currency); ``estimate`` is None when Meta gave none. ``fewer``: Meta's upper bound is
    below our ``audience``. Its estimate (Send Messages on Marketing Message API for Messenger,
    "Delivery estimate"; reference §3.4) leaves out people its own rules refuse (one paid message
    per person every 12 h, its frequency caps, regions it does not serve; reference §6), so fewer
    than our count may be reached, and the page says why."""
    code = campaign.page.ad_account_currency
    budget = currency.label(campaign.budget, code) if campaign.budget else None
    estimate = channels.delivery_estimate(campaign)
    shown = None
    if estimate is not None:
        shown = {
            "delivery_lower": estimate.delivery_lower,
            "delivery_upper": estimate.delivery_upper,
            "cost_lower": currency.label(estimate.cost_lower, code),
            "cost_upper": currency.label(estimate.cost_upper, code),
        }
    fewer = estimate is not None and audience is not None and estimate.delivery_upper < audience
    return {
        "budget": budget,
        "period": campaign.get_budget_period_display(),
        "estimate": shown,
        "fewer": fewer,
        "meta_estimate": estimate,
    }
