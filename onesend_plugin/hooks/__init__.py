"""onesend's plugin surface (pluggy). See ``specs.py`` for the hooks, ``types.py`` for the
messages they carry.

Write a plugin::

    from onesend_plugin.hooks import hookimpl

    @hookimpl
    def webhook_event_processed(event, page):
        ...

and expose it through the ``onesend`` entry-point group or ``ONESEND["PLUGINS"]``. Call a hook
as ``plugins.<hook>(...)``, e.g. ``plugins.order_placed(order_id=..., ...)``.
"""

import pluggy

from .inventory import loaded
from .manager import PluginError, Plugins
from .types import Message, Segment, StoreCustomer

hookimpl = pluggy.HookimplMarker("onesend")

plugins = Plugins()

__all__ = ["Message", "PluginError", "Segment", "StoreCustomer", "hookimpl", "loaded", "plugins"]
