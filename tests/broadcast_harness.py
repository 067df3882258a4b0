"""What the broadcast tests with real workers share: worker processes (``Child``, forked from
``tests/broadcast_child.py``), threads with their own database connection (``InThread``), and
reads of what Meta (the simulator) and the ledger hold. Their fixtures (``spawn``,
``fast_subscribers``) are in ``tests/fixtures/broadcast.py``."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from django.db import connection
from onesend_simulator.remote import wait_for

from onesend_plugin import broadcast
from onesend_plugin.broadcast import runner
from onesend_plugin.models import Campaign, Delivery

from . import broadcast_child


def campaign_messages(simulator, page) -> list[dict]:
    """Every campaign message Meta (the simulator) accepted, opt-in requests left out."""
    return [m for m in simulator.messages(page.page_id) if m.get("type") != "optin"]


def sends_per_person(simulator, page) -> Counter:
    """How many campaign messages each person received, as Meta (the simulator) saw it."""
    return Counter(m["psid"] for m in campaign_messages(simulator, page))


def sends_per_token(simulator, page) -> Counter:
    """How many campaign messages went to each marketing-message token, by the way Meta took
    them: ``("token", token)`` through the Send API, ``("marketing", token)`` through the paid
    ``act_<id>/messages``."""
    return Counter((m["via"], m["token"]) for m in campaign_messages(simulator, page))


def states(campaign) -> Counter:
    return Counter(Delivery.objects.filter(campaign=campaign).values_list("state", flat=True))


def count(campaign, state) -> int:
    return Delivery.objects.filter(campaign=campaign, state=state).count()


def started(campaign, monkeypatch) -> Campaign:
    """Start the campaign (audience frozen into the ledger, status running) without putting a
    worker on it: the test decides who runs it."""
    with monkeypatch.context() as patch:
        patch.setattr(runner, "launch", lambda *args, **kwargs: None)
        broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    return campaign


def configure(settings, **onesend) -> None:
    settings.ONESEND = {**settings.ONESEND, **onesend}


class InThread(threading.Thread):
    """Run ``target`` in a thread with its own database connection; keep result or error."""

    def __init__(self, target, *args, **kwargs) -> None:
        super().__init__(daemon=True)
        self.call = (target, args, kwargs)
        self.result = self.error = None
        self.started_at = self.ended_at = None

    def run(self) -> None:
        target, args, kwargs = self.call
        self.started_at = time.monotonic()
        try:
            self.result = target(*args, **kwargs)
        except BaseException as exc:  # reported by value()
            self.error = exc
        finally:
            self.ended_at = time.monotonic()
            connection.close()

    @property
    def elapsed(self) -> float:
        return self.ended_at - self.started_at

    def value(self, timeout: float = 30):
        self.join(timeout)
        assert not self.is_alive(), f"{self.call[0].__name__} still running after {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result


#: Forks the workers from a process that set Django up once (``tests/broadcast_child.py``).
FORKSERVER = multiprocessing.get_context("forkserver")
FORKSERVER.set_forkserver_preload(["tests.broadcast_child"])


class Child:
    """A broadcast worker in its own OS process (``tests/broadcast_child.py``), forked with
    Django set up; it waits for its job: ``go(**job)``."""

    def __init__(self, tmp_path: Path, config: dict) -> None:
        self.log = tmp_path / f"worker-{uuid.uuid4().hex[:8]}.log"
        self.conn, child_end = FORKSERVER.Pipe()
        self.proc = FORKSERVER.Process(
            target=broadcast_child.main, args=({**config, "log": str(self.log)}, child_end), daemon=True
        )
        self.proc.start()
        child_end.close()
        self.pid = self.proc.pid
        self.ready = False

    def stderr(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""

    def _receive(self, timeout: float, what: str):
        try:
            if self.conn.poll(timeout):
                return self.conn.recv()
        except EOFError:
            raise AssertionError(f"worker {self.pid} exited without {what}:\n{self.stderr()}") from None
        raise AssertionError(f"worker {self.pid}: no {what} after {timeout} s:\n{self.stderr()}")

    def wait_ready(self, timeout: float = 60) -> None:
        if self.ready:
            return
        said = self._receive(timeout, "ready")
        assert said == "ready", f"worker {self.pid} said {said!r}:\n{self.stderr()}"
        self.ready = True

    def go(self, **job) -> Child:
        """Give the worker its job (see ``tests/broadcast_child.py``), once it is ready."""
        self.wait_ready()
        self.conn.send(job)
        return self

    def run(self, campaign: Campaign, **options) -> Child:
        return self.go(mode="run", campaign=campaign.pk, **options)

    def _exit_code(self, timeout: float, what: str) -> int:
        self.proc.join(timeout)
        if self.proc.exitcode is None:
            raise AssertionError(f"worker {self.pid} {what} after {timeout} s:\n{self.stderr()}")
        return self.proc.exitcode

    def result(self, timeout: float = 60) -> dict:
        """Wait for a normal exit; the worker's result."""
        code = self._exit_code(timeout, "still running")
        assert code == 0, f"worker {self.pid} exited with {code}:\n{self.stderr()}"
        return self._receive(5, "result")

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.wait_killed()

    def wait_killed(self, timeout: float = 60) -> None:
        code = self._exit_code(timeout, "not dead")
        assert code == -signal.SIGKILL, f"worker {self.pid} exited with {code}, not SIGKILL:\n{self.stderr()}"

    def wait_stopped(self, timeout: float = 60) -> None:
        """Wait until the worker stopped itself (SIGSTOP)."""

        def stopped() -> bool:
            assert self.proc.is_alive(), f"worker {self.pid} exited:\n{self.stderr()}"
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")

        wait_for(stopped, timeout, what=f"worker {self.pid} to stop itself")

    def end(self) -> None:
        if self.proc.is_alive():
            os.kill(self.pid, signal.SIGKILL)
            self.proc.join(10)
        self.conn.close()
