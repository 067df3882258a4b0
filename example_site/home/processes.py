"""The demo's child processes on Linux: they end with ``rundemo`` however it ends, and a busy port
names the process that holds it.

``rundemo`` stops its children itself on Ctrl-C, SIGTERM and SIGHUP (a closed terminal); only the
kernel can stop them when it is killed outright (SIGKILL, a crash): each child asks it for SIGTERM
when its parent dies (``prctl(PR_SET_PDEATHSIG)``, see prctl(2)), which lets the worker stop its
own worker processes. Elsewhere than on Linux, only the clean stop applies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LISTEN = "0A"  # the state column of /proc/net/tcp


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """Start a child in a session of its own (Ctrl-C reaches only ``rundemo``, which stops the
    children itself, and a child's own processes can be killed as a group) that gets SIGTERM when
    ``rundemo`` dies."""
    return subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_parent_death_signal() if sys.platform == "linux" else None,
    )


def _parent_death_signal() -> Callable[[], None]:
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork

    def ask_for_sigterm() -> None:  # in the child, between fork and exec
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request: no signal would come
            os.kill(os.getpid(), signal.SIGTERM)

    return ask_for_sigterm


def port_holder(port: int) -> str:
    """Who listens on TCP ``port`` (any address), e.g. ``"process 4242 (python manage.py
    runserver 127.0.0.1:8000)"``, from /proc; ``""`` when it can't be told (not Linux, or a
    process of another user)."""
    inodes = _listening_inodes(port)
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                if os.readlink(fd) in inodes:
                    pid = fd_dir.parent.name
                    command = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    return f"process {pid} ({command.strip()})"
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return ""


def _listening_inodes(port: int) -> set[str]:
    """``socket:[inode]`` of the sockets listening on ``port`` (/proc/net/tcp and tcp6: local
    address ``hex-ip:hex-port``, state, inode in the tenth column)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    return inodes
