"""Meta's side of the webhook inbox: inside the request only the signature is checked and the raw
body stored (one INSERT), so nothing else can make Meta time out and redeliver."""

from __future__ import annotations

import functools
import time
import uuid

from django.db import connection

from .. import safejson
from ..messenger import signature
from ..models import MetaApp, WebhookDelivery

# Request headers worth keeping with the raw body (signature headers prove what we verified).
KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Hub-Signature", "X-Hub-Signature-256")


# Apps' secrets as each web process last read them, for at most APP_CACHE_SECONDS: reading the app
# was a third of a webhook POST's CPU. A signature the cached secret refuses is checked again with
# the secret read anew, so a changed secret works at once; the old one stays accepted for at most
# that long after the change.
APP_CACHE_SECONDS = 10.0
_apps: dict[str, tuple[float, int, str]] = {}


def signed_app(app_id: str, body: bytes, header: str | None) -> int | None:
    """The pk of the Meta app ``app_id`` if ``header`` signs ``body`` with its secret, else None.
    Raises ``MetaApp.DoesNotExist`` for an unknown app."""
    cached = _apps.get(app_id)
    if cached and time.monotonic() - cached[0] < APP_CACHE_SECONDS:
        if signature.is_valid(body, header, cached[2]):
            return cached[1]
    pk, secret = MetaApp.objects.values_list("pk", "app_secret").get(app_id=app_id)
    _apps[app_id] = (time.monotonic(), pk, secret)
    return pk if signature.is_valid(body, header, secret) else None


def store_delivery(app_pk: int, body: bytes, headers) -> None:
    """Persist one verified POST, byte for byte: one INSERT, inside Meta's request. The statement
    is built once per process (the ORM's ``create()`` compiled it anew each time); ``received_at``
    is the database's clock (its column default), the same for every web host. Header values are
    made storable: a NUL in one made PostgreSQL refuse the row, and Meta's body with it."""
    kept = {name: safejson.storable(headers[name]) for name in KEPT_HEADERS if name in headers}
    values = (uuid.uuid4(), app_pk, body, kept, WebhookDelivery.State.RECEIVED, "")
    fields, sql = _delivery_insert(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)])


@functools.cache
def _delivery_insert(vendor: str) -> tuple[list, str]:
    fields = [WebhookDelivery._meta.get_field(name) for name in ("id", "app", "body", "headers", "state", "error")]  # fmt: skip
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return fields, f"INSERT INTO {WebhookDelivery._meta.db_table} ({columns}) VALUES ({placeholders})"
