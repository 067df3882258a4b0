"""Benchmark: Send API calls per second the Graph API simulator sustains on ONE core.

The simulator runs in a subprocess pinned to the first CPU; client processes pinned to the other
CPU(s) keep many keep-alive connections busy with pre-built requests (raw HTTP/1.1 over asyncio
streams, so the client is not the bottleneck). Two modes: plain ``POST /v25.0/me/messages`` calls,
and ``POST /v25.0/`` batches of 50 (counting the items). Each run resets the simulator, so runs are
independent; the median is printed. Receipts are off and rate limits raised, as in a client
benchmark. Target: >= 2 000 send calls/s.

    .venv/bin/python bench/simulator.py [--runs 5] [--duration 3] [--connections 16] [--processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from urllib.parse import urlencode

from onesend_simulator.remote import SimulatorRemote, wait_for

TARGET = 2000
PEOPLE = 200
BATCH_SIZE = 50
PAGE_ID = "100000000000001"
TOKEN = "EAA-bench-token"
HARD_LIMIT_SECONDS = 600  # the whole benchmark is killed after this, whatever happens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_request(port: int, path: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def send_body(psid: str) -> dict:
    return {"recipient": {"id": psid}, "messaging_type": "UPDATE", "message": {"text": "Benchmark message"}}


def build_requests(mode: str, port: int, psids: list[str]) -> list[bytes]:
    """Pre-built requests: one send each (``single``) or batches of ``BATCH_SIZE`` sends."""
    if mode == "single":
        path = f"/v25.0/me/messages?access_token={TOKEN}"
        return [
            http_request(port, path, "application/json", json.dumps(send_body(p)).encode()) for p in psids
        ]
    requests = []
    for start in range(0, len(psids), 10):
        items = [
            {
                "method": "POST",
                "relative_url": "me/messages",
                "body": urlencode({key: _form_value(value) for key, value in send_body(psid).items()}),
            }
            for psid in (psids * BATCH_SIZE)[start : start + BATCH_SIZE]
        ]
        form = urlencode({"access_token": TOKEN, "batch": json.dumps(items)}).encode()
        requests.append(http_request(port, "/v25.0/", "application/x-www-form-urlencoded", form))
    return requests


def _form_value(value: object) -> str:
    """Form fields carry objects as JSON strings, plain strings as they are."""
    return value if isinstance(value, str) else json.dumps(value)


async def connection(
    port: int, requests: list[bytes], offset: int, start: float, deadline: float
) -> list[int]:
    """Send requests back to back on one keep-alive connection; count answered calls in the window."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    ok = failed = 0
    index = offset
    while True:
        writer.write(requests[index % len(requests)])
        index += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
        now = time.time()
        if now >= deadline:
            break
        if now < start:
            continue
        good = body.count(b'"code":200') if body[:1] == b"[" else int(head.startswith(b"HTTP/1.1 200"))
        ok += good
        failed += body.count(b'"code":') - good if body[:1] == b"[" else 1 - good
    writer.close()
    return [ok, failed]


def client(port: int, requests: list[bytes], connections: int, start: float, deadline: float, cores, results):
    os.sched_setaffinity(0, cores)

    async def run() -> list[list[int]]:
        return await asyncio.gather(
            *(connection(port, requests, i * 7, start, deadline) for i in range(connections))
        )

    counts = asyncio.run(run())
    results.put([sum(c[0] for c in counts), sum(c[1] for c in counts)])


def measure(
    mode: str, port: int, psids: list[str], args: argparse.Namespace, cores: set[int]
) -> tuple[float, int]:
    """One run: (send calls per second, failed calls)."""
    requests = build_requests(mode, port, psids)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start = time.time() + 1.0  # warm-up: connections open and the first requests flow before this
    deadline = start + args.duration
    processes = [
        context.Process(
            target=client, args=(port, requests, args.connections, start, deadline, cores, results)
        )
        for _ in range(args.processes)
    ]
    for process in processes:
        process.start()
    totals = [results.get(timeout=args.duration + 30) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    return sum(t[0] for t in totals) / args.duration, sum(t[1] for t in totals)


def setup(remote: SimulatorRemote) -> list[str]:
    """A fresh Page (with a Get Started button) with people whose 24 h window is open (they tapped
    it, so plain PSID sends are accepted)."""
    remote.reset()
    remote.create_page(page_id=PAGE_ID, access_token=TOKEN, get_started="GET_STARTED")
    psids = [remote.create_person(PAGE_ID, f"P{i}")["psid"] for i in range(PEOPLE)]
    for psid in psids:
        remote.open_link(psid)
    return psids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per run")
    parser.add_argument(
        "--connections", type=int, default=16, help="keep-alive connections per client process"
    )
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    args = parser.parse_args()
    signal.alarm(HARD_LIMIT_SECONDS)

    cpus = sorted(os.sched_getaffinity(0))
    server_core, client_cores = {cpus[0]}, set(cpus[1:]) or {cpus[0]}
    if len(cpus) < 2:
        print("warning: one CPU only; server and clients share it", file=sys.stderr)
    port = free_port()
    command = [
        sys.executable, "-m", "onesend_simulator", "--port", str(port),
        "--no-receipts", "--text-rate", "1000000000", "--cooldown-hours", "0",
    ]  # fmt: skip
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.sched_setaffinity(0, server_core)
    )
    remote = SimulatorRemote(f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: _up(remote), timeout=15, what="the simulator to start")
        print(
            f"simulator pinned to CPU {cpus[0]}, clients on {sorted(client_cores)}: "
            f"{args.processes} processes x {args.connections} keep-alive connections, {args.duration:g} s runs"
        )
        medians = {}
        for mode in ("single", "batch"):
            rates = []
            for run in range(args.runs):
                psids = setup(remote)
                rate, failed = measure(mode, port, psids, args, client_cores)
                peak = remote.stats()["pages"][PAGE_ID]["max_calls_per_second"]["text"]
                rates.append(rate)
                print(
                    f"  {mode:6} run {run + 1}: {rate:8,.0f} send calls/s "
                    f"(server-side peak {peak:,} in one second, {failed} failed)"
                )
            medians[mode] = statistics.median(rates)
        print(f"median single calls: {medians['single']:,.0f} send calls/s")
        print(f"median batch items:  {medians['batch']:,.0f} send calls/s ({BATCH_SIZE} per batch request)")
        verdict = "OK" if min(medians.values()) >= TARGET else "BELOW TARGET"
        print(f"target >= {TARGET:,} send calls/s on one core: {verdict}")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _up(remote: SimulatorRemote) -> bool:
    try:
        remote.config()
    except OSError:
        return False
    return True


if __name__ == "__main__":
    main()
