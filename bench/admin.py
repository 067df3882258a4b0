"""Benchmark: the admin at a million subscribers (issue 23, target 5).

The same shape of data at two sizes, each in its own PostgreSQL database copied from a template
migrated once: ``--small`` (10 000) and ``--large`` (1 000 000) subscribers, as many ledger rows
spread over 200 started campaigns (with their counters), one active token per subscribed person,
a tag on every tenth, and one draft campaign to confirm. The rows are made by PostgreSQL itself
(``INSERT … SELECT`` over ``generate_series``, cloning one row the ORM made, so every column
Django fills in has a value): a million subscribers in seconds, not the ORM row by row.

Then, with Django's test client signed in as a superuser, each view is asked once to warm up,
once inside ``CaptureQueriesContext`` (its SQL query count and their time), and ``--repeats``
times for the render time; the two sizes are measured in turns, ``--rounds`` times, so that a
change in the shared machine's load weighs on both alike. The report prints, per view, the query
counts, SQL time and median render time at both sizes and the ratio large/small; the target: the same query count, and a median ≤ 2 × the small one. The load
average and the git revision are printed with the figures (the machine is shared).

    .venv/bin/python bench/admin.py                      # 10 k and 1 M, 2–5 minutes here
    .venv/bin/python bench/admin.py --large 100000       # a quicker look
    .venv/bin/python bench/admin.py --explain            # adds EXPLAIN ANALYZE of the slowest query

From a worktree, set ``PYTHONPATH=$PWD:$PWD/example_site``. The databases (``bench_admin_<pid>_*``)
are dropped at the end unless ``--keep-db``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchlib import REPO, Databases, admin_sql, loadavg, time_limit

BENCH = REPO / "bench"
CAMPAIGNS = 200
TAGS = ("vip", "newsletter", "spring")

# -- Making the data (in the driver subprocess, Django set up) -----------------------------------


def clone(model, template_pk: int, rows: str, overrides: dict[str, str], params=()) -> int:
    """Copy the row ``template_pk`` of ``model`` once per row of the subquery ``rows`` (its
    columns are visible as ``g.*``), with ``overrides`` (column → SQL expression): one
    ``INSERT … SELECT``. Columns not overridden keep the template's values."""
    from django.db import connection

    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    values = ", ".join(overrides.get(column, f"t.{column}") for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} "
            f"FROM {table} t JOIN ({rows}) g ON t.{model._meta.pk.column} = %s",
            [*params, template_pk],
        )
        return cursor.rowcount


def make_page():
    """An account, its Meta app and Page, and a superuser to sign in with."""
    from django.contrib.auth import get_user_model

    from onesend_plugin.models import Account, MessengerPage, MetaApp

    account = Account.objects.create(name="Bench", slug="bench")
    app = MetaApp.objects.create(name="Bench app", app_id="900000000001", app_secret="s", verify_token="v")
    page = MessengerPage.objects.create(
        account=account, app=app, page_id="1000000000000100", name="Bench Page", username="bench",
        access_token="page-token",
    )  # fmt: skip
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password")
    return page, user


def make_subscribers(page, count: int) -> None:
    """``count`` subscribers: 90 % subscribed with an active token, opted in over 90 days, from
    20 links, named; every tenth tagged."""
    from django.utils import timezone
    from taggit.models import Tag

    from onesend_plugin.models import MarketingToken, Subscriber, SubscriberTag

    now = timezone.now()
    first = Subscriber.objects.create(
        page=page, psid="2000000000000000", status="subscribed", first_name="Ada", last_name="N0",
        source_ref="link-0", opted_in_at=now,
    )  # fmt: skip
    clone(
        Subscriber, first.pk, "SELECT generate_series(1, %s) AS n", {
            "psid": "(2000000000000000 + g.n)::text",
            "last_name": "'N' || g.n",
            "status": "CASE WHEN mod(g.n, 10) = 0 THEN 'unsubscribed' ELSE 'subscribed' END",
            "source_ref": "'link-' || mod(g.n, 20)",
            "opted_in_at": "now() - (mod(g.n, 90)) * interval '1 day' - g.n * interval '1 ms'",
            "created_at": "now() - (mod(g.n, 90)) * interval '1 day' - g.n * interval '1 ms'",
        }, [count - 1],
    )  # fmt: skip
    token = MarketingToken.objects.create(subscriber=first, token="t0", topic=page.optin_title)
    clone(
        MarketingToken, token.pk,
        f"SELECT id FROM {Subscriber._meta.db_table} WHERE status = 'subscribed' AND id <> %s",
        {"subscriber_id": "g.id", "token": "'t' || g.id"}, [first.pk],
    )  # fmt: skip
    tag = Tag.objects.create(name=TAGS[0], slug=TAGS[0])
    for name in TAGS[1:]:
        Tag.objects.create(name=name, slug=name)
    tagged = SubscriberTag.objects.create(tag=tag, content_object=first)
    clone(
        SubscriberTag, tagged.pk,
        f"SELECT id, {tag.pk} + mod(id, 3) AS tag FROM {Subscriber._meta.db_table} "
        "WHERE mod(id, 10) = 0 AND id <> %s",
        {"content_object_id": "g.id", "tag_id": "g.tag"}, [first.pk],
    )  # fmt: skip


def make_campaigns(page) -> tuple[int, int]:
    """200 finished campaigns started an hour apart, and one draft: (newest started, draft)."""
    from django.utils import timezone

    from onesend_plugin.models import Campaign

    now = timezone.now()
    started = Campaign.objects.create(
        name="Campaign 0", page=page, text="Spring sale", live=True, status=Campaign.Status.FINISHED,
        started_at=now, finished_at=now, message={"body": {"text": "Spring sale"}},
    )  # fmt: skip
    clone(
        Campaign, started.pk, "SELECT generate_series(1, %s) AS n",
        {"name": "'Campaign ' || g.n", "started_at": "t.started_at - g.n * interval '1 hour'"},
        [CAMPAIGNS - 1],
    )  # fmt: skip
    draft = Campaign.objects.create(name="To confirm", page=page, text="Summer sale", live=True)
    return started.pk, draft.pk


def make_ledger(page, count: int) -> None:
    """One ledger row per subscriber (``count`` in all), spread evenly over the started
    campaigns: sent, half of them read; then each campaign's counters from its rows."""
    from django.db import connection

    from onesend_plugin.models import Campaign, CampaignStat, Delivery, Subscriber

    ids = list(Campaign.objects.filter(started_at__isnull=False).order_by("pk").values_list("pk", flat=True))
    first_subscriber = page.subscribers.order_by("pk").first()
    row = Delivery.objects.create(
        campaign_id=ids[0], subscriber=first_subscriber, page=page, psid=first_subscriber.psid,
        state=Delivery.State.SENT, channel="token",
    )  # fmt: skip
    clone(
        Delivery, row.pk,
        f"SELECT id, psid, row_number() OVER (ORDER BY id) AS n FROM {Subscriber._meta.db_table} WHERE id <> %s",
        {
            "campaign_id": f"(%s::bigint[])[1 + mod(g.n, {len(ids)})]",
            "subscriber_id": "g.id",
            "psid": "g.psid",
            "sent_at": "now() - (mod(g.n, 200)) * interval '1 hour'",
            "delivered_at": "now() - (mod(g.n, 200)) * interval '1 hour'",
            "read_at": "CASE WHEN mod(g.n, 2) = 0 THEN now() - (mod(g.n, 200)) * interval '1 hour' END",
        },
        [ids, first_subscriber.pk],  # in the order of the SQL: the SELECT, then the rows
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {CampaignStat._meta.db_table} (campaign_id, name, value) "
            "SELECT campaign_id, kind, n FROM (SELECT campaign_id, count(*) AS sent, count(delivered_at) AS "
            f"delivered, count(read_at) AS read FROM {Delivery._meta.db_table} GROUP BY campaign_id) c, "
            "LATERAL (VALUES ('sent', sent), ('delivered', delivered), ('read', read)) v(kind, n)"
        )
        cursor.execute(
            f"UPDATE {Campaign._meta.db_table} SET audience_size = s.value FROM {CampaignStat._meta.db_table} s "
            f"WHERE s.campaign_id = {Campaign._meta.db_table}.id AND s.name = 'sent'"
        )
        cursor.execute("ANALYZE")


def build(subscribers: int) -> dict:
    """Everything a size needs; what the views are asked about."""
    page, user = make_page()
    make_subscribers(page, subscribers)
    report, draft = make_campaigns(page)
    make_ledger(page, subscribers)
    return {"user": user, "report": report, "draft": draft}


# -- Measuring (in the driver subprocess) -----------------------------------------------------------


def views(made: dict) -> dict[str, str]:
    """The views of target 5 and the URL each is measured at."""
    return {
        "campaign report": f"/admin/messenger/reports/campaign/{made['report']}/",
        "campaigns report": "/admin/messenger/reports/campaigns/",
        "subscribers": "/admin/messenger/subscribers/",
        "subscribers, filtered": "/admin/messenger/subscribers/?status=subscribed&tag=vip",
        "subscribers, searched": "/admin/messenger/subscribers/?q=N4242",
        "dashboard panel": "/admin/",
        "campaign confirm": f"/admin/messenger/campaigns/send/{made['draft']}/",
    }


def measure(client, url: str, repeats: int, explain: bool) -> dict:
    """One view: its query count and their time (the second request: caches warm), and the
    times of ``repeats`` more requests."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    captured = queries.captured_queries  # read now: the next request empties Django's query log
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        client.get(url)
        times.append(1000 * (time.perf_counter() - started))
    slowest = max(captured, key=lambda q: float(q["time"]))
    result = {
        "queries": len(captured),
        "sql_ms": 1000 * sum(float(q["time"]) for q in captured),
        "times_ms": times,
        "slowest_sql": slowest,
    }
    if explain:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
            result["explain"] = "\n".join(row[0] for row in cursor.fetchall())
    return result


def drive_build(subscribers: int) -> dict:
    """The driver's first call: make the data; what the views are asked about."""
    import django

    django.setup()
    started = time.monotonic()
    made = build(subscribers)
    return {**made, "user": made["user"].pk, "build_s": time.monotonic() - started}


def drive_measure(made: dict, repeats: int, explain: bool) -> dict:
    """The driver's later calls: measure every view."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(pk=made["user"]))
    load = loadavg()
    found = {name: measure(client, url, repeats, explain) for name, url in views(made).items()}
    return {"views": found, "load": [load, loadavg()]}


# -- The invocation -----------------------------------------------------------------------------------


def driver(env: dict, database_url: str, *arguments: str) -> dict:
    """This file as the driver subprocess on one database: its RESULT."""
    finished = subprocess.run(
        [sys.executable, __file__, *arguments],
        env={**env, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
    )
    if finished.returncode:
        raise SystemExit(f"the driver failed ({' '.join(arguments)[:80]}):\n{finished.stderr[-4000:]}")
    return json.loads(finished.stdout.split("RESULT ", 1)[1])


def run(args, databases: Databases, env: dict) -> dict[int, dict]:
    """Both sizes built, then measured in turns (``--rounds``): a change in the machine's load
    during the run weighs on both alike. Per size: the data made, and each view's figures."""
    sizes = {size: {"rounds": []} for size in (args.small, args.large)}
    for size, found in sizes.items():
        name = f"{databases.name}_{size}"
        admin_sql(f"CREATE DATABASE {name} TEMPLATE {databases.template}")
        databases.created.append(name)
        found["url"] = databases.url(name)
        found["made"] = driver(env, found["url"], "--build", str(size))
        print(f"{size:,}: data made in {found['made']['build_s']:.1f} s", flush=True)
    for number in range(1, args.rounds + 1):
        for size, found in sizes.items():
            explain = args.explain and number == args.rounds
            options = ["--measure", json.dumps(found["made"]), "--repeats", str(args.repeats)]
            found["rounds"].append(driver(env, found["url"], *options, *(["--explain"] if explain else [])))
            print(f"{size:,}: round {number} measured", flush=True)
    return sizes


def combined(found: dict) -> dict[str, dict]:
    """Each view over the rounds: most queries seen, median SQL time and render time."""
    views_found = {}
    for name in found["rounds"][0]["views"]:
        rounds = [r["views"][name] for r in found["rounds"]]
        views_found[name] = {
            "queries": max(r["queries"] for r in rounds),
            "sql_ms": statistics.median(r["sql_ms"] for r in rounds),
            "median_ms": statistics.median(t for r in rounds for t in r["times_ms"]),
            "last": rounds[-1],
        }
    return views_found


def revision() -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()


def report(args, sizes: dict[int, dict], wall: float) -> str:
    """The Markdown table: per view, query counts, medians and the ratio large/small, verdict;
    then each view's slowest query at the large size."""
    small, large = (combined(sizes[size]) for size in (args.small, args.large))
    loads = [load for found in sizes.values() for r in found["rounds"] for load in r["load"]]
    made = ", ".join(f"{size:,} in {found['made']['build_s']:.0f} s" for size, found in sizes.items())
    lines = [
        f"Revision {revision()}, {wall:.0f} s in all (data made: {made}); {args.rounds} rounds of "
        f"{args.repeats} requests per view and size, in turns; load {min(loads):.1f}–{max(loads):.1f}.",
        "",
        f"| view | queries {args.small:,} | queries {args.large:,} | SQL ms {args.small:,} | SQL ms {args.large:,} "
        f"| median ms {args.small:,} | median ms {args.large:,} | ratio | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, a in small.items():
        b = large[name]
        ratio = b["median_ms"] / a["median_ms"]
        ok = b["queries"] <= a["queries"] and ratio <= 2
        lines.append(
            f"| {name} | {a['queries']} | {b['queries']} | {a['sql_ms']:.0f} | {b['sql_ms']:.0f} "
            f"| {a['median_ms']:.0f} | {b['median_ms']:.0f} | {ratio:.2f} | {'met' if ok else 'MISSED'} |"
        )
    lines.append("")
    for name, b in large.items():
        slowest = b["last"]["slowest_sql"]
        lines.append(
            f"- {name}, slowest query at {args.large:,} ({slowest['time']} s): {slowest['sql'][:300]}"
        )
        if "explain" in b["last"]:
            lines.append("```\n" + b["last"]["explain"] + "\n```")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="subscribers (and ledger rows), small")
    parser.add_argument("--large", type=int, default=1_000_000, help="subscribers (and ledger rows), large")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of both sizes, in turns")
    parser.add_argument("--repeats", type=int, default=4, help="timed requests per view and round")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each view's slowest query")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--max-minutes", type=float, default=10)
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)  # the driver subprocess
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the driver subprocess
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.build:
        print("RESULT " + json.dumps(drive_build(args.build)))
        return
    if args.measure:
        print("RESULT " + json.dumps(drive_measure(json.loads(args.measure), args.repeats, args.explain)))
        return
    started = time.monotonic()
    time_limit(args.max_minutes)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "PYTHONPATH": os.pathsep.join([str(BENCH), str(REPO), os.environ.get("PYTHONPATH", "")]),
        "DEBUG": "0",
    }
    databases = Databases("postgres", args.keep_db, prefix="bench_admin")
    try:
        databases.prepare(env)
        sizes = run(args, databases, env)
    finally:
        databases.cleanup()
    print(report(args, sizes, time.monotonic() - started))


if __name__ == "__main__":
    main()
