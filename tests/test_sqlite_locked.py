"""The worker on SQLite: a task that finds the database locked by another writer runs again after
a pause, with one WARNING line and no ERROR (``tasks.retry_when_locked``)."""

import inspect
import logging
import sqlite3
from types import SimpleNamespace

import pytest
from django.db import OperationalError, connection, transaction

from onesend_plugin import tasks
from onesend_plugin.models import Account

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's lock")


@pytest.fixture
def other_writer(transactional_db, monkeypatch):
    """Another process's connection holding the write lock; our connection waits 0.1 s for it."""
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.1)
    connection.close()  # the next query connects with the short timeout
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield holder
    holder.close()
    connection.close()


def test_a_task_finding_the_database_locked_runs_again_once_it_is_free(other_writer, monkeypatch, caplog):
    pauses = []

    def pause(seconds):  # the other writer commits while the task waits
        pauses.append(seconds)
        other_writer.execute("COMMIT")

    monkeypatch.setattr(tasks, "time", SimpleNamespace(sleep=pause))
    write = tasks.retry_when_locked(lambda: Account.objects.create(name="Locked", slug="locked").pk)
    with caplog.at_level(logging.INFO):
        assert Account.objects.filter(pk=write()).exists()
    assert pauses == [tasks.LOCKED_RETRY_PAUSES[0]]
    [line] = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert line == (
        "WARNING",
        "SQLite database is locked: task <lambda> runs again in 0.5 s "
        "(onesend.W005 gives the settings that avoid it)",
    )


def test_a_database_locked_for_good_fails_after_the_last_pause(other_writer, monkeypatch):
    pauses = []
    monkeypatch.setattr(tasks, "time", SimpleNamespace(sleep=pauses.append))
    write = tasks.retry_when_locked(lambda: Account.objects.create(name="Locked", slug="locked"))
    with pytest.raises(OperationalError, match="database is locked"):
        write()
    assert pauses == list(tasks.LOCKED_RETRY_PAUSES)


def test_inside_a_transaction_the_error_goes_up_at_once(db, monkeypatch):
    """Run inline (``sync``) within the caller's transaction, a new try would lose its work."""
    monkeypatch.setattr(tasks, "time", SimpleNamespace(sleep=pytest.fail))

    def locked():
        raise OperationalError("database is locked")

    with pytest.raises(OperationalError, match="database is locked"), transaction.atomic():
        tasks.retry_when_locked(locked)()


def test_every_task_is_retried():
    """Every task the worker runs (the module's public functions) tries again on a locked database."""
    entry_points = [
        value
        for name, value in vars(tasks).items()
        if inspect.isfunction(value)
        and value.__module__ == tasks.__name__
        and not name.startswith("_")
        and value is not tasks.retry_when_locked
    ]
    assert {"process_webhooks", "run_campaign", "leave_audience"} <= {f.__name__ for f in entry_points}
    assert [f.__name__ for f in entry_points if not hasattr(f, "__wrapped__")] == []
