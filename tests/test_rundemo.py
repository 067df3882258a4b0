"""``rundemo``'s processes: its children end with it however it ends, and a busy port names the
process holding it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management.base import CommandError
from onesend_simulator.remote import wait_for

from example_site.home import processes
from example_site.home.management.commands import rundemo

MANAGE = Path(__file__).resolve().parent.parent / "example_site" / "manage.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> set[int]:
    try:
        return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def in_sessions(sessions: set[int]) -> set[int]:
    """The live processes of these sessions (each child of ``rundemo`` leads one, its own
    processes, e.g. the worker's, in it)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (command)"
        except OSError:
            continue
        if int(fields[3]) in sessions and fields[0] != "Z":  # state, ppid, pgrp, session
            found.add(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_the_demos_processes_end_when_it_is_killed(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")} | {
        "DJANGO_SETTINGS_MODULE": "example_site.settings",
        "ONESEND_DATA_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, str(MANAGE), "rundemo", "--port", str(free_port())]
    command += ["--simulator-port", str(free_port())]
    demo = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(demo.stdout), daemon=True).start()
    sessions: set[int] = set()
    try:
        # The web server and the worker run, and the simulator was started (all three children).
        wait_for(
            lambda: any("Starting the simulator" in line for line in output) or demo.poll() is not None,
            timeout=300,  # only bounds a failing test: a busy machine migrates slowly
            what="the demo to start its children",
        )
        sessions = wait_for(
            lambda: len(children_of(demo.pid)) == 3 and children_of(demo.pid), what="3 children"
        )
        assert in_sessions(sessions) >= sessions
        demo.kill()  # SIGKILL: no handler runs, only the kernel is left to tell the children
        demo.wait()
        wait_for(lambda: not in_sessions(sessions), what="the demo's processes to end")
    finally:  # nothing left behind by a failing test
        for leader in sessions:
            try:
                os.killpg(leader, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert not any("Traceback" in line for line in output), "".join(output)


def test_a_busy_port_names_the_process_holding_it():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        holder = processes.port_holder(port)
        assert holder.startswith(f"process {os.getpid()} (") and "python" in holder
        with pytest.raises(
            CommandError, match=rf"Port {port} on 127.0.0.1 is in use by process {os.getpid()} "
        ):
            rundemo._ensure_port_free(port)
    assert processes.port_holder(port) == ""
