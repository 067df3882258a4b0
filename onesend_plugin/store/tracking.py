"""Recording a store event (checked first: what the database or the worker would refuse is refused
here) and processing it in a worker: an order becomes a conversion, then flows react."""

from __future__ import annotations

import logging
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django_q.tasks import async_task

from .. import analytics
from ..hooks import plugins
from ..models import Account, Conversion, StoreEvent, Subscriber
from . import flows, listeners

logger = logging.getLogger(__name__)

ORDER_PLACED = "order_placed"
#: How deep an event's properties may nest (they are matched one level deep; more is abuse).
MAX_PROPERTIES_DEPTH = 16


class StoreEventError(ValueError):
    """The event can't be accepted as given (the message says why)."""


def track(
    name: str,
    *,
    customer_ref: str,
    properties: dict[str, Any] | None = None,
    account: Account | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
    source: str = "api",
) -> StoreEvent:
    """Record a store event and queue its processing. Calling it again with the same
    ``idempotency_key`` returns the stored event and queues nothing (retries count once).
    An event the worker could not store or process is refused here, with the field named
    (:class:`StoreEventError`), rather than accepted and failing later."""
    if not name or not customer_ref:
        raise StoreEventError("An event needs a name and a customer reference.")
    customer_ref, properties = str(customer_ref), {} if properties is None else properties
    at = at or timezone.now()
    key = idempotency_key or f"{name}:{customer_ref}:{at.isoformat()}"
    check_event(name, customer_ref, properties, key)
    check_moment(at)
    account = account or _only_account()
    try:
        with transaction.atomic():
            event = StoreEvent.objects.create(
                account=account,
                name=name,
                customer_ref=customer_ref,
                properties=properties,
                idempotency_key=key,
                occurred_at=at,
                source=source,
            )
    except IntegrityError:
        return StoreEvent.objects.get(account=account, idempotency_key=key)
    transaction.on_commit(lambda: async_task("onesend_plugin.tasks.process_store_event", event.pk))
    return event


def check_event(name: str, customer_ref: str, properties: Any, key: str) -> None:
    """Refuse what the database or the worker would: a value longer than its column, a NUL
    character (PostgreSQL stores none), properties that are not a small JSON object, an order
    without a usable id, value or currency."""
    if not isinstance(properties, dict):
        raise StoreEventError(f"properties: must be a JSON object, not {type(properties).__name__}.")
    _check_json("properties", properties)
    if name == ORDER_PLACED:
        order_fields(properties, key)
    for field, value in (("name", name), ("customer_ref", customer_ref), ("idempotency_key", key)):
        check_text(StoreEvent, field, value)


def check_text(model: type[models.Model], field: str, value: str) -> None:
    """``value`` fits ``model.field``: a string within its ``max_length``, without NUL."""
    limit = model._meta.get_field(field).max_length
    if not isinstance(value, str):
        raise StoreEventError(f"{field}: must be a string.")
    if limit is not None and len(value) > limit:
        raise StoreEventError(f"{field}: at most {limit} characters ({len(value)} given).")
    if "\x00" in value:
        raise StoreEventError(f"{field}: must not contain a NUL character.")


def check_moment(at: datetime) -> None:
    """``at`` is a moment the database can store and give back: in UTC within years 1–9999
    ("0001-01-01T00:00:00+14:00" is a valid timestamp that no Python datetime holds in UTC)."""
    try:
        (at if timezone.is_aware(at) else timezone.make_aware(at)).astimezone(dt_timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise StoreEventError(f"occurred_at: {at.isoformat()} is out of range.") from exc


def _check_json(field: str, value: Any) -> None:
    """No deeper than ``MAX_PROPERTIES_DEPTH``, and no NUL in any key or string (walked
    without recursion, so a deep value can't exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_PROPERTIES_DEPTH:
            raise StoreEventError(f"{field}: nested deeper than {MAX_PROPERTIES_DEPTH} levels.")
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and "\x00" in item:
            raise StoreEventError(f"{field}: must not contain a NUL character.")


def order_fields(properties: dict[str, Any], key: str) -> tuple[str, Decimal, str]:
    """An order event's order id (its ``order_id``, else the event's key), value and currency,
    as the conversion stores them."""
    order_id = str(properties.get("order_id") or key)
    check_text(Conversion, "order_id", order_id)
    raw = properties.get("value", "0")
    try:
        value = Decimal(str(raw)).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise StoreEventError(f"value: {raw!r} is not a number.") from exc
    value_field = Conversion._meta.get_field("value")
    if not value.is_finite() or abs(value) >= 10 ** (value_field.max_digits - value_field.decimal_places):
        raise StoreEventError(f"value: {raw!r} is out of range.")
    currency = str(properties.get("currency") or "EUR").upper()
    check_text(Conversion, "currency", currency)
    return order_id, value, currency


def _only_account() -> Account:
    accounts = list(Account.objects.all()[:2])
    if len(accounts) != 1:
        raise StoreEventError("Several accounts exist: say which one the event belongs to.")
    return accounts[0]


def resolve_subscribers(account: Account, customer_ref: str) -> list[Subscriber]:
    """The account's subscribers that are this customer: a plugin's own lookup first (the
    ``resolve_subscriber`` hook, first result wins), else the identity link made at opt-in."""
    found = plugins.resolve_subscriber(account=account, customer_ref=customer_ref)
    if found is not None and found.page.account_id == account.pk:
        return [found]
    if found is not None:
        logger.warning("resolve_subscriber gave a subscriber of another account: ignored")
    return list(Subscriber.objects.filter(page__account=account, customer_ref=customer_ref))


def process(event_id: int) -> bool:
    """Turn a stored event into its effects, all or nothing. A processed event is left alone;
    one that fails is marked ``failed`` with its error (``onesend_reprocess`` runs it again).
    Returns whether the event is processed. The call that processes it tells the plugins
    (``listeners.notify``), once committed."""
    try:
        with transaction.atomic():
            event = StoreEvent.objects.select_for_update().get(pk=event_id)
            if event.state != StoreEvent.State.PROCESSED:
                _apply(event)
                event.state, event.error = StoreEvent.State.PROCESSED, ""
                event.save(update_fields=["state", "error"])
                # robust: whatever goes wrong telling the plugins is logged, never undoes this
                transaction.on_commit(lambda: listeners.notify(event), robust=True)
        return True
    except Exception as exc:  # any failure: recorded on the event, never a silent `pending`
        logger.exception("Store event %s failed", event_id)
        StoreEvent.objects.filter(pk=event_id).update(
            state=StoreEvent.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        return False


def reprocess() -> tuple[int, int]:
    """Run every failed or still pending event again, oldest first (a pending one's task may
    have been lost with a worker; one that is also queued is processed once). Returns how many
    are now processed, of how many tried."""
    unfinished = StoreEvent.objects.filter(state__in=[StoreEvent.State.FAILED, StoreEvent.State.PENDING])
    results = [process(pk) for pk in unfinished.order_by("received_at", "pk").values_list("pk", flat=True)]
    return sum(results), len(results)


def _apply(event: StoreEvent) -> None:
    people = resolve_subscribers(event.account, event.customer_ref)
    if event.name == ORDER_PLACED:
        _record_order(event, people)
    flows.trigger(event, people)


def _record_order(event: StoreEvent, people: list[Subscriber]) -> None:
    order_id, value, currency = order_fields(event.properties, event.idempotency_key)
    analytics.record_conversion(
        account=event.account,
        order_id=order_id,
        value=value,
        currency=currency,
        customer_ref=event.customer_ref,
        subscriber=people[0] if len(people) == 1 else None,
        at=event.occurred_at,
    )
