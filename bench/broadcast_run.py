"""One run of ``bench/broadcast.py``, in the site's process (its driver subprocess):

    python bench/broadcast_run.py '<options as JSON>'

seed the Pages, subscribers and campaigns (database and simulator), start ``qcluster``, start
every campaign at once and sample ``/proc`` until all are finished (or, with ``profile``, run one
broadcast in this process under cProfile), then the naive baseline. The last stdout line is
``RESULT <json>``. The paid channel's parts are ``bench/paid.py``'s."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paid
from benchlib import Tracker, backends, descendants, loadavg, proc_stat, stop_process, wait_until
from broadcast_report import ledger_figures

OPTIN_TITLE = "Updates and promotions"


def main(options: dict) -> None:
    import django

    django.setup()
    from onesend_simulator.remote import SimulatorRemote

    remote = SimulatorRemote(options["sim_url"], timeout=120)
    started = time.monotonic()
    pages, naive = seed(remote, options)
    if options["channel"] == "paid":
        paid.hold_receipts(remote, options["web_url"], pages[0].page.app)
    print(
        f"    seeded {options['subscribers']:,} subscribers in {time.monotonic() - started:.1f} s", flush=True
    )
    try:
        if options["profile"]:
            result = profile_run(pages[0], options)
        else:
            result = measure_cluster(remote, pages, options)
            result["naive"] = naive_baseline(naive, options)
    finally:
        cleanup_redis(pages + ([naive] if naive else []), options)
    print("RESULT " + json.dumps(result), flush=True)


# -- Seeding --------------------------------------------------------------------------------------


def seed(remote, options: dict):
    """Pages with their subscribers (simulator and database), one published campaign per Page;
    the last one for the naive baseline (None without it)."""
    from onesend_plugin.models import Account, MetaApp

    account = Account.objects.create(name="Bench", slug=f"bench-{os.getpid()}", timezone="UTC")
    app = MetaApp.objects.create(
        name="Bench", app_id=str(random.randrange(10**15, 10**16)), app_secret="s", verify_token="v"
    )
    sizes = [*_split_audience(options["subscribers"], options["pages"])]
    sizes.append(0 if options["profile"] else options["naive"])
    made = [
        seed_page(remote, account, app, index, size, options["channel"]) if size else None
        for index, size in enumerate(sizes)
    ]
    return made[:-1], made[-1]


def _split_audience(total: int, pages: int) -> list[int]:
    return [total // pages + (1 if i < total % pages else 0) for i in range(pages)]


def seed_page(remote, account, app, index: int, size: int, channel: str):
    """One Page on ``channel`` (in the database and the simulator), ``size`` subscribers and
    its published campaign."""
    from onesend_plugin.models import Campaign, MessengerPage

    on_paid = channel == "paid"
    page_id = str(random.randrange(10**14, 10**15))
    page = MessengerPage.objects.create(
        account=account,
        app=app,
        page_id=page_id,
        name=f"Bench Page {index + 1}",
        username=f"bench{page_id}",
        access_token=f"EAA-bench-{page_id}",
        optin_title=OPTIN_TITLE,
        **(paid.page_fields(page_id) if on_paid else {}),
    )
    remote.create_page(
        page_id=page_id,
        name=page.name,
        username=page.username,
        access_token=page.access_token,
        **(paid.simulator_page_fields(app) if on_paid else {}),
    )
    if on_paid:
        paid.connect_ad_account(remote, page)
    add_subscribers(remote, page, size)
    return Campaign.objects.create(
        name=f"Bench {index + 1}", page=page, text="Summer sale: 30% off today only", live=True
    )


def add_subscribers(remote, page, size: int) -> None:
    """People who accepted the opt-in in the simulator, inserted with ``bulk_create``."""
    from django.utils import timezone

    from onesend_plugin.models import MarketingToken, Subscriber

    people = remote.create_people(page.page_id, size, title=OPTIN_TITLE, timezone="UTC")
    now = timezone.now()
    subscribers = Subscriber.objects.bulk_create(
        [
            Subscriber(
                page=page,
                psid=p["psid"],
                status=Subscriber.Status.SUBSCRIBED,
                timezone="UTC",
                opted_in_at=now,
            )
            for p in people
        ],
        batch_size=5000,
    )
    MarketingToken.objects.bulk_create(
        [
            MarketingToken(subscriber_id=s.pk, token=p["token"], topic=OPTIN_TITLE, timezone="UTC")
            for s, p in zip(subscribers, people, strict=True)
        ],
        batch_size=5000,
    )


# -- The cluster run ------------------------------------------------------------------------------


class Watch:
    """CPU and memory of the cluster's processes, the simulator and the benchmark database's
    PostgreSQL backends (looked up again every 2 s), from the moment it is made."""

    def __init__(self, cluster_pid: int, sim_pid: int) -> None:
        from django.db import connection

        self.connection, self.cluster_pid, self.sim_pid = connection, cluster_pid, sim_pid
        self.cluster, self.sim, self.database = Tracker(), Tracker(), Tracker()
        self.backends, self.backends_at = backends(connection), 0.0
        self.cluster.mark(descendants(cluster_pid))
        self.sim.mark([sim_pid])
        self.database.mark(self.backends)

    def sample(self, fresh: bool = False) -> None:
        self.cluster.sample(descendants(self.cluster_pid))
        self.sim.sample([self.sim_pid])
        if fresh or time.monotonic() - self.backends_at > 2:
            self.backends, self.backends_at = backends(self.connection), time.monotonic()
        self.database.sample(self.backends)

    def figures(self, workers: list[int], sent: int, elapsed: float) -> dict:
        """CPU per message sent (cluster, workers, database, simulator) and the workers' RSS."""
        sent = max(sent, 1)
        cluster = self.cluster
        return {
            "workers_found": len(workers),
            "cluster_cpu_ms_per_msg": 1000 * cluster.cpu() / sent,
            "worker_cpu_ms_per_msg": 1000 * cluster.cpu(workers) / sent,
            "db_cpu_ms_per_msg": 1000 * self.database.cpu() / sent,
            "sim_cpu_ms_per_msg": 1000 * self.sim.cpu() / sent,
            "sim_cpu_share": self.sim.cpu() / max(elapsed, 1e-6),
            "worker_rss_start_mb": max((cluster.first_rss.get(p, 0.0) for p in workers), default=0.0),
            "worker_rss_peak_mb": max((cluster.hwm.get(p, 0.0) for p in workers), default=0.0),
            "cluster_processes": len(cluster.last),
        }


def measure_cluster(remote, campaigns, options: dict) -> dict:
    """``qcluster``, every campaign started at once, sampled until all are done: the ledger's
    figures and the CPU and memory it took (the paid channel's receipts after)."""
    from onesend_plugin import broadcast

    cluster = subprocess.Popen(
        [sys.executable, "-m", "django", "qcluster"], stdout=subprocess.DEVNULL, stderr=sys.stderr
    )
    try:
        workers = find_workers(cluster.pid, options["workers"])
        watch = Watch(cluster.pid, options["sim_pid"])
        load_before = loadavg()
        started = time.time()
        for campaign in campaigns:
            broadcast.start(campaign)
        statuses = wait_finished(campaigns, watch, options["run_timeout"], options.get("sample_seconds"))
        finished = time.time()
        first_sent = first_sent_at(campaigns)
        watch.sample(fresh=True)
        stats = remote.stats()
        receipts = None
        if options["channel"] == "paid":
            pids = [cluster.pid, options["web_pid"]]
            receipts = paid.receipts_phase(remote, campaigns, pids, options["run_timeout"])
    finally:
        stop_process(cluster)
    result = ledger_figures(campaigns, started, finished, stats)
    result.update(receipts=receipts, load_before=load_before, load_after=loadavg(), statuses=statuses)
    result["start_s"] = (first_sent or finished) - started  # start() → the first message sent
    result.update(watch.figures(workers, result["sent"], finished - started))
    return result


def find_workers(cluster_pid: int, count: int) -> list[int]:
    """The cluster's worker processes, once it has started them."""
    wait_until(lambda: len(descendants(cluster_pid)) >= count + 4, 60, "the cluster to start")
    time.sleep(2.0)
    tree = descendants(cluster_pid)
    parents = {p: (proc_stat(p) or (0,))[0] for p in tree}
    # the sentinel is the main process's child that has children (not multiprocessing's tracker)
    sentinel = [p for p in tree if parents[p] == cluster_pid and cluster_pid and p in parents.values()]
    below = sorted(p for p in tree if sentinel and parents[p] == sentinel[0])
    return below[:count]  # django-q2 spawns the workers first, then monitor and pusher


def wait_finished(campaigns, watch: Watch, timeout: float, sample_seconds: float | None = None) -> list[str]:
    """Sample every 0.5 s until no campaign is running (or ``timeout``); their statuses. With
    ``sample_seconds``, every campaign is paused that long after its first message (a sample of
    a broadcast too long to run to the end)."""
    from onesend_plugin import analytics, broadcast
    from onesend_plugin.models import Campaign

    done = (Campaign.Status.FINISHED, Campaign.Status.CANCELLED, Campaign.Status.PAUSED)
    ids = [c.pk for c in campaigns]
    deadline, sending_since = time.monotonic() + timeout, None
    while True:
        watch.sample()
        if (
            sample_seconds
            and sending_since is None
            and all(analytics.stats(c).get("sent") for c in campaigns)
        ):
            sending_since = time.monotonic()
        if sending_since and time.monotonic() - sending_since > sample_seconds:
            for campaign in Campaign.objects.filter(pk__in=ids, status=Campaign.Status.RUNNING):
                broadcast.pause(campaign)
            sample_seconds = None
        statuses = list(Campaign.objects.filter(pk__in=ids).values_list("status", flat=True))
        if all(s in done for s in statuses):
            return statuses
        if time.monotonic() > deadline:
            print(f"    timed out: statuses {statuses}", file=sys.stderr)
            return statuses
        time.sleep(0.5)


def first_sent_at(campaigns) -> float | None:
    """When the first message of these campaigns went out (epoch seconds)."""
    from django.db.models import Min

    from onesend_plugin.models import Delivery

    first = Delivery.objects.filter(campaign__in=campaigns).aggregate(first=Min("sent_at"))["first"]
    return first.timestamp() if first else None


# -- The naive baseline and the profile -----------------------------------------------------------


def naive_sender(page, channel: str):
    """The naive baseline's one Graph call per subscriber, ``send(token, message)``: the Send
    API with the token, or the paid API's ``act_<id>/messages``."""
    from onesend_plugin.meta import client_for, paid_client_for

    if channel == "paid":
        return paid.naive_send(paid_client_for(page), page)
    client = client_for(page)
    return lambda token, message: client.send_to_token(token=token, message=message)


def naive_baseline(campaign, options: dict) -> dict | None:
    """One Graph call and one INSERT per subscriber, in a plain loop (this process)."""
    if campaign is None:
        return None
    from django.db import connection
    from django.utils import timezone

    from onesend_plugin import messages
    from onesend_plugin.messenger.errors import GraphError
    from onesend_plugin.models import Delivery, MarketingToken

    body, send = messages.build(campaign), naive_sender(campaign.page, options["channel"])
    people = list(
        MarketingToken.objects.filter(subscriber__page=campaign.page).values_list(
            "subscriber_id", "subscriber__psid", "token"
        )
    )
    sim, database = Tracker(), Tracker()
    sim.mark([options["sim_pid"]])
    database.mark(backends(connection))
    cpu, started, failed = time.process_time(), time.monotonic(), 0
    for subscriber_id, psid, token in people:
        try:
            message_id, state = send(token, body).message_id, Delivery.State.SENT
        except GraphError:
            message_id, state, failed = "", Delivery.State.FAILED, failed + 1
        Delivery.objects.create(
            campaign=campaign,
            subscriber_id=subscriber_id,
            page=campaign.page,
            psid=psid,
            state=state,
            sent_at=timezone.now(),
            message_id=message_id or "",
        )
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    sim.sample([options["sim_pid"]])
    database.sample(backends(connection))
    count = len(people)
    return {
        "messages": count,
        "failed": failed,
        "rate": count / elapsed,
        "cpu_ms_per_msg": 1000 * cpu / count,
        "db_cpu_ms_per_msg": 1000 * database.cpu() / count,
        "sim_cpu_ms_per_msg": 1000 * sim.cpu() / count,
        "extrapolated_s": options["subscribers"] / (count / elapsed),
    }


def profile_run(campaign, options: dict) -> dict:
    """Freeze, then ``broadcast.run`` in this process under cProfile (CPU time only)."""
    import cProfile
    import io
    import pstats

    from onesend_plugin import broadcast
    from onesend_plugin.models import Campaign, Delivery

    # No cluster: this process does the work.
    broadcast.lifecycle.async_task = broadcast.runner.async_task = lambda *args, **kwargs: None
    broadcast.runner.schedule = lambda *args, **kwargs: None
    broadcast.start(campaign)
    campaign.refresh_from_db()
    broadcast.freeze(campaign)
    profiler = cProfile.Profile(time.process_time)
    cpu, started = time.process_time(), time.monotonic()
    deadline = time.monotonic() + options["run_timeout"]
    profiler.enable()
    while time.monotonic() < deadline:
        if broadcast.run(campaign.pk, budget=30) == "finished":
            break
    profiler.disable()
    cpu, elapsed = time.process_time() - cpu, time.monotonic() - started
    sent = Delivery.objects.filter(campaign=campaign, state=Delivery.State.SENT).count()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(30)
    report = Path(tempfile.gettempdir()) / f"onesend-bench-profile-{os.getpid()}.txt"
    report.write_text(out.getvalue())
    status = Campaign.objects.get(pk=campaign.pk).status
    return {
        "profile": True,
        "status": status,
        "sent": sent,
        "rate": sent / elapsed,
        "cpu_ms_per_msg": 1000 * cpu / max(sent, 1),
        "report": str(report),
    }


def cleanup_redis(campaigns, options: dict) -> None:
    url = options.get("redis_url")
    if not url:
        return
    import redis

    client = redis.Redis.from_url(url)
    keys = [f"onesend:rate:{c.page.page_id}:{kind}" for c in campaigns for kind in ("text", "media")]
    keys += list(client.scan_iter(f"django_q:{options['q_name']}:*", count=1000))
    if keys:
        client.delete(*keys)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
