"""A fake ``requests`` transport for GraphClient tests, and the constants they share.

It answers each request with a queued reply and records the request, so tests can assert exact
request shapes and provoke error answers that are hard to get from the real simulator.
"""

import json
from collections import deque
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

BASE = "https://graph.test"
TOKEN = "EAAB-page-token-SECRET"
PSID = "1234567890123456"
BUC = json.dumps({"111": [{"type": "messenger", "call_count": 85, "estimated_time_to_regain_access": 2}]})


class FakeTransport(BaseAdapter):
    """Answers each request with the next queued reply (a response spec or an exception) and records it."""

    def __init__(self):
        super().__init__()
        self.replies = deque()
        self.sent = []

    def reply(self, body=None, status=200, headers=None):
        self.replies.append((body if body is not None else {}, status, headers or {}))

    def fail(self, exc):
        self.replies.append(exc)

    def send(self, request, **kwargs):
        self.sent.append((request, kwargs))
        reply = self.replies.popleft()
        if isinstance(reply, Exception):
            raise reply
        body, status, headers = reply
        response = requests.Response()
        response.status_code = status
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response.headers = CaseInsensitiveDict(headers)
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass

    # What the last request looked like.
    @property
    def request(self):
        return self.sent[-1][0]

    @property
    def path(self):
        return urlsplit(self.request.url).path

    @property
    def query(self):
        return {k: v[0] for k, v in parse_qs(urlsplit(self.request.url).query).items()}

    @property
    def authorization(self):
        return self.request.headers.get("Authorization")

    @property
    def json(self):
        return json.loads(self.request.body)

    @property
    def form(self):
        return {k: v[0] for k, v in parse_qs(self.request.body).items()}
