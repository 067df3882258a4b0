"""Listeners: plugins told about something onesend has done and committed (a store event
processed, a webhook event processed), whose failure must change nothing of it. One round calls
each listener once, contained (``manager.call_one``); one that raises is logged, named on the
row, and called again alone by the worker's tick, after a pause that doubles, ``MAX_ATTEMPTS``
times in all. Its last error stays on the row.

A row with listeners has the columns ``listener_errors`` (one line per failed listener),
``listeners_retry`` (the ``[plugin, hook]`` pairs to call again), ``listener_attempts`` and
``listeners_next_attempt_at`` (when to call them; none once they succeed or are given up).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import models
from django.utils import timezone

from . import plugins
from .manager import PluginError, call_one

logger = logging.getLogger(__name__)

#: A failed listener is called again after this pause, doubled each time, until it has been
#: called this many times in all.
FIRST_PAUSE_SECONDS = 60
MAX_ATTEMPTS = 5

Call = tuple[str, dict[str, Any]]  # a hook, and the arguments its listeners are given
Only = set[tuple[str, str]] | None  # the (plugin, hook) pairs to call again; None: every listener
Failure = tuple[str, str, str]  # plugin, hook, error


def call_listeners(
    model: type[models.Model], pk: int, attempts: int, calls: list[Call], only: Only = None, **columns: Any
) -> list[Failure]:
    """One round: every listener of each call (or ``only`` these), in order. When one failed,
    or on a retry, the row ``pk`` of ``model`` (``attempts`` rounds failed before) gets the
    outcome, and ``columns`` too (what a retry needs besides). Returns the failures."""
    failed = [failure for hook, arguments in calls for failure in _call_each(hook, arguments, only)]
    if failed or only is not None:
        attempts += 1 if failed else 0
        model.objects.filter(pk=pk).update(**_outcome(attempts, failed), **columns)
    return failed


def retry_listeners(rows: models.QuerySet, notify: Callable[[Any, set[tuple[str, str]]], None]) -> int:
    """``notify(row, only)`` for each of ``rows`` whose pause is over, ``only`` being its failed
    listeners; each row claimed first, so two ticks can't call them twice. A row that can't be
    retried at all (its arguments gone) is logged and keeps no other from being retried.
    Returns how many rows were retried."""
    retried = 0
    for row in rows.filter(listeners_next_attempt_at__lte=timezone.now()):
        claim = rows.model.objects.filter(pk=row.pk, listeners_next_attempt_at=row.listeners_next_attempt_at)
        if not claim.update(listeners_next_attempt_at=None):
            continue
        try:
            notify(row, {(plugin, hook) for plugin, hook in row.listeners_retry})
        except Exception:
            logger.exception("Calling the listeners of %s %s again failed", rows.model.__name__, row.pk)
        retried += 1
    return retried


def _outcome(attempts: int, failed: list[Failure]) -> dict[str, Any]:
    """The row's listener columns after a round: what failed, and when to call it again."""
    again = bool(failed) and attempts < MAX_ATTEMPTS
    pause = timedelta(seconds=FIRST_PAUSE_SECONDS * 2 ** (attempts - 1))
    return {
        "listener_errors": "\n".join(f"{plugin} in {hook}: {error}" for plugin, hook, error in failed)[:2000],
        "listener_attempts": attempts,
        "listeners_retry": [[plugin, hook] for plugin, hook, _ in failed] if again else [],
        "listeners_next_attempt_at": timezone.now() + pause if again else None,
    }


def _call_each(hook: str, arguments: dict[str, Any], only: Only) -> list[Failure]:
    """Call each listener of ``hook`` (of ``only``, if given) with the arguments it accepts."""
    failed = []
    for impl in plugins.listeners(hook):
        if only is not None and (impl.plugin_name, hook) not in only:
            continue
        try:
            call_one(hook, impl, arguments)
        except PluginError as exc:
            logger.exception("The plugin %r failed in %s", exc.plugin, hook)
            failed.append((exc.plugin, hook, repr(exc.error)))
    return failed
