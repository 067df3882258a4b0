"""Two "send" presses at the same moment start a campaign once: one audit entry, one task."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from wagtail.models import ModelLogEntry

from onesend_plugin import broadcast
from onesend_plugin.broadcast import runner
from onesend_plugin.models import Campaign

from .factories import CampaignFactory, MarketingTokenFactory, SubscriberFactory


@pytest.fixture
def queued(monkeypatch):
    """The tasks the engine queues (none runs)."""
    calls = []
    monkeypatch.setattr(runner, "async_task", lambda name, *args, **kwargs: calls.append((name, args)))
    return calls


def entries(campaign, action):
    return ModelLogEntry.objects.filter(object_id=str(campaign.pk), action=action).count()


@pytest.mark.django_db
def test_the_press_that_read_a_stale_draft_loses(queued, django_capture_on_commit_callbacks):
    campaign = CampaignFactory()
    MarketingTokenFactory(subscriber=SubscriberFactory(page=campaign.page))  # someone to send to
    first, second = Campaign.objects.get(pk=campaign.pk), Campaign.objects.get(pk=campaign.pk)
    with django_capture_on_commit_callbacks(execute=True):
        broadcast.start(first)
        with pytest.raises(broadcast.CampaignError, match="already sending"):
            broadcast.start(second)
    assert entries(campaign, "onesend.campaign.start") == 1
    assert queued == [("onesend_plugin.tasks.start_campaign", (campaign.pk,))]
    assert second.status == Campaign.Status.RUNNING  # what the loser is told is the truth


@pytest.mark.django_db
def test_a_campaign_is_scheduled_once(queued, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(schedule=Campaign.Schedule.AT, send_at=timezone.now() + timedelta(days=1))
    first, second = Campaign.objects.get(pk=campaign.pk), Campaign.objects.get(pk=campaign.pk)
    with django_capture_on_commit_callbacks(execute=True):
        broadcast.start(first)
        with pytest.raises(broadcast.CampaignError, match="already scheduled"):
            broadcast.start(second)
    assert entries(campaign, "onesend.campaign.schedule") == 1
    assert queued == []
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_two_simultaneous_presses_start_the_campaign_once(queued):
    campaign = CampaignFactory()
    MarketingTokenFactory(subscriber=SubscriberFactory(page=campaign.page))  # someone to send to
    both_read = threading.Barrier(2)
    outcomes = []

    def press():
        try:
            stale = Campaign.objects.select_related("page").get(pk=campaign.pk)
            both_read.wait()  # both requests saw a draft before either writes
            with transaction.atomic():
                broadcast.start(stale)
            outcomes.append("started")
        except broadcast.CampaignError as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    presses = [threading.Thread(target=press) for _ in range(2)]
    for thread in presses:
        thread.start()
    for thread in presses:
        thread.join()
    assert sorted(outcomes) == ["This campaign is already sending.", "started"]
    assert entries(campaign, "onesend.campaign.start") == 1
    assert queued == [("onesend_plugin.tasks.start_campaign", (campaign.pk,))]
