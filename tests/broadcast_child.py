"""A broadcast worker in its own OS process, for ``tests/test_broadcast_crashes.py`` and
``tests/test_broadcast_pacing.py``.

The workers are forked by a multiprocessing forkserver that imported this module, and so set
Django up (``tests.settings``), once: each worker then costs a fork, not a second or two of CPU
setting Django up again. ``main(config, conn)`` runs in the worker, ``config`` holding:

* ``db_name``: the test database the parent uses (``test_postgres``, or the SQLite file's path);
  the rest of the connection comes from ``tests.settings`` (``DATABASE_URL`` for PostgreSQL);
* ``onesend``: the ``ONESEND`` settings to use (the parent's: the simulator's URL, …);
* ``log``: the file its stdout and stderr go to.

The worker connects to the database, sends ``"ready"`` on ``conn`` and receives its job (so
several workers can be started at the same instant):

* ``{"mode": "run", "campaign": id}``: ``broadcast.run`` on the campaign, with optionally
  ``"kill_at": "before_send" | "record"`` and ``"at": n``: SIGKILL itself in the n-th call of
  that point (the ``before_send`` hook: after claim, before the HTTP call; ``Sender._record``:
  after Meta answered, before commit), or
  ``"stop_at": "before_send"``: SIGSTOP itself there instead (a stalled worker);
* ``{"mode": "reserve", "key", "rate", "count", "times"}``: rate-limiter reservations only.

It sends its result, a dict, on ``conn`` before it exits.
"""

from __future__ import annotations

import os
import signal
import time
from multiprocessing.connection import Connection

import django
from django.apps import apps

if not apps.ready:  # in the forkserver (the tests' process has Django set up already)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from onesend_plugin.broadcast import ratelimit  # noqa: F401  (the engine, imported before the fork)


def main(config: dict, conn: Connection) -> None:
    log = os.open(config["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    from django.conf import settings
    from django.db import connection

    connection.settings_dict["NAME"] = config["db_name"]
    settings.ONESEND = config["onesend"]
    connection.ensure_connection()
    conn.send("ready")
    job = conn.recv()
    result = reserve(**job) if job.pop("mode") == "reserve" else run(**job)
    connection.close()
    conn.send(result)


def run(*, campaign: int, kill_at: str = "", stop_at: str = "", at: int = 1, budget: float = 30.0) -> dict:
    from onesend_plugin import broadcast
    from onesend_plugin.hooks import hookimpl, plugins
    from onesend_plugin.messenger.client import SendResult

    calls = {"before_send": 0, "record": 0}
    sent = 0

    def trap(hook: str) -> None:
        calls[hook] += 1
        if calls[hook] == at and kill_at == hook:
            os.kill(os.getpid(), signal.SIGKILL)
        if calls[hook] == at and stop_at == hook:
            os.kill(os.getpid(), signal.SIGSTOP)  # until the parent sends SIGCONT

    class Trap:
        @hookimpl
        def before_send(self, campaign, subscriber, message):
            trap("before_send")
            return True

        @hookimpl
        def after_send(self, campaign, outcomes):
            nonlocal sent
            sent += sum(isinstance(result, SendResult) for _, result in outcomes)

    record = broadcast.Sender._record

    def trapped_record(sender, *args):
        trap("record")
        return record(sender, *args)

    broadcast.Sender._record = trapped_record
    plugins.manager.register(Trap(), name="reliability-trap")
    outcome = broadcast.run(campaign, budget=budget)
    return {"outcome": outcome, "sent": sent}


def reserve(*, key: str, rate: float, count: int, times: int) -> dict:
    """Reserve ``count`` sends ``times`` times: ``[before, wait, after]`` for each call (the
    clock before and after it, and the wait it returned)."""
    from onesend_plugin.broadcast import ratelimit

    limiter = ratelimit.limiter()
    calls = []
    for _ in range(times):
        before = time.time()
        wait = limiter.reserve(key, count, rate)
        calls.append([before, wait, time.time()])
    return {"calls": calls}
