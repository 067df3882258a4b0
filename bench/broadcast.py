"""Benchmark: the broadcast engine end to end, judged by the Graph API simulator.

One invocation measures one configuration ``--runs`` times (median quoted) and a naive baseline in
each run. A run:

1. a fresh database (PostgreSQL ``onesend_bench_<pid>``, copied from a template migrated once per
   invocation; or an SQLite file);
2. the simulator as a subprocess (``--latency-ms``, ``--no-receipts``, Meta's real 300 sends/s per
   Page: the simulator judges us, it is not tuned for us);
3. ``--subscribers`` spread over ``--pages`` Pages, made in the simulator with
   ``POST /_sim/people/bulk`` (opened the thread, accepted the opt-in) and inserted as
   ``Subscriber``/``MarketingToken`` rows with ``bulk_create``; one published campaign per Page;
4. ``qcluster`` with ``--workers`` workers (Redis or ORM broker; the rate limiter in Redis);
5. ``broadcast.start()`` for every campaign at once, then wait (bounded) until all are finished,
   sampling ``/proc`` (CPU, RSS) of the cluster, the simulator and the database backends;
6. the naive baseline on a separate Page: one ``GraphClient.send_to_token`` per subscriber and one
   ``Delivery`` saved per row, for ``--naive`` subscribers (a subset: its rate is extrapolated to
   the whole audience).

Everything is killed and dropped at the end, and the whole invocation is bounded in time.

    .venv/bin/python bench/broadcast.py                      # 10 000 subscribers, 1 Page, 3 runs
    .venv/bin/python bench/broadcast.py --subscribers 10000 --pages 10 --write
    .venv/bin/python bench/broadcast.py --subscribers 3000 --runs 1 --naive 40   # about a minute
    .venv/bin/python bench/broadcast.py --profile            # cProfile of one in-process broadcast.run
    .venv/bin/python bench/broadcast.py --channel paid --subscribers 5000   # the paid API (bench/paid.py)

This file runs the invocation (databases, simulator, one driver subprocess per run); a run itself
is ``bench/broadcast_run.py``, its figures and the report ``bench/broadcast_report.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import paid
from benchlib import (
    REPO,
    Databases,
    free_port,
    listening,
    requests_cpu_ms,
    stop_group,
    stop_process,
    time_limit,
    wait_until,
)
from broadcast_report import DOCS, META_LIMIT, label, report, run_line, summarize, write_docs

BENCH = REPO / "bench"


def start_simulator(args) -> tuple[subprocess.Popen, str]:
    """The simulator; the paid channel's receipts are measured (``bench/paid.py``), the legacy
    run's are ``bench/webhooks.py``'s."""
    port = free_port()
    command = [
        sys.executable, "-m", "onesend_simulator", "--port", str(port),
        "--latency-ms", str(args.latency_ms), *(["--no-receipts"] if args.channel == "token" else []),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    wait_until(lambda: listening(port), 20, "the simulator to start")
    return process, f"http://127.0.0.1:{port}"


def expected_rate(args) -> float:
    """A pessimistic total rate for time limits: Pages sending at once (one worker each), at
    most 600/s on this 2-core machine."""
    return min(min(args.pages, args.workers) * 0.97 * args.rate, 600)


def sending_seconds(args) -> float | None:
    """How long a sampled run sends (``--sample-seconds``), plus a ledger build at 20 k rows/s."""
    return args.sample_seconds and args.sample_seconds + args.subscribers / 20_000


def run_env(args, base_env: dict, database_url: str, sim_url: str, q_name: str) -> dict:
    """The environment of a run's site processes: its database, simulator, queue and settings."""
    env = {
        **base_env,
        "DATABASE_URL": database_url,
        "ONESEND_GRAPH_API_BASE_URL": sim_url,
        "ONESEND_MME_BASE_URL": f"{sim_url}/m.me",
        "Q_WORKERS": str(args.workers),
        "BENCH_Q_NAME": q_name,
        "ONESEND_RUNNERS_PER_CAMPAIGN": str(args.runners),
        "ONESEND_RATE_LIMIT_HEADROOM": str(args.headroom),
        "ONESEND_TEXT_RATE_LIMIT": str(args.rate),  # the pace measured: Meta's limit unless --rate
    }
    if args.broker == "redis":
        env["REDIS_URL"] = args.redis_url
    if args.limiter == "redis":
        env["ONESEND_RATE_LIMIT_REDIS_URL"] = args.redis_url
    return env


def driver_options(args, simulator, sim_url: str, q_name: str, web, web_url) -> dict:
    """What the driver (``bench/broadcast_run.py``) is told."""
    per_page = -(-args.subscribers // args.pages)
    return {
        "sim_url": sim_url,
        "sim_pid": simulator.pid,
        "subscribers": args.subscribers,
        "pages": args.pages,
        "workers": args.workers,
        "naive": min(args.naive, per_page),
        "profile": args.profile,
        "sample_seconds": args.sample_seconds,
        "run_timeout": 120 + 3 * (sending_seconds(args) or args.subscribers / expected_rate(args)),
        "redis_url": args.redis_url if args.broker == "redis" or args.limiter == "redis" else None,
        "q_name": q_name,
        "channel": args.channel,
        "web_url": web_url,
        "web_pid": web.pid if web else None,
    }


def drive(options: dict, env: dict, limit: float) -> tuple[dict | None, int | None]:
    """The driver subprocess, its output passed on, for at most ``limit`` seconds: its result
    and exit code."""
    driver = subprocess.Popen(
        [sys.executable, str(BENCH / "broadcast_run.py"), json.dumps(options)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    result = None
    try:
        deadline = time.monotonic() + limit
        for line in driver.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
            else:
                print(line, end="", flush=True)
            if time.monotonic() > deadline:
                break
        driver.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        stop_group(driver, grace=10)
    return result, driver.returncode


def run_once(args, databases: Databases, base_env: dict, number: int) -> dict:
    """One run: fresh database and simulator, the driver subprocess, cleanup."""
    database_url = databases.fresh(base_env)
    simulator, sim_url = start_simulator(args)
    web = web_url = None
    q_name = f"onesend_bench_{os.getpid()}_{number}"
    env = run_env(args, base_env, database_url, sim_url, q_name)
    try:
        if args.channel == "paid":
            web, web_url = paid.start_web(env)
        options = driver_options(args, simulator, sim_url, q_name, web, web_url)
        limit = options["run_timeout"] + 300 + args.subscribers / 2000
        limit += options["naive"] * (args.latency_ms / 1000 + 0.05)
        result, code = drive(options, env, limit)
    finally:
        stop_process(simulator, grace=5)
        if web is not None:
            stop_process(web, grace=5)
        databases.drop(databases.name)
    if result is None:
        raise RuntimeError(f"run {number} gave no result (driver exit code {code})")
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--subscribers", type=int, default=10_000, help="audience, spread evenly over the Pages")
    add("--pages", type=int, default=1)
    add("--channel", choices=("token", "paid"), default="token", help="the Pages' channel")
    add("--latency-ms", type=float, default=50.0, help="simulator latency per Graph HTTP call")
    add("--workers", type=int, default=2, help="qcluster workers (Q_WORKERS)")
    add("--db", choices=("postgres", "sqlite"), default="postgres")
    add("--broker", choices=("redis", "orm"), default="redis", help="django-q2 broker")
    add("--limiter", choices=("redis", "db"), default="redis", help="where the shared rate limit lives")
    add("--runners", type=int, default=1, help="ONESEND RUNNERS_PER_CAMPAIGN (workers per campaign)")
    add(
        "--rate",
        type=int,
        default=META_LIMIT,
        help="the engine's pace per Page (TEXT_RATE_LIMIT; the default is 40)",
    )
    add("--headroom", type=float, default=0.97, help="ONESEND RATE_LIMIT_HEADROOM (share of 300/s aimed at)")
    add("--redis-url", default="redis://127.0.0.1:6379/0")
    add("--runs", type=int, default=3, help="repetitions (medians are quoted)")
    add("--naive", type=int, default=200, help="subscribers in the naive baseline (0: skip it)")
    add(
        "--sample-seconds",
        type=float,
        default=None,
        help="pause the campaigns this long after their first message",
    )
    add("--profile", action="store_true", help="cProfile one in-process broadcast.run instead of the cluster")
    add("--keep-db", action="store_true", help="keep the databases (for inspection)")
    add("--write", action="store_true", help=f"append the results to {DOCS.relative_to(REPO)}")
    add("--max-minutes", type=float, default=None, help="hard limit of the whole invocation")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.pages < 1 or args.subscribers < args.pages:
        raise SystemExit("need at least one subscriber per Page")
    runs = 1 if args.profile else args.runs
    per_run = 90 + 3 * (sending_seconds(args) or args.subscribers / expected_rate(args)) + args.naive * 0.1
    per_run += args.subscribers / 2000  # seeding
    minutes = args.max_minutes or (2 + runs * per_run / 60)
    time_limit(minutes)
    base_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "PYTHONPATH": os.pathsep.join([str(BENCH), str(REPO)]),
        "DEBUG": "0",
    }
    base_env.pop("REDIS_URL", None)
    base_env.pop("ONESEND_RATE_LIMIT_REDIS_URL", None)
    databases = Databases(args.db, args.keep_db)
    print(f"{label(args)}: {runs} run(s), at most {minutes:.0f} min")
    results = []
    requests_ms = requests_cpu_ms()  # before anything else runs
    try:
        databases.prepare(base_env)
        for number in range(1, runs + 1):
            print(f"run {number}/{runs}", flush=True)
            result = run_once(args, databases, base_env, number)
            if args.profile:
                print(json.dumps(result, indent=2))
                print(Path(result["report"]).read_text()[:12000])
                return
            results.append(result)
            print(run_line(result), flush=True)
    finally:
        signal.alarm(0)
        databases.cleanup()
    summary = {**summarize(results), "requests_ms": requests_ms}
    text = report(args, results, summary)
    print()
    print(text)
    print("\nJSON " + json.dumps({"config": label(args), "summary": summary}))
    if args.write:
        write_docs(text)


if __name__ == "__main__":
    main()
