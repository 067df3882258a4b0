"""Helpers shared by the benchmarks: process CPU and memory from ``/proc``, child processes,
and PostgreSQL (or SQLite) databases migrated once as a template and copied per run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BARE_PATH = "/bench/bare/"  # a Django view that only answers 200 (bench/bench_urls.py)


# -- /proc --------------------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds user+sys) of a live process, else None."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_memory(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) in MB."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    values[line[:5]] = int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, in pid order."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = proc_stat(int(name))
            if stat:
                children.setdefault(stat[0], []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(found)


class Tracker:
    """CPU used since ``mark()`` and peak memory of a changing set of processes. A process first
    seen after the mark counts from zero (it was born during the run)."""

    def __init__(self) -> None:
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.rss: dict[int, float] = {}
        self.hwm: dict[int, float] = {}
        self.first_rss: dict[int, float] = {}
        self.marked = False

    def sample(self, pids) -> None:
        for pid in pids:
            stat = proc_stat(pid)
            if stat is None:
                continue
            if pid not in self.last:
                self.base[pid] = stat[1] if not self.marked else 0.0
            self.last[pid] = stat[1]
            rss, hwm = proc_memory(pid)
            self.first_rss.setdefault(pid, rss)
            self.rss[pid] = max(self.rss.get(pid, 0.0), rss)
            self.hwm[pid] = max(self.hwm.get(pid, 0.0), hwm)

    def mark(self, pids) -> None:
        self.sample(pids)
        self.base = dict(self.last)
        self.first_rss = {pid: proc_memory(pid)[0] for pid in self.last}
        self.marked = True

    def cpu(self, pids=None) -> float:
        keys = self.last if pids is None else [p for p in pids if p in self.last]
        return sum(self.last[p] - self.base.get(p, 0.0) for p in keys)


# -- Processes -----------------------------------------------------------------------------------


def loadavg() -> float:
    """The 1-minute load average (this machine is shared: > 2 means others compete for the CPUs)."""
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def backends(connection) -> list[int]:
    """PostgreSQL backend pids of the benchmark database (their CPU is the database's share)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [row[0] for row in cursor.fetchall()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something accepts connections on the loopback ``port`` (a server we started is up)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL for the process and whatever it left behind."""
    if process.poll() is not None:
        return
    tree = descendants(process.pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def stop_group(process: subprocess.Popen, grace: float) -> None:
    """``stop_process``, then SIGKILL for its whole session (a subprocess started with
    ``start_new_session``, whose own children may have detached from it)."""
    stop_process(process, grace=grace)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Timeout(Exception):
    """The invocation ran out of its time limit (``time_limit``)."""


def time_limit(minutes: float) -> None:
    """Bound the whole invocation: after ``minutes`` (or on SIGTERM) ``Timeout`` is raised in the
    main thread, so that its ``finally`` blocks stop the subprocesses and drop the databases.
    ``signal.alarm(0)`` lifts it."""

    def on_alarm(signum, frame):
        raise Timeout(f"stopped by signal {signum} (the time limit is {minutes:.0f} minutes)")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_alarm)
    signal.alarm(int(minutes * 60))


def admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


class Databases:
    """A template migrated once, then a fresh copy per run."""

    def __init__(self, kind: str, keep: bool, prefix: str = "onesend_bench") -> None:
        self.kind, self.keep = kind, keep
        self.name = f"{prefix}_{os.getpid()}"
        self.template = f"{self.name}_template"
        self.directory = Path(tempfile.mkdtemp(prefix="onesend-bench-"))
        self.created: list[str] = []

    def url(self, name: str) -> str:
        if self.kind == "postgres":
            return f"postgres://postgres@127.0.0.1:5432/{name}"
        return f"sqlite:///{self.directory / (name + '.sqlite3')}"

    def prepare(self, env: dict) -> None:
        if self.kind == "postgres":
            admin_sql(f"CREATE DATABASE {self.template}")
            self.created.append(self.template)
        started = time.monotonic()
        self.migrate(self.url(self.template), env)
        print(f"migrated the template database in {time.monotonic() - started:.1f} s", flush=True)

    @staticmethod
    def migrate(url: str, env: dict) -> None:
        subprocess.run(
            [sys.executable, str(REPO / "example_site" / "manage.py"), "migrate", "-v0"],
            env={**env, "DATABASE_URL": url},
            check=True,
            timeout=600,
        )

    def fresh(self, env: dict) -> str:
        """A copy of the template, migrated again: the code may have gained migrations since."""
        if self.kind == "postgres":
            self.drop(self.name)
            admin_sql(f"CREATE DATABASE {self.name} TEMPLATE {self.template}")
            self.created.append(self.name)
        else:
            source = self.directory / f"{self.template}.sqlite3"
            (self.directory / f"{self.name}.sqlite3").write_bytes(source.read_bytes())
        self.migrate(self.url(self.name), env)
        return self.url(self.name)

    def drop(self, name: str) -> None:
        if self.kind == "postgres" and name in self.created:
            admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            self.created.remove(name)

    def cleanup(self) -> None:
        if self.keep:
            print(f"kept databases: {', '.join(self.created) or self.directory}")
            return
        for name in list(self.created):
            self.drop(name)
        for path in self.directory.glob("*"):
            path.unlink()
        self.directory.rmdir()


# -- How fast this machine is -------------------------------------------------------------------

#: The issue's figure for the machine class the targets were set on: ``requests``, one HTTP call
#: per message, costs ~0.8 ms of client CPU.
REFERENCE_REQUESTS_MS = 0.8

_ECHO_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"recipient_id":"1","message_id":"m_1"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def requests_cpu_ms(calls: int = 2000) -> float:
    """Client CPU (ms) of one ``requests`` POST of a Send API message, the issue's yardstick, on
    this machine now: CPU figures measured here scale by this / ``REFERENCE_REQUESTS_MS`` to the
    machine class the targets were set on (these shared VMs have been 2–3× slower)."""
    import requests

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _ECHO_SERVER, str(port)])
    try:
        session, url = requests.Session(), f"http://127.0.0.1:{port}/v25.0/me/messages"
        message = {"recipient": {"notification_messages_token": "t" * 40}, "message": {"text": "Hello"}}

        def answered() -> bool:
            try:
                return session.post(url, json=message, timeout=1).ok
            except requests.ConnectionError:
                return False

        def call() -> None:
            session.post(url, json=message, params={"access_token": "x" * 100}).json()

        wait_until(answered, 10, "the echo server")
        for _ in range(100):  # warm up
            call()
        started = time.process_time()
        for _ in range(calls):
            call()
        return 1000 * (time.process_time() - started) / calls
    finally:
        server.kill()
        server.wait()


def met(ok: bool) -> str:
    """A target's verdict, as the benchmarks print it."""
    return "met" if ok else "MISSED"


def speed_note(requests_ms: float) -> str:
    """One line for a report: how this machine compares with the targets' machine class."""
    factor = requests_ms / REFERENCE_REQUESTS_MS
    return (
        f"Machine yardstick: `requests`, one call per message, cost {requests_ms:.2f} ms of client CPU "
        f"in this run (the targets' machine class: ~{REFERENCE_REQUESTS_MS} ms), so CPU figures here "
        f"are ×{factor:.1f} theirs and CPU-bound rates ÷{factor:.1f}."
    )
