"""What editors do to a campaign (the admin's buttons call these): start, pause, resume,
cancel, retry the unknown rows, send a test. Each is written to Wagtail's audit log."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from wagtail.log_actions import log

from .. import analytics, messages
from ..analytics.counters import Kind, outcome
from ..messenger.errors import CampaignNotReady, DailyBudgetReached, GraphError, NotEligibleYet
from ..meta import client_for, paid_client_for
from ..models import Campaign, Delivery, MarketingToken, MessengerPage, Subscriber
from . import abtest, channels, recipients, runner
from .ledger import RETRIED_UNKNOWN, by_value
from .timing import starts_at
from .transitions import CampaignError, claim_start, transition

logger = logging.getLogger(__name__)

State = Delivery.State
Status = Campaign.Status

#: Why a broadcast with nobody to send to does not start (the confirm step says it too).
EMPTY_AUDIENCE = (
    "Nobody would receive it: no subscriber of the Page matches its audience now. "
    "The campaign was not started."
)


def start(campaign: Campaign, *, user=None) -> None:
    """Send the published campaign now, or schedule it when its time is still to come. A
    broadcast that would start now with nobody to send to is refused (it would "finish" at once)."""
    if not campaign.live:
        raise CampaignError("Publish the campaign before sending it.")
    if campaign.status not in (Status.DRAFT, Status.SCHEDULED):
        raise CampaignError(
            f"This campaign is {campaign.get_status_display().lower()}; it can't be started again."
        )
    if campaign.page.status == MessengerPage.Status.PAUSED:
        raise CampaignError(
            f"The Page is paused ({campaign.page.status_reason}): re-check its connection first."
        )
    if problem := channels.for_page(campaign.page).setup_problem(campaign.page):
        raise CampaignError(problem)
    problems = messages.validate(campaign, [(b.title, b.url) for b in campaign.buttons.all()])
    problems.update(abtest.problems(campaign, [(b.title, b.url) for b in campaign.variant_b_buttons.all()]))
    if problems:
        raise CampaignError(" ".join(problems.values()))
    later = starts_at(campaign) > timezone.now()
    if not campaign.is_flow:
        try:
            people = recipients.audience(campaign)
        except recipients.AUDIENCE_ERRORS as exc:
            raise CampaignError(f"{exc}. The campaign was not started.") from exc
        if not later and not people.exists():  # a scheduled one counts again when its time comes
            raise CampaignError(EMPTY_AUDIENCE)
    if later:
        claim_start(campaign, Status.DRAFT, status=Status.SCHEDULED)
        log(campaign, "onesend.campaign.schedule", user=user)
        return
    started_at = timezone.now()
    claim_start(
        campaign,
        campaign.status,
        status=Status.RUNNING,
        started_at=started_at,
        message={"body": messages.build(campaign), **abtest.frozen(campaign, started_at)},
        last_error="",
    )
    log(campaign, "onesend.campaign.start", user=user)
    if not campaign.is_flow:  # a flow has no audience to freeze: events queue its messages
        transaction.on_commit(lambda: runner.queue_freeze(campaign.pk))


def pause(campaign: Campaign, *, user=None, reason: str = "") -> None:
    """Stop sending until resumed. Ours alone on the paid API: Meta documents no pause for its
    message campaign (Send Messages on Marketing Message API for Messenger), so we just stop
    calling it; resuming sends with the same message campaign."""
    transition(campaign, (Status.RUNNING, Status.SCHEDULED), Status.PAUSED, reason)
    log(campaign, "onesend.campaign.pause", user=user, data={"reason": reason})


def resume(campaign: Campaign, *, user=None) -> None:
    transition(campaign, (Status.PAUSED,), Status.RUNNING if campaign.started_at else Status.SCHEDULED)
    log(campaign, "onesend.campaign.resume", user=user)
    if campaign.status == Status.RUNNING:
        transaction.on_commit(lambda: runner.launch(campaign.pk))


def cancel(campaign: Campaign, *, user=None) -> None:
    """Stop for good: rows not yet sent are skipped (reason ``cancelled``)."""
    transition(campaign, (Status.DRAFT, Status.SCHEDULED, Status.RUNNING, Status.PAUSED), Status.CANCELLED)
    cancelled = campaign.deliveries.filter(state=State.PENDING).update(
        state=State.SKIPPED, reason="cancelled"
    )
    analytics.bump(campaign.pk, {outcome(State.SKIPPED, "cancelled"): cancelled})
    log(campaign, "onesend.campaign.cancel", user=user)


def _test_context(campaign: Campaign, channel, client) -> dict:
    """What the channel sets up for the campaign's test sends, made at the first test and reused
    by the next ones: the paid API's message campaign warms up for about an hour after it is
    created (FAQs of the Marketing Message API for Messenger), so one per test would never send."""
    if not campaign.test_channel:
        context = channel.prepare(campaign, client)
        if context:
            Campaign.objects.filter(pk=campaign.pk).update(test_channel=context)
        campaign.test_channel = context
    return campaign.test_channel


def delete_at_meta(campaign: Campaign) -> list[str]:
    """After a campaign is deleted: delete what the Page's channel created for it at Meta (the
    paid API's message campaigns of its broadcast and of its tests). Each failure is logged and
    returned, for the editor; it never undoes our delete."""
    contexts = [(campaign.message or {}).get("channel"), campaign.test_channel]
    errors = []
    for context in filter(None, contexts):
        try:
            channels.MarketingApiChannel.discard(context, paid_client_for(campaign.page))
        except GraphError as exc:
            logger.error("Campaign %r deleted, not at Meta: %s", campaign.name, exc)
            errors.append(str(exc))
    return errors


def retry_unknown(campaign: Campaign, *, user=None) -> int:
    """Queue again the rows whose fate a crash hid. They may reach some people twice: that is
    why this is an explicit decision, never automatic. Each keeps the reason ``retried_unknown``
    until its outcome, so that Meta's refusal of a second paid message is read as "probably
    already delivered", not as a reason to send it again 12 h later (``Sender``)."""
    if campaign.status == Status.CANCELLED:
        raise CampaignError("The campaign was cancelled.")
    unknown = campaign.deliveries.filter(state=State.UNKNOWN)
    # Give back the cooldown each lost attempt claimed (stamped as its sent_at), or the retry
    # would be skipped as if the person had been messaged. Meta's own cap still stops a real
    # duplicate on token channels.
    for attempted_at, subscriber_ids in by_value(unknown.values_list("sent_at", "subscriber_id")).items():
        Subscriber.objects.filter(pk__in=subscriber_ids, last_marketing_at=attempted_at).update(
            last_marketing_at=None
        )
    count = unknown.update(state=State.PENDING, reason=RETRIED_UNKNOWN, sent_at=None)
    analytics.bump(campaign.pk, {Kind.UNKNOWN: -count})
    if count:
        Campaign.objects.filter(pk=campaign.pk, status=Status.FINISHED).update(
            status=Status.RUNNING, finished_at=None
        )
        campaign.refresh_from_db(fields=["status", "finished_at"])
        if campaign.status == Status.RUNNING:
            transaction.on_commit(lambda: runner.launch(campaign.pk))
    log(campaign, "onesend.campaign.retry_unknown", user=user, data={"count": count})
    return count


#: Meta's answers to a test that its one-message-per-person rule refused (the token channel's
#: 48 h, the paid API's 12 h): editors test variant A, then B, on the same colleague.
CAPPED_TEST = ("frequency_cap", "not_eligible_yet")


def _capped_test(subscriber: Subscriber, cooldown: timedelta) -> str:
    """Why Meta refused a test to ``subscriber``, and what to do instead, in words."""
    hours = int(cooldown.total_seconds() // 3600)
    return (
        f"Meta did not send it: {subscriber.label} already had a marketing message from the Page in "
        f"the last {hours} hours (an earlier test, perhaps), and Meta allows one per person in that "
        "time. Send this test to another subscriber, or to someone who wrote to the Page in the "
        "last 24 hours: Meta sets no such limit for them."
    )


def send_test(campaign: Campaign, subscriber: Subscriber, *, user=None, variant: str = "a") -> str | None:
    """Send the campaign's latest draft (its A/B test's variant ``variant``) to one subscriber,
    outside the ledger (e.g. to a colleague). Through the Standard channel when their 24 h window
    is open, else the Page's channel (per person: the one routing picks) — which uses up their
    Meta cooldown like any marketing message, so it takes their frequency cap here too: the
    confirm step then counts them as skipped, and the campaign skips them without asking Meta."""
    draft = campaign.get_latest_revision_as_object() if campaign.pk else campaign
    if variant == "b":
        draft = messages.variant_b(draft)
    problems = messages.validate(draft, [(b.title, b.url) for b in draft.buttons.all()])
    if problems:
        raise CampaignError(" ".join(problems.values()))
    subscriber.active_tokens = list(subscriber.tokens.filter(status=MarketingToken.Status.ACTIVE))
    page = campaign.page
    channel = channels.for_test(page, subscriber)
    if isinstance(channel, str):
        raise CampaignError(f"This subscriber can't be reached ({channel.replace('_', ' ')}).")
    message = channels.with_uploaded_media(messages.build(draft), page, client_for(page))
    client = channel.send_client(page)
    request = channel.request(subscriber, message, _test_context(campaign, channel, client))
    if isinstance(request, str):
        raise CampaignError(f"This subscriber can't be reached ({request.replace('_', ' ')}).")
    [result] = client.batch([request])
    if isinstance(result, CampaignNotReady) and not isinstance(result, DailyBudgetReached):
        raise CampaignError(
            "Meta is still making this campaign's paid test campaign ready (about an hour after the "
            f"first test): try again later. (Meta: {result})"
        )
    if isinstance(result, NotEligibleYet) and result.reason in CAPPED_TEST:
        raise CampaignError(_capped_test(subscriber, channel.meta_cooldown))
    if isinstance(result, GraphError):
        raise result
    if channel.key != channels.Channel.STANDARD:
        Subscriber.objects.filter(pk=subscriber.pk).update(last_marketing_at=timezone.now())
    log(
        campaign,
        "onesend.campaign.send_test",
        user=user,
        data={"subscriber": subscriber.pk, "variant": variant},
    )
    return result.message_id
