"""The ledger's rows through a send: claimed by a worker, loaded with their subscribers, marked
``sending``, recorded, or recovered from a dead worker. Every change of a claimed row is
conditional on its claim's time (``claimed_at``, the batch's ownership token), so a worker that
stalled past its lease changes nothing when it wakes up."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import FilteredRelation, Q, QuerySet
from django.utils import timezone

from .. import analytics, bulk, conf
from ..analytics.counters import Kind
from ..models import Campaign, Delivery, MarketingToken, MessengerPage, Subscriber

State = Delivery.State
#: Rows that may still be sent: a campaign is finished only when none is left.
OPEN_STATES = (State.PENDING, State.CLAIMED, State.SENDING)
#: What a batch loads of each row, its subscriber and their active tokens (``load_batch``),
#: in the models' field order (``Model.from_db`` expects it).
ROW_FIELDS = ("id", "subscriber_id", "trigger_key", "reason", "variant", "not_before", "attempts")
SUBSCRIBER_FIELDS = (
    "id",
    "psid",
    "status",
    "timezone",
    "locale",
    "source_ref",
    "customer_ref",
    "last_interaction_at",
    "last_marketing_at",
    "paid_region_refused_at",
)
TOKEN_FIELDS = ("token", "topic")


def claim(campaign: Campaign, size: int) -> tuple[datetime, list[int]]:
    """Take up to ``size`` due rows for this worker, in one statement. ``SKIP LOCKED`` lets
    concurrent workers pass each other without waiting; the ``state`` condition makes the claim
    safe on any database (a row another worker claimed first is simply not ours).

    Returns the claim's time and the row ids. The rows keep that time in ``claimed_at``: it is
    the batch's ownership token (see ``owned``)."""
    table = Delivery._meta.db_table
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    claimed_at = timezone.now()
    now = connection.ops.adapt_datetimefield_value(claimed_at)
    with connection.cursor() as cursor:
        cursor.execute(
            # MATERIALIZED: the LIMIT is applied once (an inlined IN-subquery may be re-run).
            f"WITH due AS MATERIALIZED (SELECT id FROM {table} WHERE campaign_id = %s AND state = %s "
            f"AND (not_before IS NULL OR not_before <= %s) ORDER BY id LIMIT %s{lock}) "
            f"UPDATE {table} SET state = %s, claimed_at = %s "
            f"WHERE state = %s AND id IN (SELECT id FROM due) RETURNING id",
            [campaign.pk, State.PENDING, now, size, State.CLAIMED, now, State.PENDING],
        )
        return claimed_at, sorted(row[0] for row in cursor.fetchall())


#: The reason a queued row keeps after ``retry_unknown``: a crash hid whether Meta took it. Kept
#: until the row's outcome replaces it (a send clears it), so every later attempt knows.
RETRIED_UNKNOWN = "retried_unknown"


def owned(claimed_at: datetime, state: str) -> QuerySet[Delivery]:
    """The rows of a batch that are still its worker's: in the state it left them and claimed
    at ``claimed_at``. Once the lease is over, ``recover`` moves them out of that state and
    another worker's claim changes ``claimed_at``: a stalled worker's late updates then match
    nothing."""
    return Delivery.objects.filter(claimed_at=claimed_at, state=state)


def recover(campaign: Campaign) -> None:
    """Rows of a worker presumed dead: claimed ones go back to the queue (nothing was sent);
    those it was sending become unknown (something may have been sent)."""
    stale = timezone.now() - timedelta(seconds=conf.get("CLAIM_LEASE_SECONDS"))
    rows = campaign.deliveries.filter(claimed_at__lt=stale)
    rows.filter(state=State.CLAIMED).update(state=State.PENDING)
    lost = rows.filter(state=State.SENDING).update(state=State.UNKNOWN, reason="worker_lost")
    analytics.bump(campaign.pk, {Kind.UNKNOWN: lost})


def load_batch(claimed_at: datetime, ids: list[int], page: MessengerPage) -> list[Delivery]:
    """The batch's rows still owned, with their subscribers and active tokens, in one query of
    plain values: the ORM's model loading (``select_related`` + a prefetch) cost more CPU
    than everything else a send does. Fields not loaded here load on access (plugins)."""
    db = Delivery.objects.db
    values = (
        owned(claimed_at, State.CLAIMED)
        .filter(id__in=ids)
        .alias(
            token=FilteredRelation(
                "subscriber__tokens",
                condition=Q(subscriber__tokens__status=MarketingToken.Status.ACTIVE),
            )
        )
        .order_by("id")
        .values_list(
            *ROW_FIELDS,
            *(f"subscriber__{name}" for name in SUBSCRIBER_FIELDS),
            *(f"token__{name}" for name in TOKEN_FIELDS),
        )
    )
    rows: dict[int, Delivery] = {}
    split, tokens_at = len(ROW_FIELDS), len(ROW_FIELDS) + len(SUBSCRIBER_FIELDS)
    for value in values:
        row = rows.get(value[0])
        if row is None:
            row = rows[value[0]] = Delivery.from_db(db, ROW_FIELDS, value[:split])
            subscriber = None
            if row.subscriber_id is not None:  # None: erased since the audience was frozen
                subscriber = Subscriber.from_db(db, SUBSCRIBER_FIELDS, value[split:tokens_at])
                subscriber.page = page
                subscriber.active_tokens = []
            row.subscriber = subscriber
        if value[tokens_at] is not None:
            row.subscriber.active_tokens.append(MarketingToken.from_db(db, TOKEN_FIELDS, value[tokens_at:]))
    return list(rows.values())


def mark_sending(claimed_at: datetime, ids_by_channel: dict[str, list[int]], at: datetime) -> list[int]:
    """Mark the batch's rows ``sending`` through their channel (``sent_at`` records the attempt,
    and the cooldown claimed for it, until Meta answers); returns the ids of those still owned.
    One statement per channel (one for a Page's fixed channel)."""
    table = Delivery._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    owned_ids = []
    with connection.cursor() as cursor:
        for channel, ids in ids_by_channel.items():
            placeholders = ", ".join(["%s"] * len(ids))
            cursor.execute(
                f"UPDATE {table} SET state = %s, sent_at = %s, channel = %s WHERE id IN ({placeholders}) "
                f"AND claimed_at = %s AND state = %s RETURNING id",
                [State.SENDING, adapt(at), channel, *ids, adapt(claimed_at), State.CLAIMED],
            )
            owned_ids += [row[0] for row in cursor.fetchall()]
    return owned_ids


def mark_sent(claimed_at: datetime, rows: list[Delivery], at: datetime) -> int:
    """Record sent rows (still owned) and their Meta message ids in one statement
    (``bulk_update`` builds an ORM expression per row and field: most of a worker's CPU at
    Meta's rate). Returns how many were recorded."""
    if not rows:
        return 0
    table = Delivery._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    source, params = bulk.rows_source(
        [("id", Delivery._meta.pk), ("message_id", Delivery._meta.get_field("message_id"))],
        [(row.id, row.message_id) for row in rows],
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, sent_at = %s, reason = '', message_id = v.message_id "
            f"FROM {source} WHERE {table}.id = v.id AND {table}.claimed_at = %s AND {table}.state = %s",
            [State.SENT, adapt(at), *params, adapt(claimed_at), State.SENDING],
        )
        return cursor.rowcount


def by_value(pairs: Iterable[tuple]) -> dict:
    """``(value, item)`` pairs grouped by value: one UPDATE per distinct value."""
    grouped = defaultdict(list)
    for value, item in pairs:
        grouped[value].append(item)
    return grouped
