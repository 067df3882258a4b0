"""Assembles the simulator's aiohttp application: world + webhook emitter + the three route sets."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from .config import Config
from .control import ControlApi
from .graph import GraphApi
from .ui import Ui
from .webhooks import WebhookEmitter
from .world import World

MAX_BODY = 30 * 1024 * 1024  # attachment uploads go up to Meta's 25 MB
log = logging.getLogger(__name__)


def build_app(
    config: Config, state_file: Path | None = None, verify_webhook: bool = False
) -> web.Application:
    """The whole simulator. ``state_file`` is loaded now (if it exists) and written on shutdown;
    ``verify_webhook`` runs Meta's ``hub.challenge`` GET against the webhook URL at start-up."""
    emitter = WebhookEmitter(config)
    world = World(config, emitter.emit)
    if state_file is not None and state_file.exists():
        world.restore(json.loads(state_file.read_text()))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await emitter.start()
        verification = asyncio.create_task(emitter.verify()) if verify_webhook else None
        if verification is not None:
            verification.add_done_callback(
                lambda task: task.cancelled() or log.info("webhook verification: %s", task.result())
            )
        yield
        if verification is not None:
            verification.cancel()
        await emitter.stop()
        if state_file is not None:
            temporary = state_file.with_name(state_file.name + ".tmp")
            temporary.write_text(json.dumps(world.snapshot()))
            os.replace(temporary, state_file)

    app = web.Application(client_max_size=MAX_BODY)
    app.cleanup_ctx.append(lifecycle)
    # The Graph API is a catch-all, so it goes last.
    app.add_routes([*ControlApi(world, emitter).routes(), *Ui(world).routes(), *GraphApi(world).routes()])
    return app
