"""docs/deployment.md on one machine: its production settings and commands, two clusters
(``qcluster``) sharing one PostgreSQL and one Redis, one campaign started from a web host, one
cluster restarted halfway as an upgrade restarts it. Every person receives the campaign exactly
once, and no cluster logs an ERROR.

The guide's blocks marked ``<!-- deploy: … -->`` are used as written: ``settings`` goes into the
hosts' settings module (the example site's, which the tests' database was migrated with),
``release`` commands are run, ``worker`` is started twice. Only what stands in for production is
the test's: the simulator for Meta, this test's database, and a queue name of its own in Redis.
Needs PostgreSQL (``DATABASE_URL``) and Redis on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis
from django.db import connection
from onesend_simulator.remote import wait_for

from onesend_plugin.broadcast import runner
from onesend_plugin.models import Campaign, Delivery, MarketingToken, Subscriber

from .factories import CampaignFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the guide's database is PostgreSQL"),
]

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "deployment.md"
STEP = re.compile(r"^<!-- deploy: (\w+) -->\n```\w*\n(.*?)^```$", re.M | re.S)
REDIS_URL = "redis://127.0.0.1:6379/15"
AUDIENCE = 400  # at 20 per second: about 20 s of sending
WAIT = 120.0
#: The clusters' task timeout: turns of 6 s (runner.turn_budget).
TIMEOUT = math.ceil(runner.timeout_for_turn(6))


def guide(kind: str) -> list[str]:
    return [code for marker, code in STEP.findall(GUIDE.read_text()) if marker == kind]


def commands(kind: str) -> list[list[str]]:
    """The guide's commands of ``kind``; ``python manage.py`` is the example site's, with this
    interpreter."""
    found = []
    for line in "".join(guide(kind)).splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] == ["python", "manage.py"]:
            found.append([sys.executable, str(ROOT / "example_site" / "manage.py"), *words[2:]])
    return found


class Hosts:
    """What the hosts share (settings module, environment) and the clusters they run."""

    def __init__(self, tmp_path: Path, simulator_url: str) -> None:
        self.tmp_path, self.clusters = tmp_path, []
        self.queue = f"deploy-{uuid.uuid4().hex[:8]}"
        module = f"deploy_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{module}.py").write_text(
            "from example_site.settings import *  # noqa\n\n"
            + "".join(guide("settings"))
            + "\n# The test's stand-ins: the simulator for Meta, a queue of its own in the shared Redis, two\n"
            "# workers on the one campaign, short turns (6 s: a timeout that leaves the longest batch its\n"
            "# time) and half the pace (20 s of sending), so that the campaign changes hands however late a\n"
            "# loaded machine lets the test see its first quarter.\n"
            f'ONESEND.update(GRAPH_API_BASE_URL="{simulator_url}", MME_BASE_URL="{simulator_url}/m.me",\n'
            f'               OAUTH_DIALOG_BASE_URL="{simulator_url}", RUNNERS_PER_CAMPAIGN=2,\n'
            "               TEXT_RATE_LIMIT=20)\n"
            f'Q_CLUSTER.update(name="{self.queue}", timeout={TIMEOUT}, retry={2 * TIMEOUT})\n'
        )
        db = connection.settings_dict
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},  # the tests' own
            "DJANGO_SETTINGS_MODULE": module,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
            "REDIS_URL": REDIS_URL,
            "PUBLIC_BASE_URL": "https://shop.test",
            "Q_WORKERS": "2",
            "ONESEND_DATA_DIR": str(tmp_path),
            "TMPDIR": str(tmp_path),
        }

    def run(self, command: list[str], *, expect: int = 0) -> str:
        done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == expect, f"{command}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def start_cluster(self, command: list[str]) -> subprocess.Popen:
        log = self.tmp_path / f"cluster-{len(self.clusters)}.log"
        with log.open("w") as output:
            cluster = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers are killed with it (os.killpg)
            )
        cluster.log = log
        self.clusters.append(cluster)
        return cluster

    def stop(self, cluster: subprocess.Popen) -> None:
        """SIGTERM, as systemd stops it: the cluster lets its workers finish their task."""
        cluster.terminate()
        cluster.wait(timeout=WAIT)

    def logs(self) -> str:
        return "\n".join(cluster.log.read_text() for cluster in self.clusters)


@pytest.fixture
def hosts(tmp_path, simulator):
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    hosts = Hosts(tmp_path, simulator.base_url)
    yield hosts
    for cluster in hosts.clusters:  # with its workers, before the database is flushed
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"django_q:{hosts.queue}:*"):
        client.delete(key)


def subscribe(simulator, page, count: int) -> list[str]:
    """``count`` people holding a marketing-message token of the Page (Meta's side, then ours)."""
    people = simulator.create_people(page.page_id, count, title=page.optin_title)
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(page=page, psid=person["psid"], status=Subscriber.Status.SUBSCRIBED) for person in people
    )
    MarketingToken.objects.bulk_create(
        MarketingToken(subscriber=subscriber, token=person["token"], topic=page.optin_title)
        for subscriber, person in zip(subscribers, people, strict=True)
    )
    return [person["psid"] for person in people]


@pytest.mark.slow
def test_two_clusters_on_one_postgresql_and_redis_send_a_campaign_once_through_an_upgrade(
    hosts, simulator, sim_page
):
    for command in commands("release"):
        output = hosts.run(command, expect=1 if "--deploy" in command else 0)
    # check --deploy refuses only the stand-in for Meta: everything else is production-ready.
    errors = re.findall(r"\((\w+\.E\d+)\)", output)
    assert errors and set(errors) == {"onesend.E012"}, output

    psids = subscribe(simulator, sim_page, AUDIENCE)
    campaign = CampaignFactory(page=sim_page, text="Autumn sale")
    [worker] = commands("worker")
    upgraded = hosts.start_cluster(worker)
    # "Send now" on a web host: the start goes into the shared queue; this cluster alone is up.
    send_now = f"from onesend_plugin import broadcast, models; broadcast.start(models.Campaign.objects.get(pk={campaign.pk}))"
    hosts.run([*worker[:2], "shell", "-c", send_now])

    def sent() -> int:
        return Delivery.objects.filter(campaign=campaign, state=Delivery.State.SENT).count()

    wait_for(lambda: sent() >= AUDIENCE // 4, timeout=WAIT, what="a quarter of the campaign sent")
    # The upgrade: the cluster stops taking tasks, its workers end their turn and hand over.
    upgraded.terminate()
    others = [hosts.start_cluster(worker), hosts.start_cluster(worker)]  # another host; the new code
    upgraded.wait(timeout=WAIT)
    assert sent() < AUDIENCE, "the campaign must change hands"
    wait_for(
        lambda: Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.FINISHED).exists(),
        timeout=WAIT,
        what=lambda: f"the campaign to finish ({sent()} of {AUDIENCE} sent)\n{hosts.logs()}",
    )
    received = Counter(m["psid"] for m in simulator.messages(sim_page.page_id) if m.get("type") != "optin")
    assert received == Counter(psids), "each person exactly once"
    assert Counter(Delivery.objects.filter(campaign=campaign).values_list("state", flat=True)) == {
        "sent": AUDIENCE
    }
    for cluster in others:
        hosts.stop(cluster)
    assert "run_campaign" in upgraded.log.read_text()
    assert any("run_campaign" in cluster.log.read_text() for cluster in others), hosts.logs()
    assert [line for line in hosts.logs().splitlines() if " ERROR " in line or "Traceback" in line] == []
