"""GDPR erasure: every place onesend keeps a person's data, and what erasing them does there.

A person is a ``Subscriber`` (a PSID on one Page). Their data lives in:

- ``Subscriber``: PSID, name and picture (their Meta profile, ``profiles``), customer reference,
  source, timezone, locale: deleted. Their tags and
  ``MarketingToken`` rows (Meta's permission to message them) go with it (CASCADE).
- ``ConsentRecord``: kept as proof of consent, detached (``subscriber`` NULL); it holds no
  identity. An ``erased`` record is appended, with a keyed hash of the Page and PSID
  (``person_key``) so that importing the Page's tokens from Meta does not bring the person back.
- ``WebhookDelivery.body``: Meta's raw POSTs hold the PSID, the person's texts, their opt-in
  token and the refs of links they opened, in their ``messaging[]`` items. Each such item becomes
  ``{"erased": true}`` (other people's items stay). The deliveries are found through the person's
  events and, for redelivered copies that are linked to no event, by searching the Page's app's
  deliveries for the PSID. The signature headers no longer match a redacted body.
- ``WebhookEvent``: the parsed items: PSID and payload blanked, listeners no longer called again;
  the row stays, so its dedupe key still stops a late redelivery from bringing the person back.
- ``Delivery`` (the ledger, one-off campaigns and flows): rows stay, so campaign counts hold; the
  PSID is blanked and the subscriber detached (SET_NULL). A flow row's ``trigger_key`` is its
  store event's idempotency key, which may contain the customer reference: pseudonymised.
- ``Click``: detached (SET_NULL); it holds no identity of its own.
- ``StoreEvent`` and ``Conversion``: kept for revenue reports; the customer reference, wherever it
  appears (the reference itself, default idempotency keys and order ids, event properties),
  becomes ``erased-<subscriber id>``.
- ``AudienceMember`` (a shop customer sent to Meta's Custom Audience, by hashes): Meta is told
  to take them out of the audience and unsubscribe them, then the hashes are dropped; a
  tombstone (a keyed hash of the shop reference) keeps them from being uploaded again.
- Wagtail's audit log: entries about the subscriber are titled with their name or PSID: retitled.
- django-q's queue and results (``OrmQ``, ``Task``): onesend's tasks take primary keys, but tasks
  queued by earlier versions carried the opt-in ref (with the customer) in their arguments: the
  person's tasks are removed. (With the Redis broker, queued tasks are out of reach; they find no
  subscriber and do nothing.)
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.db.models import BinaryField, F, Func, IntegerField, Q, Value
from django.db.models.functions import Replace
from django.utils.crypto import salted_hmac
from django_q.models import OrmQ, Task
from wagtail.log_actions import registry as log_registry

from ..messenger import events as meta_events
from ..models import (
    ConsentRecord,
    Conversion,
    Delivery,
    StoreEvent,
    Subscriber,
    WebhookDelivery,
    WebhookEvent,
)
from . import audience_members

#: Tasks whose first argument is a subscriber's primary key.
SUBSCRIBER_TASKS = (
    "onesend_plugin.tasks.send_optin_request",
    "onesend_plugin.tasks.send_text",
    "onesend_plugin.tasks.send_followup",
    "onesend_plugin.tasks.ask_profile",
)


@transaction.atomic
def erase(subscriber: Subscriber, *, by: str) -> ConsentRecord:
    """Erase everything onesend holds about a person (see the module's docstring); ``by`` says
    who asked, in the ``erased`` consent record that remains."""
    page, pk, psid = subscriber.page, subscriber.pk, subscriber.psid
    # Meta gave no PSID for a person it matched from a Custom Audience: their token names them.
    tokens = subscriber.tokens.values_list("token", flat=True)
    identity = psid or next((token_identity(token) for token in tokens), "")
    audience_members.forget(subscriber)  # the shop customer out of Meta's audience, after commit
    if subscriber.customer_ref:
        _pseudonymise_customer(subscriber, f"erased-{pk}")
    if psid:  # without one, no webhook or ledger row names them (an empty one would match all)
        _redact_webhooks(subscriber)
        Delivery.objects.filter(subscriber=subscriber).update(
            psid="", error=Replace("error", Value(psid), Value("erased"))
        )
    log_registry.get_logs_for_instance(subscriber).update(label=f"Subscriber {pk} (erased)")
    _forget_tasks(pk)
    subscriber.delete()  # tokens and tags cascade; consent records, ledger rows, clicks are detached
    return ConsentRecord.objects.create(
        page=page,
        action=ConsentRecord.Action.ERASED,
        detail=f"erased by {by}",
        person_key=person_key(page.page_id, identity),
    )


def token_identity(token: str) -> str:
    """What ``person_key`` is given for a person known only by their token (no PSID)."""
    return f"token:{token}"


def person_key(page_id: str, psid: str) -> str:
    """A keyed hash (the site's secret key) of a person on a Page, kept on the ``erased`` record:
    an import from Meta, which may still list the person's token, recognises them and leaves them
    out, while the record alone says nothing about who they were."""
    return salted_hmac("onesend.erased", f"{page_id}:{psid}", algorithm="sha256").hexdigest()


class BytesPosition(Func):
    """1-based position of ``needle`` in a binary column (0: absent): ``INSTR`` on SQLite,
    ``POSITION(… IN …)`` on PostgreSQL."""

    function = "INSTR"
    output_field = IntegerField()

    def __init__(self, column: str, needle: bytes) -> None:
        super().__init__(F(column), Value(needle, output_field=BinaryField()))

    def as_postgresql(self, compiler, connection, **extra):
        clone = self.copy()
        clone.set_source_expressions(self.get_source_expressions()[::-1])
        return clone.as_sql(compiler, connection, function="POSITION", arg_joiner=" IN ", **extra)


def _redact_webhooks(subscriber: Subscriber) -> None:
    """The person's items out of every raw delivery that has them, and their events blanked."""
    page, psid = subscriber.page, subscriber.psid
    events = WebhookEvent.objects.filter(Q(page=page) | Q(page_external_id=page.page_id), psid=psid)
    deliveries = WebhookDelivery.objects.alias(found=BytesPosition("body", psid.encode())).filter(
        Q(pk__in=events.values("delivery_id")) | Q(app_id=page.app_id, found__gt=0)
    )
    for delivery in deliveries.only("pk", "body", "error"):
        delivery.body = _redacted(bytes(delivery.body), psid)
        delivery.error = delivery.error.replace(psid, "erased")
        delivery.save(update_fields=["body", "error"])
    # nobody left to tell plugins about: listeners not called again
    events.update(
        psid="",
        payload=meta_events.ERASED_ITEM,
        error="",
        listener_errors="",
        listeners_retry=[],
        listeners_next_attempt_at=None,
        listener_arguments={},
    )


def _redacted(body: bytes, psid: str) -> bytes:
    """A raw body without the person's items; the PSID anywhere else (or in a body that is not
    JSON) is replaced too."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if meta_events.redact_person(data, psid):
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return body.replace(psid.encode(), b"erased")


def _pseudonymise_customer(subscriber: Subscriber, pseudonym: str) -> None:
    """The customer reference becomes ``pseudonym`` in the account's store events and
    conversions and the person's flow rows, wherever it appears in them; never in another
    account's, whose shop may use the same reference for someone else."""
    customer, account = subscriber.customer_ref, subscriber.page.account_id

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(customer, pseudonym)
        if isinstance(value, list):
            return [swap(item) for item in value]
        if isinstance(value, dict):
            return {swap(key): swap(item) for key, item in value.items()}
        return value

    def rewrite(rows, fields: tuple[str, ...]) -> None:
        for row in rows:
            for name in fields:
                limit = row._meta.get_field(name).max_length
                setattr(row, name, swap(getattr(row, name))[:limit] if limit else swap(getattr(row, name)))
            row.save(update_fields=list(fields))

    events = StoreEvent.objects.filter(account_id=account, customer_ref=customer)
    # the shop's account, attributed or not: another account's "c-1" is another person
    conversions = Conversion.objects.filter(
        Q(subscriber=subscriber) | Q(customer_ref=customer), account_id=account
    )
    rows = Delivery.objects.filter(subscriber=subscriber, trigger_key__contains=customer)
    rewrite(events, ("customer_ref", "idempotency_key", "properties", "error"))
    rewrite(conversions, ("customer_ref", "order_id"))
    rewrite(rows, ("trigger_key",))


def _forget_tasks(subscriber_id: int) -> None:
    """Remove the person's tasks from django-q's ORM queue and its results."""
    for row in Task.objects.filter(func__in=SUBSCRIBER_TASKS).only("id", "args"):
        if row.args and row.args[0] == subscriber_id:
            row.delete()
    for row in OrmQ.objects.all():
        task = row.task
        if task.get("func") in SUBSCRIBER_TASKS and tuple(task.get("args") or ())[:1] == (subscriber_id,):
            row.delete()
