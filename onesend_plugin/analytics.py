"""Campaign analytics that stay exact: delivered and read from Meta's watermarks, tracked
clicks, attributed conversions, unsubscribes after a campaign.

Every number is a maintained counter (``CampaignStat``) bumped by exactly the rows an event
changed: a ledger field is only ever set while empty (``… WHERE read_at IS NULL``, on rows locked
first), so a replayed, duplicated or reordered event can never count twice.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core import signing
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from . import bulk, conf
from .counters import Kind, hourly, keyed
from .messenger import builders
from .models import Account, Campaign, CampaignStat, Click, Conversion, Delivery, MessengerPage, Subscriber

logger = logging.getLogger(__name__)

CLICK_SALT = "onesend.click"


# -- Counters ----------------------------------------------------------------------------------


def bump(campaign_id: int, counts: dict[str, int]) -> None:
    """Add to a campaign's counters in one statement (an upsert that increments). Names are
    built by ``counters``."""
    counts = {name: n for name, n in sorted(counts.items()) if n}  # one lock order for every caller
    if not counts:
        return
    table = CampaignStat._meta.db_table
    values = ", ".join(["(%s, %s, %s)"] * len(counts))
    params = [p for name, n in counts.items() for p in (campaign_id, name, n)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, name, value) VALUES {values} "
            f"ON CONFLICT (campaign_id, name) DO UPDATE SET value = {table}.value + excluded.value",
            params,
        )


def stats(campaign: Campaign) -> dict[str, int]:
    return dict(campaign.stats.values_list("name", "value"))


# -- Receipts (Meta's delivery and read watermarks) --------------------------------------------


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
    a delivery's mids cover their messages whatever the clock says. A read implies delivery. A row
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
        .filter(Q(state=Delivery.State.SENT) | Q(message_id__in=mids))
        .order_by("id")
        .values_list("id", "psid", "state", "sent_at", "message_id", "campaign_id", "delivered_at", "read_at")
    )
    delivered, read, campaign_of = {}, {}, {}
    for pk, psid, state, sent_at, message_id, campaign_id, delivered_at, read_at in rows:
        sent = state == Delivery.State.SENT and sent_at is not None
        campaign_of[pk] = campaign_id
        covering = [
            wm
            for wm, ids in delivered_by.get(psid, ())
            if (sent and sent_at <= wm + skew) or message_id in ids
        ]
        if covering and delivered_at is None:
            delivered[pk] = min(covering)
        covering = [wm for wm, _ in read_by.get(psid, ()) if sent and sent_at <= wm + skew]
        if covering and read_at is None:
            read[pk] = min(covering)
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


# -- Clicks --------------------------------------------------------------------------------------


def tracked_buttons(message: dict, delivery_id: int) -> dict:
    """The message with each URL button replaced by a signed per-recipient redirect link."""
    signer = signing.Signer(salt=CLICK_SALT)
    return builders.with_button_urls(message, lambda n: public_click_url(signer.sign(f"{delivery_id}.{n}")))


def public_click_url(token: str) -> str:
    from .messages import public_url

    return public_url(reverse("onesend:click", args=[token]))


def button_urls(message: dict) -> list[str]:
    """The original URLs of a message's URL buttons, in the order ``tracked_buttons`` numbers them."""
    return [button["url"] for button in builders.url_buttons(message)]


def resolve_click(token: str) -> tuple[Delivery, int, str] | None:
    """The delivery, button and destination of a click link; None for a tampered link."""
    try:
        delivery_id, button = (int(part) for part in signing.Signer(salt=CLICK_SALT).unsign(token).split("."))
    except (signing.BadSignature, ValueError):
        return None
    delivery = Delivery.objects.select_related("campaign").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    urls = button_urls((delivery.campaign.message or {}).get("body") or {})
    if button >= len(urls):
        return None
    return delivery, button, with_utm(urls[button], delivery.campaign)


def with_utm(url: str, campaign: Campaign) -> str:
    utm = conf.get("UTM_PARAMETERS")
    if not utm:
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    values = {"campaign": slugify(campaign.name) or str(campaign.pk)}
    for key, value in utm.items():
        query.setdefault(key, value.format(**values))
    return urlunsplit(parts._replace(query=urlencode(query)))


@transaction.atomic
def record_click(delivery: Delivery, button: int, at: datetime | None = None) -> None:
    at = at or timezone.now()
    Click.objects.create(
        delivery=delivery,
        campaign_id=delivery.campaign_id,
        subscriber_id=delivery.subscriber_id,
        button=button,
        at=at,
    )
    first = Delivery.objects.filter(pk=delivery.pk, clicked_at__isnull=True).update(clicked_at=at)
    bump(
        delivery.campaign_id,
        {
            Kind.CLICKS: 1,
            Kind.UNIQUE_CLICKS: first,
            keyed(Kind.BUTTON, button): 1,
            hourly(Kind.CLICKS, at): 1,
        },
    )


# -- Conversions and unsubscribes ------------------------------------------------------------------


def record_conversion(
    *,
    account: Account,
    order_id: str,
    value: Decimal | str | float,
    currency: str,
    customer_ref: str = "",
    subscriber: Subscriber | None = None,
    at: datetime | None = None,
) -> Conversion:
    """Store an order of ``account``'s shop and attribute it, only ever to that account's
    subscribers and campaigns: the last click within the account's click window
    (``ATTRIBUTION_CLICK_DAYS`` by default), else (if enabled) the last read within its read
    window (``ATTRIBUTION_READ_DAYS``). Idempotent per account and ``order_id``: a retried order
    event is counted once, and another shop's order with the same id is another order."""
    if subscriber is not None and subscriber.page.account_id != account.pk:
        raise ValueError(f"Subscriber {subscriber.pk} is not of account {account.pk}.")
    at = at or timezone.now()
    value = Decimal(str(value)).quantize(Decimal("0.01"))
    currency = currency.upper()
    with transaction.atomic():
        conversion, created = Conversion.objects.get_or_create(
            account=account,
            order_id=order_id,
            defaults={"value": value, "currency": currency, "customer_ref": customer_ref, "at": at},
        )
        if not created:
            return conversion
        people = (
            [subscriber]
            if subscriber
            else list(Subscriber.objects.filter(page__account=account, customer_ref=customer_ref))
            if customer_ref
            else []
        )
        delivery, via = _attribute([p.pk for p in people], at)
        if delivery is not None:
            conversion.campaign_id, conversion.via = delivery.campaign_id, via
            conversion.subscriber_id = delivery.subscriber_id
            conversion.save(update_fields=["campaign", "via", "subscriber"])
            bump(delivery.campaign_id, {Kind.CONVERSIONS: 1, keyed(Kind.REVENUE, currency): int(value * 100)})
        elif people:
            conversion.subscriber = people[0]
            conversion.save(update_fields=["subscriber"])
    return conversion


def _windows(subscriber_ids: list[int]) -> dict[tuple[int, int], list[int]]:
    """Subscribers grouped by their account's (click days, read days) attribution windows."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    rows = Subscriber.objects.filter(pk__in=subscriber_ids).values_list(
        "pk", "page__account__attribution_click_days", "page__account__attribution_read_days"
    )
    for pk, click_days, read_days in rows:
        click_days = conf.get("ATTRIBUTION_CLICK_DAYS") if click_days is None else click_days
        read_days = conf.get("ATTRIBUTION_READ_DAYS") if read_days is None else read_days
        groups[(click_days, read_days)].append(pk)
    return groups


def _attribute(subscriber_ids: list[int], at: datetime) -> tuple[Delivery | None, str]:
    """The last click within each subscriber's account's click window, else the last read
    within its read window (0 days: off)."""
    if not subscriber_ids:
        return None, ""
    windows = _windows(subscriber_ids)
    clicked, read = Q(pk__in=[]), Q(pk__in=[])
    for (click_days, read_days), ids in windows.items():
        clicked |= Q(subscriber_id__in=ids, at__gte=at - timedelta(days=click_days))
        if read_days:
            read |= Q(subscriber_id__in=ids, read_at__gte=at - timedelta(days=read_days))
    click = Click.objects.filter(clicked, at__lte=at).select_related("delivery").order_by("-at").first()
    if click:
        return click.delivery, Conversion.Via.CLICK
    last_read = Delivery.objects.filter(read, read_at__lte=at).order_by("-read_at").first()
    if last_read:
        return last_read, Conversion.Via.READ
    return None, ""


def record_unsubscribe(subscriber: Subscriber, at: datetime | None = None) -> None:
    """Count an unsubscribe against the last campaign the person received shortly before."""
    at = at or timezone.now()
    window = timedelta(days=conf.get("UNSUBSCRIBE_ATTRIBUTION_DAYS"))
    last = (
        Delivery.objects.filter(subscriber=subscriber, state=Delivery.State.SENT, sent_at__gte=at - window)
        .order_by("-sent_at")
        .values_list("campaign_id", flat=True)
        .first()
    )
    if last:
        bump(last, {Kind.UNSUBSCRIBED: 1})
