"""Django glue for the Graph API client: one pooled HTTP session per process, and clients
configured from settings (so the demo and tests reach the simulator, production Meta)."""

from __future__ import annotations

from functools import cache

import requests

from . import conf
from .messenger.client import GraphClient, make_session
from .messenger.errors import PaidTokenMissing
from .models import MessengerPage, MetaApp


@cache
def _session() -> requests.Session:
    return make_session()


def client_with(access_token: str, app_secret: str = "") -> GraphClient:
    """A client for any token: a user's (connecting Pages), a Page's or an app's. With the app's
    secret, its calls carry ``appsecret_proof`` (an app may require it)."""
    return GraphClient(
        access_token,
        base_url=conf.get("GRAPH_API_BASE_URL"),
        version=conf.get("GRAPH_API_VERSION"),
        timeout=tuple(conf.get("HTTP_TIMEOUT")),
        session=_session(),
        app_secret=app_secret or None,
    )


def client_for(page: MessengerPage) -> GraphClient:
    """The Page token's client: the Send API, webhooks, marketing-messages tokens."""
    return client_with(page.access_token, page.app.app_secret)


def paid_client_for(page: MessengerPage) -> GraphClient:
    """The client of the Page's paid Marketing Messages API calls (message campaigns, sends,
    estimates, insights), made with the business's system-user token: Meta's samples show that
    token for each (Send Messages on Marketing Message API for Messenger; Measure Campaign
    Performance). Without one nothing paid is called (:class:`PaidTokenMissing`)."""
    if not page.paid_access_token:
        raise PaidTokenMissing(message=f"No system-user token is stored for the paid channel of {page}")
    return client_with(page.paid_access_token, page.app.app_secret)


def app_client(app: MetaApp) -> GraphClient:
    """Calls made as the app itself (the code exchange, ``debug_token``)."""
    return client_with(f"{app.app_id}|{app.app_secret}", app.app_secret)
