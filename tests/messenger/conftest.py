"""Fixtures for GraphClient tests: a fake transport and a client mounted on it.

``client`` here is a GraphClient, not Django's test client: no Messenger test uses the latter.
"""

import pytest
import requests

from onesend_plugin.messenger.client import GraphClient
from tests.messenger.graph_fake import BASE, TOKEN, FakeTransport


@pytest.fixture
def transport():
    return FakeTransport()


@pytest.fixture
def client(transport):
    session = requests.Session()
    session.mount(BASE, transport)
    return GraphClient(TOKEN, base_url=BASE + "/", version="v99.0", timeout=(1, 2), session=session)
