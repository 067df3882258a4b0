"""onesend's plugin surface (pluggy). See ``specs.py`` for the hooks.

Write a plugin::

    from onesend_plugin.hooks import hookimpl

    @hookimpl
    def webhook_event_processed(event, page):
        ...

and expose it through the ``onesend`` entry-point group or ``ONESEND["PLUGINS"]``.
"""

import pluggy

from .manager import Plugins

hookimpl = pluggy.HookimplMarker("onesend")

plugins = Plugins()

__all__ = ["hookimpl", "plugins"]
