"""A local, faithful Meta Graph API (Messenger) simulator: the Send API with Meta's rules and errors,
simulated people who open links, opt in, reply and read, signed webhooks, and a control API.

Start it with ``onesend-simulator`` (see ``docs/simulator.md``); drive it with ``SimulatorRemote``.
"""

from .app import build_app
from .config import Config
from .world import World

__all__ = ["Config", "World", "build_app"]
