"""``bulk.rows_source``: many rows in one statement, typed as model fields, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from onesend_plugin import bulk
from onesend_plugin.models import Subscriber

from .factories import SubscriberFactory


@pytest.mark.django_db
def test_rows_update_each_their_own_row_exactly():
    first, second, untouched = SubscriberFactory.create_batch(3)
    field = Subscriber._meta.get_field
    columns = [("id", field("id")), ("at", field("delivered_watermark")), ("ref", field("source_ref"))]
    at = datetime(2026, 3, 29, 1, 59, 59, 123456, tzinfo=UTC)  # microseconds survive
    rows = [(first.pk, at, 'it\'s "quoted" ⚡ \\ {a,b}'), (second.pk, None, "")]
    source, params = bulk.rows_source(columns, rows)
    if connection.vendor == "postgresql":
        assert params and len(params) == 1  # one parameter however many rows
    table = Subscriber._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET delivered_watermark = v.at, source_ref = v.ref FROM {source} WHERE {table}.id = v.id",
            params,
        )
        assert cursor.rowcount == 2
    got = {s.pk: (s.delivered_watermark, s.source_ref) for s in Subscriber.objects.all()}
    assert got[first.pk] == (at, 'it\'s "quoted" ⚡ \\ {a,b}')
    assert got[second.pk] == (None, "")
    assert got[untouched.pk] == (untouched.delivered_watermark, untouched.source_ref)
