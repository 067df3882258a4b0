"""A broadcast worker in its own OS process, for ``tests/test_broadcast_reliability.py``.

``python -m tests.broadcast_child``, with ``DJANGO_SETTINGS_MODULE=tests.settings`` and the
environment variable ``ONESEND_CHILD`` holding a JSON object:

* ``db_name``: the test database the parent uses (``test_postgres``, or the SQLite file's path);
  the rest of the connection comes from ``tests.settings`` (``DATABASE_URL`` for PostgreSQL);
* ``onesend``: the ``ONESEND`` settings to use (the parent's: the simulator's URL, …).

The worker sets Django up (the slow part, so the parent starts it early), prints ``ready`` and
reads its job, one JSON line on stdin (so several workers can be started at the same instant):

* ``{"mode": "run", "campaign": id}``: ``broadcast.run`` on the campaign, with optionally
  ``"kill_at": "before_send" | "record"`` and ``"at": n``: SIGKILL itself in the n-th call of
  that point (the ``before_send`` hook: after claim, before the HTTP call; ``Sender._record``:
  after Meta answered, before commit), or
  ``"stop_at": "before_send"``: SIGSTOP itself there instead (a stalled worker);
* ``{"mode": "reserve", "key", "rate", "count", "times"}``: rate-limiter reservations only.

The last stdout line is a JSON object with the result.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def main() -> None:
    config = json.loads(os.environ["ONESEND_CHILD"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = config["db_name"]
    settings.ONESEND = config["onesend"]
    import django

    django.setup()
    from django.db import connection

    from onesend_plugin.broadcast import ratelimit  # noqa: F401  (the engine, imported before the start)

    connection.ensure_connection()
    print("ready", flush=True)
    job = json.loads(sys.stdin.readline())
    result = reserve(**job) if job.pop("mode") == "reserve" else run(**job)
    connection.close()
    print(json.dumps(result), flush=True)


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


if __name__ == "__main__":
    main()
