"""The marketing-to-organic balance of each Page: how many marketing messages it sent for each
message people sent to it, over the last 24 hours and the last 7 days, beside Meta's frequency
caps and the people those caps already refused.

Meta's frequency caps ("F-caps", Marketing Message API for Messenger changelog, 2026-04-10;
API References 2300042-2300044): since 2026-04-10 Meta refuses a marketing message to a person
whose marketing messages exceed 20 % of their organic threads over the trailing 7 days, or
40 % over the trailing day (unless they received none in that period), counted per person
across all businesses and per business. The caps are Meta's, per person; a Page's figure is the
average over everyone who wrote to it or was messaged, so it shows the trend toward the wall,
not each person's state. The refusals themselves (rows skipped ``meta_frequency_cap``) are the
wall.

Cheap at any ledger size: marketing messages are the campaigns' maintained ``sent@<minute>``
counters (bumped as ledger rows become ``sent``), refusals their ``fcap@<hour>`` counters,
organic messages the inbox's hourly ``InboxCount``: at most one row per Page and hour read,
never the ledger nor the webhook log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from itertools import chain

from django.db import connection
from django.db.models import Case, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Left, StrIndex, Substr
from django.utils import timezone

from ..models import Campaign, CampaignStat, InboxCount, MessengerPage
from .counters import REFUSED_SERIES, SERIES, Kind, hour

#: Meta's caps on the ratio of marketing messages to organic threads (changelog 2026-04-10).
DAILY_CAP = 0.40
WEEKLY_CAP = 0.20
DAYS = 7
SENT_SERIES = SERIES[Kind.SENT]
#: The fields of a ``Window``, in order.
MARKETING, ORGANIC, REFUSED = range(3)


@dataclass(frozen=True)
class Window:
    """One period's figures for a Page: what it sent, what people sent it, what Meta refused."""

    marketing: int = 0
    organic: int = 0
    refused: int = 0

    def share(self) -> float | None:
        """Marketing messages per organic message; None when nobody wrote."""
        return self.marketing / self.organic if self.organic else None

    def over(self, cap: float) -> bool:
        """Above Meta's cap: more marketing than ``cap`` per organic message (any, if none)."""
        share = self.share()
        return self.marketing > 0 and (share is None or share > cap)


@dataclass(frozen=True)
class Balance:
    page: MessengerPage
    day: Window
    week: Window
    #: The last 7 trailing 24-hour periods, oldest first (the trend; the last one is ``day``).
    days: list[Window]

    @property
    def hit_the_wall(self) -> bool:
        return self.week.refused > 0


def count_organic(page_id: int, at: datetime) -> None:
    """Count one message a person sent to the Page, in the UTC hour of ``at`` (one upsert)."""
    bucket = at.astimezone(dt_timezone.utc).replace(minute=0, second=0, microsecond=0)
    table = InboxCount._meta.db_table
    stamp = connection.ops.adapt_datetimefield_value(bucket)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (page_id, hour, messages) VALUES (%s, %s, 1) "
            f"ON CONFLICT (page_id, hour) DO UPDATE SET messages = {table}.messages + 1",
            [page_id, stamp],
        )


def balances(pages: QuerySet[MessengerPage], now: datetime | None = None) -> list[Balance]:
    """The balance of each of ``pages`` active in the last 7 days (it sent, was written to or
    was refused), by name. Three queries whatever the size of the ledger, summed by day in the
    database (at most 7 rows per Page and figure come back)."""
    current = (now or timezone.now()).astimezone(dt_timezone.utc).replace(minute=0, second=0, microsecond=0)
    # The first hour of each trailing 24 hours, oldest first: the last day ends with this hour.
    starts = [current - timedelta(hours=24 * (DAYS - day) - 1) for day in range(DAYS)]
    end = current + timedelta(hours=1)
    tally: dict[int, list[list[int]]] = defaultdict(lambda: [[0, 0, 0] for _ in range(DAYS)])
    for page_id, field, day, n in chain(
        _campaign_counts(pages, starts, end), _organic_counts(pages, starts, end)
    ):
        tally[page_id][day][field] += n
    found = []
    for page in pages.filter(pk__in=list(tally)).order_by("name"):
        days = [Window(*counts) for counts in tally[page.pk]]
        week = Window(*(sum(column) for column in zip(*tally[page.pk], strict=True)))
        found.append(Balance(page=page, day=days[-1], week=week, days=days))
    return found


def _day(field: str, starts: list) -> Case:
    """Which of the 7 days a bucket falls in (0 the oldest), from the first bucket of each."""
    return Case(
        *(When(**{f"{field}__gte": at}, then=Value(day)) for day, at in reversed(list(enumerate(starts))))
    )


def _campaign_counts(
    pages: QuerySet, starts: list[datetime], end: datetime
) -> Iterator[tuple[int, int, int, int]]:
    """(Page, ``Window`` field, day, count) of the messages sent and refused, from the hourly
    and per-minute counters of the campaigns that may have sent in the period."""
    campaigns = Campaign.objects.filter(page__in=pages).filter(
        Q(finished_at__isnull=True) | Q(finished_at__gte=starts[0]), started_at__lt=end
    )
    series = Q()
    for name in (SENT_SERIES, REFUSED_SERIES):  # a range of names each: <series>@<hour>
        series |= Q(name__gte=f"{name}@{hour(starts[0])}", name__lt=f"{name}@{hour(end)}")
    at = StrIndex("name", Value("@"))
    rows = (
        CampaignStat.objects.filter(series, campaign__in=campaigns)
        .annotate(series=Left("name", at - 1), bucket=Substr("name", at + 1, 13))  # <series>@<hour>
        .annotate(day=_day("bucket", [hour(start) for start in starts]))
        .values_list("campaign__page_id", "series", "day")
        .annotate(n=Sum("value"))
        .order_by()
    )
    for page_id, name, day, n in rows:
        yield page_id, (MARKETING if name == SENT_SERIES else REFUSED), day, n


def _organic_counts(
    pages: QuerySet, starts: list[datetime], end: datetime
) -> Iterator[tuple[int, int, int, int]]:
    rows = (
        InboxCount.objects.filter(page__in=pages, hour__gte=starts[0], hour__lt=end)
        .annotate(day=_day("hour", starts))
        .values_list("page_id", "day")
        .annotate(n=Sum("messages"))
        .order_by()
    )
    for page_id, day, n in rows:
        yield page_id, ORGANIC, day, n
