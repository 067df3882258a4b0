"""Many rows in one statement, with a few parameters whatever their count.

psycopg turns a query's ``%s`` into the server's placeholders in Python, splitting the text on
each one, and caches that only for short queries: at 12 placeholders per webhook event this was
half of the drain's CPU. On PostgreSQL each column therefore goes as one array parameter
(``unnest``); SQLite binds natively and keeps a ``VALUES`` list.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection


def rows_source(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence]) -> tuple[str, list]:
    """A ``FROM`` item named ``v`` whose columns are ``columns`` — (name, PostgreSQL type) — and
    whose rows are ``rows`` (values already adapted for the database). Returns (SQL, params)."""
    names = [name for name, _ in columns]
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
        return f"unnest({arrays}) AS v({', '.join(names)})", [
            list(column) for column in zip(*rows, strict=True)
        ]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    renamed = ", ".join(f"column{i} AS {name}" for i, name in enumerate(names, start=1))
    return (
        f"(SELECT {renamed} FROM (VALUES {', '.join([row] * len(rows))})) AS v",
        [value for values in rows for value in values],
    )
