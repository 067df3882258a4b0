"""The frequency cap across campaigns: a subscriber's marketing cooldown (``last_marketing_at``)
is claimed by one conditional ``UPDATE … RETURNING``, in the transaction that marks the rows
``sending``: whichever campaign or worker gets there first sends; the others skip that person."""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from ..models import Delivery, MessengerPage, Subscriber
from .ledger import by_value


def claim_cooldown(subscriber_ids: list[int], at: datetime, page: MessengerPage) -> set[int]:
    """Atomically take the marketing-message cooldown of these subscribers at ``at``; returns
    the ids that were free (their ``last_marketing_at`` is now ``at``). One ``UPDATE …
    RETURNING`` decides: of two campaigns or workers racing for a person, exactly one gets them."""
    if not subscriber_ids:
        return set()
    table = Subscriber._meta.db_table
    placeholders = ", ".join(["%s"] * len(subscriber_ids))
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_marketing_at = %s WHERE id IN ({placeholders}) "
            f"AND (last_marketing_at IS NULL OR last_marketing_at <= %s) RETURNING id",
            [adapt(at), *subscriber_ids, adapt(at - page.cooldown)],
        )
        return {row[0] for row in cursor.fetchall()}


def release_cooldown(subscriber_ids: list[int], at: datetime, previous: dict) -> None:
    """Give back cooldowns claimed at ``at`` for messages that were not sent (unless another
    send has claimed them since)."""
    for value, ids in by_value((previous.get(pk), pk) for pk in subscriber_ids).items():
        Subscriber.objects.filter(pk__in=ids, last_marketing_at=at).update(last_marketing_at=value)


def note_cap_ends(rows: list[Delivery], page: MessengerPage) -> None:
    """Write on rows skipped for the frequency cap when their person may get a marketing message
    again (their last one plus the Page's cap), so the editor sees it beside the skip, as for
    Meta's own 12 h rule (``not_eligible_yet``)."""
    if not rows:
        return
    last = dict(
        Subscriber.objects.filter(pk__in=[row.subscriber_id for row in rows]).values_list(
            "pk", "last_marketing_at"
        )
    )
    hours = round(page.cooldown.total_seconds() / 3600)
    for at, ids in by_value((last.get(row.subscriber_id), row.id) for row in rows).items():
        if at is not None:
            when = f"{at + page.cooldown:%Y-%m-%d %H:%M} UTC"
            note = f"Eligible again from {when} (one marketing message per person per {hours} h)."
            Delivery.objects.filter(id__in=ids, state=Delivery.State.SKIPPED).update(error=note)
