"""Benchmark: Meta's webhook end to end — signed delivery and read receipts for a whole campaign.

For each ``--events-per-post`` value, ``--runs`` times (medians quoted), a run:

1. a fresh PostgreSQL database, copied from a template migrated and seeded once per invocation
   (``bulk_create``): a Meta app, a Page, a finished campaign and its ledger of ``--recipients``
   rows in state ``sent``;
2. ``gunicorn example_site.wsgi`` on loopback (``--web-workers``) and ``qcluster`` (``--q-workers``,
   Redis broker, a private queue name), both with ``bench/bench_settings.py``;
3. the load generator, a subprocess (raw HTTP/1.1 over asyncio, requests built before the clock
   starts), POSTs one delivery receipt (with its mid) and one read receipt per recipient, reads
   trailing deliveries by 1 000 recipients as Meta sends them later, ``X-Hub-Signature-256`` over
   each raw body with the app secret, E events per body in ``entry[].messaging[]``; a request not
   answered 200 is sent again (as Meta redelivers), at most 3 times:
   * single-event runs start with ``--rate`` POSTs/s for ``--rate-seconds``, latency measured from
     each request's *scheduled* time (no coordinated omission);
   * then the rest of the stream as fast as the server answers, for at most ``--duration`` s;
4. processing lag: the last accepted POST → every event processed (``max(processed_at)``);
   single-event runs then POST the same requests to a bare Django view (``bench/bench_urls.py``:
   200, nothing read or stored) on the same server, as fast as it answers: the server CPU
   (web + database) of that view is the yardstick of a webhook POST's (web + database + drain);
5. exactness: ``CampaignStat`` delivered/read and the ledger equal what the accepted POSTs imply.

Everything is killed and dropped at the end; SIGALRM bounds the invocation. The event stream, the
seeder and the load generator are ``bench/webhooks_stream.py``.

    .venv/bin/python bench/webhooks.py                      # 100 000 recipients, 1/10/100 per POST, 3 runs
    .venv/bin/python bench/webhooks.py --recipients 20000 --events-per-post 10 --runs 1 --duration 15
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

from benchlib import (
    BARE_PATH,
    REPO,
    Databases,
    Tracker,
    descendants,
    free_port,
    loadavg,
    met,
    requests_cpu_ms,
    speed_note,
    stop_group,
    stop_process,
    time_limit,
    wait_until,
)
from webhooks_stream import APP_ID, expected, stream_order

BENCH = REPO / "bench"
STREAM = BENCH / "webhooks_stream.py"  # the seeder and the load generator
DOCS = REPO / "docs" / "benchmarks.md"
TARGETS = {"single_rps": 1000, "batched_eps": 10_000, "p99_ms": 50, "lag_s": 10}
# Issue 23: single-event server CPU ≤ 2 × the bare view's, batched CPU per event ≤ 0.05 × the yardstick.
RATIOS = {"per_bare": 2.0, "batched_per_yardstick": 0.05}
SERVER = ("web", "cluster", "database")  # the server's processes (the load generator is the client)


# -- The orchestrator ----------------------------------------------------------------------------


class Bench:
    def __init__(self, args) -> None:
        self.args = args
        self.q_name = f"onesend_whbench_{os.getpid()}"
        self.env = {
            **os.environ, "DJANGO_SETTINGS_MODULE": "bench_settings", "DEBUG": "0",
            "PYTHONPATH": os.pathsep.join([str(BENCH), str(REPO)]), "REDIS_URL": args.redis_url,
            "Q_WORKERS": str(args.q_workers), "BENCH_Q_NAME": self.q_name,
        }  # fmt: skip
        self.env.pop("ONESEND_RATE_LIMIT_REDIS_URL", None)
        self.databases = Databases("postgres", args.keep_db, prefix="onesend_whbench")
        self.processes: list[subprocess.Popen] = []
        self.order = stream_order(args.recipients)

    def prepare(self) -> None:
        self.databases.prepare(self.env)
        out = subprocess.run(
            [sys.executable, str(STREAM), "seed", str(self.args.recipients)], capture_output=True, text=True,
            env={**self.env, "DATABASE_URL": self.databases.url(self.databases.template)}, check=True, timeout=900,
        ).stdout  # fmt: skip
        self.base_ms = json.loads(out.split("SEED ", 1)[1])["base_ms"]

    def spawn(self, command: list[str], env: dict, **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(command, env=env, start_new_session=True, **kwargs)
        self.processes.append(process)
        return process

    def start_servers(self, env: dict) -> tuple[subprocess.Popen, subprocess.Popen, int]:
        port = free_port()
        web = self.spawn(
            [sys.executable, "-m", "gunicorn", "example_site.wsgi", "--bind", f"127.0.0.1:{port}",
             "-w", str(self.args.web_workers), "--backlog", "2048", "--log-level", "warning",
             "--no-control-socket"],
            env, cwd=str(REPO), stdout=subprocess.DEVNULL,
        )  # fmt: skip
        cluster = self.spawn([sys.executable, "-m", "django", "qcluster"], env, stdout=subprocess.DEVNULL)

        def web_up() -> bool:
            if web.poll() is not None:
                raise RuntimeError("gunicorn exited")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                    query = "hub.mode=subscribe&hub.verify_token=v&hub.challenge=ok"
                    sock.sendall(f"GET /onesend/webhook/{APP_ID}/?{query} HTTP/1.0\r\n\r\n".encode())
                    return sock.recv(64)[8:13] == b" 200 "
            except OSError:
                return False

        wait_until(web_up, 60, "gunicorn to answer")
        for _ in range(4 * self.args.web_workers):  # every worker loads the app lazily: warm them
            web_up()
        wait_until(lambda: len(descendants(cluster.pid)) >= self.args.q_workers + 3, 60, "the cluster")
        time.sleep(1.0)
        return web, cluster, port

    def run(self, per_post: int) -> dict:
        import psycopg

        url = self.databases.fresh(self.env)
        env = {**self.env, "DATABASE_URL": url}
        result: dict = {"per_post": per_post, "load_before": loadavg()}
        web, cluster, port = self.start_servers(env)
        db = psycopg.connect(url, autocommit=True)
        try:
            total = -(-len(self.order) // per_post)
            done = 0
            rate_requests = min(total, int(self.args.rate * self.args.rate_seconds)) if per_post == 1 else 0
            for phase, last in (("rate", rate_requests), ("closed", total)):
                if last <= done:
                    continue
                load = self.load(port, per_post, done, last, phase, web, cluster, db)
                events_before = expected(self.order, per_post, done)["events"]
                done += load["attempted"]
                load["events"] = expected(self.order, per_post, done)["events"] - events_before
                load.update(self.wait_processed(db, expected(self.order, per_post, done)["events"], load))
                result[phase] = load
            result.update(self.check(db, expected(self.order, per_post, done)))
            if per_post == 1:
                result["bare"] = self.load(port, 1, 0, total, "bare", web, cluster, db)
        finally:
            result["load_after"] = loadavg()
            db.close()
            for process in (web, cluster):
                stop_process(process, grace=5)
                self.processes.remove(process)
            self.databases.drop(self.databases.name)
        return result

    def load(self, port, per_post, first, last, phase, web, cluster, db) -> dict:
        args = self.args
        options = {
            "port": port, "recipients": args.recipients, "per_post": per_post, "first": first, "last": last,
            "base_ms": self.base_ms, "rate": args.rate if phase == "rate" else 0, "concurrency": args.concurrency,
            "duration": args.rate_seconds + 1 if phase == "rate" else args.duration,
            "path": BARE_PATH if phase == "bare" else None,
        }  # fmt: skip
        generator = self.spawn([sys.executable, str(STREAM), "load", json.dumps(options)], self.env,
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            if generator.stdout.readline().strip() != "READY":
                raise RuntimeError("the load generator failed to start")
            self.cpu = {name: Tracker() for name in ("web", "cluster", "generator", "database")}
            self.groups = {"web": lambda: descendants(web.pid), "cluster": lambda: descendants(cluster.pid),
                           "generator": lambda: [generator.pid], "database": lambda: backends_of(db)}  # fmt: skip
            for name, pids in self.groups.items():
                self.cpu[name].mark(pids())
            started, line = time.monotonic(), ""
            while generator.poll() is None:
                if time.monotonic() - started > options["duration"] + 120:
                    raise TimeoutError("the load generator overran its time")
                self.sample()
                time.sleep(0.5)
            line = generator.stdout.read()
            wall = time.monotonic() - started
        finally:
            stop_process(generator, grace=2)
            self.processes.remove(generator)
        if "RESULT " not in line:
            raise RuntimeError(f"the load generator failed (exit {generator.returncode})")
        result = json.loads(line.split("RESULT ", 1)[1])
        result["rps"] = result["ok"] / max(result["last_ok_wall"] - result["started_wall"], 1e-6)
        result["cores"] = {name: round(t.cpu() / wall, 2) for name, t in self.cpu.items()}
        # the bare view's server CPU per request: web + database (there is nothing to drain)
        result["server_ms"] = (
            1000 * sum(self.cpu[n].cpu() for n in ("web", "database")) / max(result["ok"], 1)
        )
        return result

    def sample(self) -> None:
        for name, pids in self.groups.items():
            self.cpu[name].sample(pids())

    def wait_processed(self, db, events: int, load: dict) -> dict:
        """Until every event is stored and processed (or ``--drain-timeout``)."""
        deadline = time.monotonic() + self.args.drain_timeout
        while time.monotonic() < deadline:
            processed, pending = db.execute(
                "SELECT count(*) FILTER (WHERE state = 'processed'), count(*) FILTER (WHERE state = 'pending') "
                "FROM onesend_webhookevent"
            ).fetchone()
            if processed >= events and not pending:
                break
            self.sample()
            time.sleep(0.1)
        self.sample()
        last = db.execute(
            "SELECT extract(epoch FROM max(processed_at)) FROM onesend_webhookevent"
        ).fetchone()[0]
        last = float(last or 0)
        cpu_ms = 1000 * sum(t.cpu() for t in self.cpu.values())  # everything: web, workers, database, load
        server_ms = 1000 * sum(self.cpu[name].cpu() for name in SERVER)  # web, workers (the drain), database
        return {"processed": processed, "lag_s": last - load["last_ok_wall"], "cpu_ms_per_event": cpu_ms / max(load["events"], 1),
                "server_ms_per_event": server_ms / max(load["events"], 1),
                "eps_end_to_end": load["events"] / max(last - load["started_wall"], 1e-6)}  # fmt: skip

    def check(self, db, want: dict) -> dict:
        stats = dict(db.execute("SELECT name, value FROM onesend_campaignstat").fetchall())
        ledger = db.execute("SELECT count(delivered_at), count(read_at) FROM onesend_delivery").fetchone()
        hours = sum(v for name, v in stats.items() if name.startswith("read@"))
        states = dict(
            db.execute("SELECT state, count(*) FROM onesend_webhookevent GROUP BY state").fetchall()
        )
        got = {"events": states.get("processed", 0), "delivered": stats.get("delivered", 0),
               "read": stats.get("read", 0), "ledger_delivered": ledger[0], "ledger_read": ledger[1],
               "read_by_hour": hours, "other_states": sum(states.values()) - states.get("processed", 0)}  # fmt: skip
        exact = got == {**want, "ledger_delivered": want["delivered"], "ledger_read": want["read"],
                        "read_by_hour": want["read"], "other_states": 0}  # fmt: skip
        return {"expected": want, "got": got, "exact": exact}

    def cleanup(self) -> None:
        for process in self.processes:
            stop_group(process, grace=5)
        self.databases.cleanup()
        import redis

        client = redis.Redis.from_url(self.args.redis_url)
        keys = list(client.scan_iter(f"*{self.q_name}*", count=1000))
        if keys:
            client.delete(*keys)


def backends_of(db) -> list[int]:
    return [
        row[0] for row in db.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    ]


# -- Reporting -----------------------------------------------------------------------------------


def summarize(results: list[dict]) -> dict:
    def med(phase: str, key: str, sub: str | None = None):
        values = [r[phase][key][sub] if sub else r[phase][key] for r in results if phase in r]
        return statistics.median(values) if values else None

    summary = {"exact": all(r["exact"] for r in results), "load": max(r["load_after"] for r in results)}
    if any("bare" in r for r in results):
        summary["bare_ms"] = statistics.median(r["bare"]["server_ms"] for r in results if "bare" in r)
        summary["bare_rps"] = statistics.median(r["bare"]["rps"] for r in results if "bare" in r)
    for phase in ("rate", "closed"):
        if any(phase in r for r in results):
            summary[phase] = {
                "rps": med(phase, "rps"), "eps": med(phase, "rps") * results[0]["per_post"],
                "p50": med(phase, "lat_ms", "p50"), "p99": med(phase, "lat_ms", "p99"),
                "lag_s": med(phase, "lag_s"), "eps_e2e": med(phase, "eps_end_to_end"),
                "cpu_ms": med(phase, "cpu_ms_per_event"), "server_ms": med(phase, "server_ms_per_event"),
                "requests": med(phase, "ok"), "failed": max(r[phase]["first_failed"] for r in results if phase in r),
                "cores": {k: statistics.median(r[phase]["cores"][k] for r in results if phase in r)
                          for k in results[0][phase]["cores"]},
            }  # fmt: skip
    return summary


def report(args, summaries: dict[int, dict], requests_ms: float) -> str:
    lines = [
        speed_note(requests_ms),
        "",
        f"{args.recipients:,} recipients, gunicorn {args.web_workers} sync workers, {args.q_workers} q workers, "
        f"{args.concurrency} connections, {args.runs} run(s), medians",
        "",
        "| events/POST | phase | POSTs | accepted req/s | events/s accepted | events/s end to end | p50 ms | p99 ms "
        "| lag s | non-200 | CPU cores web/cluster/loadgen/db | CPU ms/event, all | counts | load |",
        "|" + "---|" * 14,
    ]
    for per_post, s in summaries.items():
        for phase in ("rate", "closed"):
            if phase not in s:
                continue
            p, c = s[phase], s[phase]["cores"]
            name = f"{args.rate:g}/s fixed" if phase == "rate" else "max"
            lines.append(
                f"| {per_post} | {name} | {p['requests']:,.0f} | {p['rps']:,.0f} | {p['eps']:,.0f} "
                f"| {p['eps_e2e']:,.0f} | {p['p50']:.1f} | {p['p99']:.1f} | {p['lag_s']:.1f} | {p['failed']} "
                f"| {c['web']:.2f}/{c['cluster']:.2f}/{c['generator']:.2f}/{c['database']:.2f} | {p['cpu_ms']:.2f} "
                f"| {'OK' if s['exact'] else 'MISMATCH'} | {s['load']:.1f} |"
            )
    return "\n".join(lines) + "\n\n" + verdict(summaries) + "\n\n" + ratios(summaries, requests_ms)


def verdict(summaries: dict[int, dict]) -> str:
    single, checks = summaries.get(1, {}), []
    batched = [s["closed"]["eps_e2e"] for e, s in summaries.items() if e > 1 and "closed" in s]
    lag = max(s[p]["lag_s"] for s in summaries.values() for p in ("rate", "closed") if p in s)
    if "closed" in single:
        rps = single["closed"]["rps"]
        checks.append(f"single-event ≥ {TARGETS['single_rps']:,} req/s: {met(rps >= TARGETS['single_rps'])} ({rps:,.0f})")  # fmt: skip
    if "rate" in single:
        p99 = single["rate"]["p99"]
        checks.append(f"p99 < {TARGETS['p99_ms']} ms at the fixed rate: {met(p99 < TARGETS['p99_ms'])} ({p99:.1f})")  # fmt: skip
    if batched:
        checks.append(f"batched ≥ {TARGETS['batched_eps']:,} events/s end to end: {met(max(batched) >= TARGETS['batched_eps'])} ({max(batched):,.0f})")  # fmt: skip
    checks.append(f"processed within {TARGETS['lag_s']} s: {met(lag <= TARGETS['lag_s'])} (worst {lag:.1f} s)")  # fmt: skip
    checks.append(f"counts exact: {met(all(s['exact'] for s in summaries.values()))}")
    return "Targets: " + "; ".join(checks) + "."


def ratios(summaries: dict[int, dict], requests_ms: float) -> str:
    """Issue 23's target 4, each a ratio to something measured in the same run."""
    parts = []
    single = summaries.get(1, {})
    if "closed" in single and "bare_ms" in single:
        ours, bare = single["closed"]["server_ms"], single["bare_ms"]
        parts.append(
            f"single-event POST, server CPU (web + database + drain) {ours:.2f} ms = {ours / bare:.2f} × the bare "
            f"view's {bare:.2f} ms (web + database, {single['bare_rps']:,.0f} req/s; target ≤ {RATIOS['per_bare']:g}: "
            f"{met(ours / bare <= RATIOS['per_bare'])})"
        )
    for per_post, s in summaries.items():
        if per_post > 1 and "closed" in s:
            share = s["closed"]["cpu_ms"] / requests_ms
            parts.append(
                f"{per_post} events/POST, all-in CPU {s['closed']['cpu_ms']:.3f} ms/event = {share:.3f} × the yardstick "
                f"(target ≤ {RATIOS['batched_per_yardstick']:g}: {met(share <= RATIOS['batched_per_yardstick'])})"
            )
    return "Ratios (issue 23): " + "; ".join(parts) + "."


def write_docs(text: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "bench/webhooks.py " + " ".join(a for a in sys.argv[1:] if a != "--write")
    DOCS.write_text(DOCS.read_text().rstrip() + f"\n\n#### {stamp}: `{command.strip()}`\n\n{text}\n")
    print(f"appended to {DOCS.relative_to(REPO)}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--recipients", type=int, default=100_000, help="ledger rows: one delivery and one read event each")
    add(
        "--events-per-post",
        type=int,
        action="append",
        help="events per body (repeatable; default 1, 10, 100)",
    )
    add("--runs", type=int, default=3, help="repetitions per events/POST (medians are quoted)")
    add("--duration", type=float, default=60, help="at most this long sending as fast as possible (s)")
    add("--rate", type=float, default=500, help="POSTs/s of the fixed-rate phase (single-event runs)")
    add("--rate-seconds", type=float, default=10, help="length of the fixed-rate phase (s)")
    add("--web-workers", type=int, default=4, help="gunicorn sync workers")
    add("--q-workers", type=int, default=2, help="qcluster workers")
    add("--concurrency", type=int, default=8, help="connections of the as-fast-as-possible phase")
    add("--drain-timeout", type=float, default=120, help="at most this long waiting for processing (s)")
    add("--redis-url", default="redis://127.0.0.1:6379/0")
    add("--keep-db", action="store_true")
    add("--write", action="store_true", help=f"append the results to {DOCS.relative_to(REPO)}")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    per_posts = args.events_per_post or [1, 10, 100]
    per_run = 60 + args.rate_seconds + args.duration + args.drain_timeout
    minutes = 3 + args.recipients / 50_000 + len(per_posts) * args.runs * per_run / 60
    time_limit(minutes)
    bench, summaries = Bench(args), {}
    requests_ms = requests_cpu_ms()  # before anything else runs
    print(f"{args.recipients:,} recipients, events/POST {per_posts}, {args.runs} run(s), at most {minutes:.0f} min")  # fmt: skip
    try:
        bench.prepare()
        for per_post in per_posts:
            results = []
            for number in range(1, args.runs + 1):
                result = bench.run(per_post)
                results.append(result)
                phases = {p: {k: result[p][k] for k in ("rps", "lat_ms", "lag_s", "cpu_ms_per_event")}
                          for p in ("rate", "closed") if p in result}  # fmt: skip
                print(f"{per_post} event(s)/POST, run {number}: {'OK' if result['exact'] else 'MISMATCH'} {phases} "
                      f"got {result['got']}, load {result['load_after']:.1f}", flush=True)  # fmt: skip
            summaries[per_post] = summarize(results)
    finally:
        signal.alarm(0)
        bench.cleanup()
    text = report(args, summaries, requests_ms)
    print("\n" + text)
    if args.write:
        write_docs(text)


if __name__ == "__main__":
    main()
