"""Everything that knows Meta's wire format and nothing else: the Graph client (:mod:`.http`,
:mod:`.batch`, :mod:`.client`), the bodies sent (:mod:`.builders`, shapes in :mod:`.types`), the
answers read (:mod:`.responses`), webhook signatures and events, and error classification.
Imports no Django and nothing else of onesend_plugin."""

from . import audience_events  # noqa: F401  (registers its webhook event with ``events``)
