"""Every Python sample in docs/plugins.md runs, so none can rot.

Each ```python block is run on its own (a fresh namespace) in one small world: a database with
one account, "Acme Shop" (slug ``acme-shop``), whose events secret is ``EVENTS_SECRET``, and a
site at ``https://shop.example/`` that ``requests.post`` reaches (Django's test client serves it;
an answer of 400 or more fails the sample). Two HTML comments change that:

* the hook reference, between ``<!-- hooks: ... -->`` and ``<!-- /hooks -->``, shows signatures,
  not code: its blocks are skipped;
* ``<!-- sample: file <path> -->`` on the line before a block: the block is that file of the
  repository, verbatim (the file itself is run by the tests that use it).
"""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from .factories import AccountFactory

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["docs/plugins.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)
FILE_MARKER = re.compile(r"<!-- sample: file (\S+) -->\n$")
SITE = "https://shop.example"


def samples():
    """``(id, code, file)`` for each block outside the hook reference; ``file`` is the path its
    marker names, or None."""
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        reference = [m.span() for m in re.finditer(r"<!-- hooks:.*?<!-- /hooks -->", text, re.S)]
        for match in BLOCK.finditer(text):
            if any(start < match.start() < end for start, end in reference):
                continue
            marker = FILE_MARKER.search(text, 0, match.start())
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{doc}:{line}", match.group(1), marker and marker.group(1)))
    return found


@pytest.fixture
def shop(db, client, monkeypatch, django_capture_on_commit_callbacks):
    account = AccountFactory(name="Acme Shop", slug="acme-shop")

    def post(url, data=None, headers=None, timeout=None, **kwargs):
        assert url.startswith(f"{SITE}/"), f"samples post to {SITE}/, not {url}"
        headers = dict(headers or {})
        content_type = headers.pop("Content-Type", "application/octet-stream")
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post(url[len(SITE) :], data=data, content_type=content_type, headers=headers)
        assert answer.status_code < 400, answer.content
        return SimpleNamespace(status_code=answer.status_code, json=answer.json)

    monkeypatch.setattr(requests, "post", post)
    return account


def test_the_docs_have_samples():
    assert len(samples()) >= 6


@pytest.mark.parametrize(("code", "file"), [pytest.param(code, file, id=id) for id, code, file in samples()])
def test_a_sample_runs(code, file, shop):
    if file:
        assert (ROOT / file).read_text() == code, f"the sample is no longer {file}"
        return
    exec(compile(code, "<sample>", "exec"), {"__name__": "docs_sample", "EVENTS_SECRET": shop.events_secret})
