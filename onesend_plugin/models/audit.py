"""Wagtail's log of model changes, scoped to the accounts a client user may see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from wagtail.models import ModelLogEntry
from wagtail.models.audit_log import ModelLogEntryManager


class ScopedLogEntryManager(ModelLogEntryManager):
    #: ``(entries, user) -> entries``: the account rule, ``accounts.scoping.log_entries``. The
    #: models may not import the accounts package (it builds on them): the app config sets it.
    narrow: ClassVar[Callable[..., Any]]

    def viewable_by_user(self, user):
        return type(self).narrow(super().viewable_by_user(user), user)


class ScopedModelLogEntry(ModelLogEntry):
    """Wagtail's log of model changes (the same table), whose entries about onesend's objects a
    client user sees only for objects of their own accounts. Wagtail's site history report lists
    every entry of every model the user has any permission on; registered as the log model of
    every model instead of ``ModelLogEntry`` (see ``wagtail_hooks``)."""

    objects = ScopedLogEntryManager()

    class Meta:
        proxy = True
