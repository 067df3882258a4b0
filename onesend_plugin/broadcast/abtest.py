"""A/B tests of a broadcast: a share of the audience, drawn at random, gets variant A or B; the
rest wait, and after the test's hours get the variant with the higher click (or conversion) rate.

Everyone is in the campaign's one ledger, the variant recorded on their row: one row per person
(at most once, whatever the variant), and each send claims the person's cooldown as any other
(the frequency cap holds across variants and campaigns). What is tested is frozen with the
message when the campaign starts (``frozen``), so editing the campaign later changes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import conf, messages
from ..analytics.reports import percent, rate
from ..analytics.variants import VARIANTS, VariantResult, variant_results
from ..models import Campaign, Delivery, Subscriber
from .ledger import OPEN_STATES
from .timing import starts_at

Metric = Campaign.Metric
#: How long a row of the rest met before its winner is recorded waits to be tried again.
WINNER_WAIT = timedelta(minutes=1)


@dataclass(frozen=True)
class Split:
    """How many of an audience get variant A, variant B, and the winner later."""

    a: int
    b: int
    rest: int


def split(share: int, size: int) -> Split:
    """The test's ``share`` percent of ``size`` (at least one person per variant), halved: A gets
    the odd one."""
    test = min(size, max(2, round(size * share / 100)))
    return Split(a=test - test // 2, b=test // 2, rest=size - test)


def duration(hours: int) -> timedelta:
    """How long a test of ``hours`` runs: hours of ``AB_TEST_HOUR_SECONDS`` (3600; a demo shortens
    them, so that a test can be watched to its winner in minutes)."""
    return timedelta(seconds=hours * conf.get("AB_TEST_HOUR_SECONDS"))


def problems(campaign: Campaign, b_buttons: list[tuple[str, str]]) -> dict[str, str]:
    """Field name → error for an A/B test that can't be sent: a flow, a time of day per person,
    an expiry before the winner is picked, or variant B's content, checked as A's is
    (``b_buttons``: its (title, url) pairs)."""
    if not campaign.ab_test:
        return {}
    if campaign.trigger_event:
        return {
            "ab_test": _("A flow sends each person one message when their event happens: test broadcasts.")
        }
    if campaign.schedule == Campaign.Schedule.LOCAL:
        return {
            "ab_test": _(
                "An A/B test starts at one time for everyone: on the Schedule tab choose 'As soon as it "
                "is started' or 'At a set time'."
            )
        }
    starts = max(starts_at(campaign), timezone.now())
    if campaign.expires_at and campaign.expires_at <= starts + duration(campaign.ab_hours or 0):
        return {
            "ab_hours": _(
                "The campaign expires before the winner is picked: nobody else would get it. Pick the "
                "winner sooner, or let the campaign expire later."
            )
        }
    errors = messages.validate(messages.variant_b(campaign), b_buttons)
    return {messages.VARIANT_B_FIELDS.get(field, "variant_b_text"): error for field, error in errors.items()}


def frozen(campaign: Campaign, started_at: datetime) -> dict:
    """What a starting campaign's message keeps of its test (nothing without one): B's message,
    the test's share and winning metric, and when the winner is due."""
    if not campaign.ab_test or campaign.is_flow:
        return {}
    decide_at = started_at + duration(campaign.ab_hours)
    test = {
        "b": messages.build(messages.variant_b(campaign)),
        "share": campaign.ab_test_share,
        "metric": campaign.ab_metric,
        "hours": campaign.ab_hours,
        "decide_at": decide_at.isoformat(),
    }
    return {"ab": test}


def draw(campaign: Campaign, people: QuerySet[Subscriber]) -> dict[int, str]:
    """Subscriber id → variant for those drawn into the test (the rest are left out). The draw
    is random, seeded with the campaign's id: freezing again after a crash draws the same. Only
    those the campaign reaches now are drawn: one in their frequency cap would be skipped, and
    their variant's rate would rest on fewer people (they wait with the rest). In their cap when
    the campaign started, so that the test's own sends change no later draw."""
    test = (campaign.message or {}).get("ab")
    if not test:
        return {}
    started = campaign.started_at or timezone.now()
    capped = Q(last_marketing_at__gt=started - campaign.page.cooldown, last_marketing_at__lte=started)
    reachable = people.exclude(capped)
    ids = list(reachable.order_by("pk").values_list("pk", flat=True))
    sizes = split(test["share"], len(ids))
    drawn = random.Random(campaign.pk).sample(ids, sizes.a + sizes.b)
    return {pk: "a" if i < sizes.a else "b" for i, pk in enumerate(drawn)}


def decide_due(now: datetime | None = None) -> None:
    """Pick the winner of every test that is due (the minute tick): of campaigns sending,
    paused, or finished (a test of everyone, 100 %, finishes before its winner is due), whose
    winner is not recorded yet. A cancelled test is never decided."""
    now = now or timezone.now()
    undecided = Campaign.objects.filter(
        status__in=(Campaign.Status.RUNNING, Campaign.Status.PAUSED, Campaign.Status.FINISHED),
        message__ab__isnull=False,
        ab_decided_at__isnull=True,
    )
    for campaign in undecided:
        decide_if_due(campaign, now)


def decide_if_due(campaign: Campaign, now: datetime | None = None) -> None:
    """Pick the test's winner if it is due and not picked yet (before a worker sends: the rest
    then get the winner without waiting for the tick). A variant none of whose messages has gone
    out yet, while some still may, is not judged on nothing: see ``_postpone``."""
    now = now or timezone.now()
    if campaign.ab_decide_at and not campaign.ab_decided_at and campaign.ab_decide_at <= now:
        if not _postpone(campaign, now):
            decide(campaign, now)


def _postpone(campaign: Campaign, now: datetime) -> bool:
    """When a variant has sent nothing and some of its messages are still queued (quiet hours, a
    pause, Meta deferring paid messages), move the winner (and the rest with it) to the test's
    hours after those are due: a variant is not beaten on nothing sent. Returns whether it did.
    Every screen reads the new time from the frozen message."""
    test_rows = Delivery.objects.filter(campaign=campaign, variant__in=VARIANTS)
    sent = test_rows.filter(state=Delivery.State.SENT).values_list("variant", flat=True).distinct()
    waiting = test_rows.filter(state__in=OPEN_STATES).exclude(variant__in=list(sent))
    if not waiting.exists():
        return False
    due = waiting.aggregate(at=Min("not_before"))["at"]
    decide_at = max(due or now, now) + duration(campaign.message["ab"]["hours"])
    test = {**campaign.message["ab"], "decide_at": decide_at.isoformat()}
    campaign.message = {**campaign.message, "ab": test}
    Campaign.objects.filter(pk=campaign.pk, ab_decided_at__isnull=True).update(message=campaign.message)
    Delivery.objects.filter(
        campaign=campaign, variant="", state=Delivery.State.PENDING, not_before__lt=decide_at
    ).update(not_before=decide_at)
    return True


def decide(campaign: Campaign, now: datetime | None = None) -> str:
    """Record the test's winner and why, once (a second call, or a tick after a crash, changes
    nothing): the higher rate wins; equal rates, no sends included, leave A, the original. The
    rest, held until now, then get the winner's message. Returns the winner."""
    now = now or timezone.now()
    test = campaign.message["ab"]
    a, b = variant_results(campaign)
    winner, why = _verdict(test["metric"], a, b, test["hours"])
    if Campaign.objects.filter(pk=campaign.pk, ab_decided_at__isnull=True).update(
        ab_winner=winner, ab_decided_at=now, ab_decision=why
    ):
        campaign.ab_winner, campaign.ab_decided_at, campaign.ab_decision = winner, now, why
    else:
        campaign.refresh_from_db(fields=["ab_winner", "ab_decided_at", "ab_decision"])
    return campaign.ab_winner


def outcome(campaign: Campaign) -> str:
    """The test's outcome in words, as every screen says it: its decision, or why there will be
    none (cancelled before the winner was due); empty while the winner is still to be picked."""
    if campaign.ab_decision:
        return campaign.ab_decision
    if campaign.status == Campaign.Status.CANCELLED:
        return _("Cancelled before the winner was picked: nobody outside the test got a message.")
    return ""


def _score(metric: str, variant: VariantResult) -> tuple[float, str]:
    """A variant's rate by ``metric`` (0 when it sent nothing) and how it reads: "12.0% (6 of 50)"."""
    count = variant.clicked if metric == Metric.CLICKS else variant.conversions
    share = rate(count, variant.sent)
    shown = f"{percent(share)} ({count} of {variant.sent})" if variant.sent else _("— (none sent)")
    return share or 0.0, shown


def _verdict(metric: str, a: VariantResult, b: VariantResult, hours: int) -> tuple[str, str]:
    """The winner and the sentence that says why, with each variant's rate and counts."""
    (rate_a, shown_a), (rate_b, shown_b) = _score(metric, a), _score(metric, b)
    words = {"metric": str(Metric(metric).label).lower(), "a": shown_a, "b": shown_b, "hours": hours}
    if rate_b > rate_a:
        return "b", _("B won: %(metric)s %(b)s against %(a)s for A after %(hours)s h.") % words
    if rate_a > rate_b:
        return "a", _("A won: %(metric)s %(a)s against %(b)s for B after %(hours)s h.") % words
    return "a", _(
        "No clear winner: %(metric)s %(a)s for A and %(b)s for B after %(hours)s h; "
        "equal rates keep A, the original."
    ) % words
