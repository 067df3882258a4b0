"""Many rows in one statement, with one parameter whatever their count.

psycopg turns a query's ``%s`` into the server's placeholders in Python, splitting the text on
each one, and caches that only for short queries; arrays it quotes element by element, in Python
too. At 12 placeholders per webhook event that was half of the drain's CPU. On PostgreSQL the
rows therefore go as one JSON text (``json_to_recordset``), encoded in C; SQLite binds natively
and keeps a ``VALUES`` list.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import connection
from django.db.models import Field


def rows_source(columns: Sequence[tuple[str, Field]], rows: Sequence[Sequence]) -> tuple[str, list]:
    """A ``FROM`` item named ``v`` with one column per (name, model field) of ``columns``, typed
    as that field, holding ``rows`` (Python values, as the field takes them). Returns (SQL, params)."""
    names = [name for name, _ in columns]
    if connection.vendor == "postgresql":
        types = ", ".join(f"{name} {field.db_type(connection)}" for name, field in columns)
        body = json.dumps([dict(zip(names, row, strict=True)) for row in rows], default=_text)
        return f"json_to_recordset(%s) AS v({types})", [body]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    renamed = ", ".join(f"column{i} AS {name}" for i, name in enumerate(names, start=1))
    fields = [field for _, field in columns]
    return (
        f"(SELECT {renamed} FROM (VALUES {', '.join([row] * len(rows))})) AS v",
        [
            field.get_db_prep_save(value, connection)
            for values in rows
            for field, value in zip(fields, values, strict=True)
        ],
    )


def _text(value: Any) -> str:
    """Dates in ISO 8601 to the microsecond (Django's JSON encoder keeps milliseconds), UUIDs and
    the rest as their ``str``: PostgreSQL reads each as the column's type."""
    return value.isoformat() if isinstance(value, date) else str(value)
