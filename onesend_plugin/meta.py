"""Django glue for the Graph API client: one pooled HTTP session per process, and a client
per Page configured from settings (so the demo and tests reach the simulator, production Meta)."""

from __future__ import annotations

from functools import cache

import requests

from . import conf
from .messenger.client import GraphClient, make_session
from .models import MessengerPage


@cache
def _session() -> requests.Session:
    return make_session()


def client_for(page: MessengerPage) -> GraphClient:
    return GraphClient(
        page.access_token,
        base_url=conf.get("GRAPH_API_BASE_URL"),
        version=conf.get("GRAPH_API_VERSION"),
        timeout=tuple(conf.get("HTTP_TIMEOUT")),
        session=_session(),
    )
