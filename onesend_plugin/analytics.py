"""Campaign analytics that stay exact: delivered and read from Meta's watermarks, tracked
clicks, attributed conversions, unsubscribes after a campaign.

Every number is a maintained counter (``CampaignStat``) bumped by exactly the rows an event
changed: updates are conditional (``… WHERE read_at IS NULL``) and return what they changed,
so a replayed, duplicated or reordered event can never count twice.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core import signing
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from . import conf
from .models import Campaign, CampaignStat, Click, Conversion, Delivery, MessengerPage, Subscriber

logger = logging.getLogger(__name__)

CLICK_SALT = "onesend.click"


# -- Counters ----------------------------------------------------------------------------------


def bump(campaign_id: int, counts: dict[str, int]) -> None:
    """Add to a campaign's counters in one statement (an upsert that increments)."""
    counts = {name: n for name, n in counts.items() if n}
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


def hour(at: datetime) -> str:
    """The UTC hour bucket of a time-series counter."""
    return at.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H")


def _update_returning(queryset, assignments: dict, returning: str = "campaign_id") -> list:
    """``UPDATE … WHERE id IN (queryset) RETURNING …``: which rows this statement changed."""
    ids_sql, ids_params = queryset.values("id").query.sql_with_params()
    table = Delivery._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    sets = ", ".join(f"{column} = %s" for column in assignments)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {sets} WHERE id IN ({ids_sql}) RETURNING {returning}",
            [adapt(v) for v in assignments.values()] + list(ids_params),
        )
        return [row[0] for row in cursor.fetchall()]


# -- Receipts (Meta's delivery and read watermarks) --------------------------------------------


def _covered(page: MessengerPage, psid: str, watermark: datetime):
    """Sent messages to this person that a watermark covers: everything sent up to it. Our
    ``sent_at`` is taken when Meta answered, a little after Meta stamped the message, hence the
    tolerance."""
    skew = timedelta(seconds=conf.get("RECEIPT_CLOCK_SKEW_SECONDS"))
    return Delivery.objects.filter(
        page=page, psid=psid, state=Delivery.State.SENT, sent_at__lte=watermark + skew
    )


@transaction.atomic
def record_delivery(page: MessengerPage, psid: str, watermark: datetime, mids: tuple[str, ...] = ()) -> int:
    Subscriber.objects.filter(page=page, psid=psid).filter(
        Q(delivered_watermark__isnull=True) | Q(delivered_watermark__lt=watermark)
    ).update(delivered_watermark=watermark)
    rows = _covered(page, psid, watermark)
    if mids:
        rows = rows | Delivery.objects.filter(page=page, psid=psid, message_id__in=mids)
    changed = _update_returning(rows.filter(delivered_at__isnull=True), {"delivered_at": watermark})
    for campaign_id, n in Counter(changed).items():
        bump(campaign_id, {"delivered": n})
    return len(changed)


@transaction.atomic
def record_read(page: MessengerPage, psid: str, watermark: datetime) -> int:
    """A read implies delivery: rows read before their delivery receipt count as both."""
    record_delivery(page, psid, watermark)
    Subscriber.objects.filter(page=page, psid=psid).filter(
        Q(read_watermark__isnull=True) | Q(read_watermark__lt=watermark)
    ).update(read_watermark=watermark)
    changed = _update_returning(
        _covered(page, psid, watermark).filter(read_at__isnull=True), {"read_at": watermark}
    )
    for campaign_id, n in Counter(changed).items():
        bump(campaign_id, {"read": n, f"read@{hour(watermark)}": n})
    return len(changed)


# -- Clicks --------------------------------------------------------------------------------------


def tracked_buttons(message: dict, delivery_id: int) -> dict:
    """The message with each URL button replaced by a signed per-recipient redirect link."""
    payload = (message.get("attachment") or {}).get("payload") or {}
    containers = [payload] + list(payload.get("elements") or [])
    if not any(c.get("buttons") for c in containers):
        return message
    signer = signing.Signer(salt=CLICK_SALT)
    index = 0

    def track(button: dict) -> dict:
        nonlocal index
        if button.get("type") != "web_url":
            return button
        token = signer.sign(f"{delivery_id}.{index}")
        index += 1
        return {**button, "url": public_click_url(token)}

    new_payload = {**payload}
    if payload.get("buttons"):
        new_payload["buttons"] = [track(b) for b in payload["buttons"]]
    if payload.get("elements"):
        new_payload["elements"] = [
            {**el, "buttons": [track(b) for b in el.get("buttons", [])]} if el.get("buttons") else el
            for el in payload["elements"]
        ]
    return {**message, "attachment": {**message["attachment"], "payload": new_payload}}


def public_click_url(token: str) -> str:
    from .messages import public_url

    return public_url(reverse("onesend:click", args=[token]))


def button_urls(message: dict) -> list[str]:
    """The original URLs of a message's URL buttons, in the order ``tracked_buttons`` numbers them."""
    payload = (message.get("attachment") or {}).get("payload") or {}
    buttons = list(payload.get("buttons") or [])
    for element in payload.get("elements") or []:
        buttons.extend(element.get("buttons") or [])
    return [b["url"] for b in buttons if b.get("type") == "web_url"]


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
        {"clicks": 1, "unique_clicks": first, f"button:{button}": 1, f"click@{hour(at)}": 1},
    )


# -- Conversions and unsubscribes ------------------------------------------------------------------


def record_conversion(
    *,
    order_id: str,
    value: Decimal | str | float,
    currency: str,
    customer_ref: str = "",
    subscriber: Subscriber | None = None,
    at: datetime | None = None,
) -> Conversion:
    """Store an order and attribute it: the last click within the account's click window
    (``ATTRIBUTION_CLICK_DAYS`` by default), else (if enabled) the last read within its read
    window (``ATTRIBUTION_READ_DAYS``). Idempotent per
    ``order_id``: a retried order event is counted once."""
    at = at or timezone.now()
    value = Decimal(str(value)).quantize(Decimal("0.01"))
    currency = currency.upper()
    with transaction.atomic():
        conversion, created = Conversion.objects.get_or_create(
            order_id=order_id,
            defaults={"value": value, "currency": currency, "customer_ref": customer_ref, "at": at},
        )
        if not created:
            return conversion
        people = (
            [subscriber]
            if subscriber
            else list(Subscriber.objects.filter(customer_ref=customer_ref))
            if customer_ref
            else []
        )
        delivery, via = _attribute([p.pk for p in people], at)
        if delivery is not None:
            conversion.campaign_id, conversion.via = delivery.campaign_id, via
            conversion.subscriber_id = delivery.subscriber_id
            conversion.save(update_fields=["campaign", "via", "subscriber"])
            bump(delivery.campaign_id, {"conversions": 1, f"revenue:{currency}": int(value * 100)})
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
        bump(last, {"unsubscribed": 1})
