"""Delivered and read, from Meta's watermarks: a ledger field is only ever set while empty
(``… WHERE read_at IS NULL``, on rows locked first), so a replayed, duplicated or reordered
receipt never counts twice.

A receipt can come before the sender has recorded Meta's answer: Meta sends the delivery webhook
as it delivers, and a worker may process it while the sending worker is still reading the
response. Such a row is still ``sending`` (its ``sent_at`` the attempt's start, before Meta
stamped the message), and a receipt covers it too — by a watermark later than the attempt began,
or, paid, by the subscription token and message campaign — so no receipt is lost to the race.
``mark_sent`` keeps the times set meanwhile."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Q

from .. import bulk, conf
from ..models import Delivery, MessengerPage, Subscriber
from .counters import Kind, hourly, outcome
from .storage import bump


class PaidReceipt(NamedTuple):
    """A ``marketing_message_deliveries`` or ``_reads`` webhook, as the ledger matches it."""

    tracking_id: str
    token: str
    campaign: str
    at: datetime


@transaction.atomic
def record_receipts(
    page: MessengerPage,
    deliveries: Iterable[tuple[str, datetime, tuple[str, ...]]] = (),
    reads: Iterable[tuple[str, datetime]] = (),
) -> tuple[int, int]:
    """Apply many delivery ``(psid, watermark, mids)`` and read ``(psid, watermark)`` receipts of
    one Page in a fixed number of statements, whatever their count. Returns (rows marked
    delivered, rows marked read).

    A watermark covers every message sent to the person up to it (our ``sent_at`` is taken when
    Meta answered, a little after Meta stamped the message: hence ``RECEIPT_CLOCK_SKEW_SECONDS``);
    a delivery's mids cover their messages whatever the clock says. A row still ``sending`` is
    covered by a watermark after its attempt began (no skew: Meta stamps the message after we ask,
    so an earlier message's watermark does not cover it). A read implies delivery. A row
    takes the smallest covering watermark of the batch and is only ever set while still empty, so
    the result (and every counter) is the same as applying the receipts one by one in any order,
    and a replayed receipt changes nothing. Rows are locked in id order (people, then ledger rows),
    so concurrent batches queue instead of deadlocking.
    """
    reads = list(reads)
    deliveries = [(psid, wm, tuple(mids)) for psid, wm, mids in deliveries] + [(p, wm, ()) for p, wm in reads]
    if not deliveries:
        return 0, 0
    psids = {psid for psid, _, _ in deliveries}
    _raise_watermarks(page, psids, deliveries, reads)
    skew = timedelta(seconds=conf.get("RECEIPT_CLOCK_SKEW_SECONDS"))
    mids = {mid for _, _, ids in deliveries for mid in ids}
    delivered_by, read_by = _by_psid(deliveries), _by_psid(reads)
    rows = (
        Delivery.objects.select_for_update()
        .filter(page=page, psid__in=psids)
        .filter(Q(delivered_at__isnull=True) | Q(read_at__isnull=True))
        .filter(Q(state__in=(Delivery.State.SENT, Delivery.State.SENDING)) | Q(message_id__in=mids))
        .order_by("id")
        .values_list("id", "psid", "state", "sent_at", "message_id", "campaign_id", "delivered_at", "read_at")
    )
    delivered, read, campaign_of = {}, {}, {}
    for pk, psid, state, sent_at, message_id, campaign_id, delivered_at, read_at in rows:
        campaign_of[pk] = campaign_id
        covering = [
            wm
            for wm, ids in delivered_by.get(psid, ())
            if _covers(state, sent_at, wm, skew) or (message_id and message_id in ids)
        ]
        if covering and delivered_at is None:
            delivered[pk] = min(covering)
        covering = [wm for wm, _ in read_by.get(psid, ()) if _covers(state, sent_at, wm, skew)]
        if covering and read_at is None:
            read[pk] = min(covering)
    return _save(delivered, read, campaign_of)


def _covers(state: str, sent_at: datetime | None, watermark: datetime, skew: timedelta) -> bool:
    """Whether a watermark covers a row: one sent up to it (our ``sent_at`` is a little late), or
    one in flight whose attempt began before it."""
    if sent_at is None:
        return False
    if state == Delivery.State.SENDING:
        return sent_at < watermark
    return state == Delivery.State.SENT and sent_at <= watermark + skew


@transaction.atomic
def record_paid_receipts(
    page: MessengerPage,
    deliveries: Iterable[PaidReceipt] = (),
    reads: Iterable[PaidReceipt] = (),
) -> tuple[int, int]:
    """Apply delivery and read receipts of paid Marketing Messages API sends
    (``marketing_message_deliveries`` / ``_reads``): each names the ``marketing_message_tracking_id``
    Meta answered the send with, which the ledger row keeps as its ``message_id``; a row still
    ``sending`` (Meta's answer not recorded yet) is found by the subscription token and message
    campaign the receipt names too. Same rules as :func:`record_receipts`: a read implies
    delivery, a row takes the earliest time of the batch and is only set while empty, so replays
    and reordering change nothing. A row Meta reported undelivered takes none (see
    :func:`record_paid_failures`)."""
    reads = list(reads)
    earliest: dict[str, dict[tuple[str, str] | str, datetime]] = {"delivered": {}, "read": {}}
    for name, receipts in (("delivered", [*deliveries, *reads]), ("read", reads)):
        for receipt in receipts:
            for key in (receipt.tracking_id, (receipt.token, receipt.campaign)):
                if key not in earliest[name] or receipt.at < earliest[name][key]:
                    earliest[name][key] = receipt.at
    if not earliest["delivered"]:
        return 0, 0
    empty = Q(delivered_at__isnull=True) | Q(read_at__isnull=True)
    tracking_ids = [key for key in earliest["delivered"] if isinstance(key, str)]
    sent = (
        Delivery.objects.select_for_update()
        .filter(empty, page=page, state=Delivery.State.SENT, message_id__in=tracking_ids)
        .order_by("id")
        .values_list("id", "campaign_id", "message_id", "delivered_at", "read_at")
    )
    keys = {key for key in earliest["delivered"] if isinstance(key, tuple)}
    in_flight = _paid_rows(page, keys, "delivered_at", "read_at", state=Delivery.State.SENDING)
    delivered, read, campaign_of = {}, {}, {}
    for pk, campaign_id, key, delivered_at, read_at in [*sent, *in_flight]:
        campaign_of[pk] = campaign_id
        if delivered_at is None:
            delivered[pk] = earliest["delivered"][key]
        if read_at is None and key in earliest["read"]:
            read[pk] = earliest["read"][key]
    return _save(delivered, read, campaign_of)


#: The reason of a paid message Meta accepted, then could not deliver.
UNDELIVERED = "undelivered"


@transaction.atomic
def record_paid_failures(page: MessengerPage, failures: Iterable[tuple[str, str, str]]) -> int:
    """Apply ``marketing_message_delivery_failed`` webhooks ``(subscription token, message campaign
    id, Meta's error)``: Meta accepted the send, then dropped it (changelog 2026-03-31). A sent row
    becomes failed (``undelivered``, Meta's error in ``error``) once: replays find it failed
    already. The failure wins over a delivery or read receipt, whichever came first: those of a
    failed row are taken back, and later ones find no sent row, so the counters are the same in
    any order (and match Meta's insights, which do not count the message as delivered)."""
    errors = {(token, campaign): error for token, campaign, error in failures}
    counts: dict[int, Counter] = {}
    rows = _paid_rows(page, set(errors), "delivered_at", "read_at")
    for pk, campaign_id, key, delivered_at, read_at in rows:
        Delivery.objects.filter(pk=pk).update(
            state=Delivery.State.FAILED,
            reason=UNDELIVERED,
            error=errors[key][:500],
            delivered_at=None,
            read_at=None,
        )
        taken_back = Counter({Kind.SENT: -1, outcome(Delivery.State.FAILED, UNDELIVERED): 1})
        taken_back.update({Kind.DELIVERED: -1} if delivered_at else {})
        taken_back.update({Kind.READ: -1, hourly(Kind.READ, read_at): -1} if read_at else {})
        counts.setdefault(campaign_id, Counter()).update(taken_back)
    for campaign_id in sorted(counts):
        bump(campaign_id, counts[campaign_id])
    return len(rows)


@transaction.atomic
def record_paid_clicks(page: MessengerPage, clicks: Iterable[tuple[str, str, datetime]]) -> int:
    """Apply ``marketing_message_clicks`` webhooks ``(subscription token, message campaign id,
    at)``: the person tapped a button of a paid message. The row is marked clicked (its earliest
    click) and counted among the people who clicked, once. The webhook names no button, and a tap
    on a URL button also opens its tracked link, which counts the click and its button
    (``record_click``): so the total is left to that link, and only the person is counted here,
    whichever of the two arrives first."""
    earliest: dict[tuple[str, str], datetime] = {}
    for token, campaign, at in clicks:
        earliest[token, campaign] = min(at, earliest.get((token, campaign), at))
    clicked = {
        pk: (campaign_id, earliest[key])
        for pk, campaign_id, key, clicked_at in _paid_rows(page, set(earliest), "clicked_at")
        if clicked_at is None
    }
    _set_once("clicked_at", {pk: at for pk, (_, at) in clicked.items()})
    for campaign_id, count in sorted(Counter(campaign_id for campaign_id, _ in clicked.values()).items()):
        bump(campaign_id, {Kind.UNIQUE_CLICKS: count})
    return len(clicked)


def _paid_rows(
    page: MessengerPage, keys: set[tuple[str, str]], *fields: str, state: str = Delivery.State.SENT
) -> list[tuple]:
    """The ledger rows (``sent`` unless told) of paid messages named by ``(subscription token,
    message campaign id)``, locked: clicks and delivery failures carry no tracking id, so Meta's
    page says to match them by the token and the campaign (the ``marketing_message_id`` the paid
    channel keeps in the campaign's message). Returns ``(id, campaign id, key, *fields)`` once per
    row."""
    if not keys:
        return []
    rows = (
        Delivery.objects.select_for_update(of=("self",))
        .filter(page=page, state=state)
        .filter(subscriber__tokens__token__in={token for token, _ in keys})
        .filter(campaign__message__channel__marketing_message_id__in={campaign for _, campaign in keys})
        .order_by("id")
        .values_list(
            "id",
            "campaign_id",
            "subscriber__tokens__token",
            "campaign__message__channel__marketing_message_id",
            *fields,
        )
    )
    # SQLite hands a JSON string of digits back as a number: compare as text.
    found = {
        pk: (pk, campaign_id, (token, str(meta_id)), *values)
        for pk, campaign_id, token, meta_id, *values in rows
        if (token, str(meta_id)) in keys
    }
    return list(found.values())


def _save(
    delivered: dict[int, datetime], read: dict[int, datetime], campaign_of: dict[int, int]
) -> tuple[int, int]:
    """Set the rows' delivered and read times and bump their campaigns' counters."""
    _set_once("delivered_at", delivered)
    _set_once("read_at", read)
    counts: dict[int, Counter] = {}
    for pk in delivered:
        counts.setdefault(campaign_of[pk], Counter())[Kind.DELIVERED] += 1
    for pk, wm in read.items():
        counts.setdefault(campaign_of[pk], Counter()).update([Kind.READ, hourly(Kind.READ, wm)])
    for campaign_id in sorted(counts):
        bump(campaign_id, counts[campaign_id])
    return len(delivered), len(read)


def _by_psid(receipts) -> dict[str, list[tuple[datetime, tuple[str, ...]]]]:
    grouped: dict[str, list] = {}
    for psid, wm, *ids in receipts:
        grouped.setdefault(psid, []).append((wm, ids[0] if ids else ()))
    return grouped


def _raise_watermarks(page: MessengerPage, psids: set[str], deliveries: list, reads: list) -> None:
    """Keep the highest delivered and read watermark per person (they never go back)."""
    best: dict[str, dict[str, datetime]] = {"delivered_watermark": {}, "read_watermark": {}}
    for column, receipts in (("delivered_watermark", deliveries), ("read_watermark", reads)):
        for psid, wm, *_ in receipts:
            if psid not in best[column] or wm > best[column][psid]:
                best[column][psid] = wm
    people = (
        Subscriber.objects.select_for_update()
        .filter(page=page, psid__in=psids)
        .order_by("id")
        .values_list("id", "psid", "delivered_watermark", "read_watermark")
    )
    raise_to: dict[str, dict[int, datetime]] = {"delivered_watermark": {}, "read_watermark": {}}
    for pk, psid, delivered_wm, read_wm in people:
        for column, current in (("delivered_watermark", delivered_wm), ("read_watermark", read_wm)):
            wm = best[column].get(psid)
            if wm is not None and (current is None or current < wm):
                raise_to[column][pk] = wm
    for column, values in raise_to.items():
        _update_each(Subscriber, column, values)


def _set_once(column: str, values: dict[int, datetime]) -> None:
    """Set ``column`` of the given (locked, still empty) ledger rows, each to its own value."""
    changed = _update_each(Delivery, column, values, only_if_null=True)
    if changed != len(values):  # the rows are locked: only a broken invariant gets here
        raise RuntimeError(f"{column}: {changed} of {len(values)} ledger rows changed under a receipt batch")


def _update_each(model, column: str, values: dict[int, datetime], only_if_null: bool = False) -> int:
    """``UPDATE … FROM`` a list of (id, value): many rows, each its own value, in one statement
    per few thousand rows."""
    table, changed = model._meta.db_table, 0
    columns = [("id", model._meta.pk), ("value", model._meta.get_field(column))]
    items = list(values.items())
    for start in range(0, len(items), 5000):
        source, params = bulk.rows_source(columns, items[start : start + 5000])
        sql = f"UPDATE {table} SET {column} = v.value FROM {source} WHERE {table}.id = v.id" + (
            f" AND {table}.{column} IS NULL" if only_if_null else ""
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            changed += cursor.rowcount
    return changed
