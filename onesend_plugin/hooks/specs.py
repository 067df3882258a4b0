"""The hook specifications: what plugins may implement.

Plugins implement any of these with ``@onesend_plugin.hooks.hookimpl`` and accept any subset
of the arguments. Hooks are called with keyword arguments only.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("onesend")


@hookspec
def webhook_event_processed(event, page) -> None:
    """Called once for every webhook event onesend has processed.

    ``event`` is the typed event (``onesend_plugin.messenger.events.MessagingEvent``) and
    ``page`` the ``MessengerPage`` it was for. Duplicates and replays of an event are not
    processed again, so this fires at most once per distinct event. Runs inside the worker;
    keep it quick and enqueue anything slow.
    """
