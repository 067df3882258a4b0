"""When a campaign goes out: its start time, a "local time" campaign's wall clock in every
subscriber's own timezone, and quiet hours."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

from ..models import Campaign, Subscriber

#: The easternmost timezone: a "local time" campaign starts when its time comes there.
EARLIEST_UTC_OFFSET = timedelta(hours=14)


def starts_at(campaign: Campaign) -> datetime:
    """When the campaign starts: now, at its set time, or when its local time first comes somewhere."""
    if campaign.schedule == Campaign.Schedule.NOW or not campaign.send_at:
        return timezone.now()
    if campaign.schedule == Campaign.Schedule.LOCAL:  # when the wall clock first reaches it somewhere
        return local_wall_clock(campaign).replace(tzinfo=ZoneInfo("UTC")) - EARLIEST_UTC_OFFSET
    return campaign.send_at


def local_wall_clock(campaign: Campaign) -> datetime:
    """The date and time a "local time" campaign goes out in every subscriber's own timezone
    (as entered, in the account's timezone)."""
    return timezone.localtime(campaign.send_at, zone(campaign.page.account.timezone)).replace(tzinfo=None)


def zone(name: str | None, default: ZoneInfo | None = None) -> ZoneInfo:
    """The named timezone; ``default`` (else the site's) when it is empty or unknown."""
    try:
        return ZoneInfo(name) if name else (default or ZoneInfo(settings.TIME_ZONE))
    except (ZoneInfoNotFoundError, ValueError):
        return default or ZoneInfo(settings.TIME_ZONE)


def quiet_until(campaign: Campaign, subscriber: Subscriber, now: datetime) -> datetime | None:
    """When the subscriber's quiet hours end, if they are in them now (their own timezone)."""
    start, end = campaign.quiet_hours_start, campaign.quiet_hours_end
    if start is None or end is None or start == end:
        return None
    local = timezone.localtime(now, zone(subscriber.timezone, zone(campaign.page.account.timezone)))
    t = local.timetz().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=local.tzinfo)
