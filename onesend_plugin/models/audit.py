"""Wagtail's log of model changes, scoped to the accounts a client user may see."""

from __future__ import annotations

from wagtail.models import ModelLogEntry
from wagtail.models.audit_log import ModelLogEntryManager


class ScopedLogEntryManager(ModelLogEntryManager):
    def viewable_by_user(self, user):
        from ..scoping import log_entries  # scoping imports the models

        return log_entries(super().viewable_by_user(user), user)


class ScopedModelLogEntry(ModelLogEntry):
    """Wagtail's log of model changes (the same table), whose entries about onesend's objects a
    client user sees only for objects of their own accounts. Wagtail's site history report lists
    every entry of every model the user has any permission on; registered as the log model of
    every model instead of ``ModelLogEntry`` (see ``wagtail_hooks``)."""

    objects = ScopedLogEntryManager()

    class Meta:
        proxy = True
