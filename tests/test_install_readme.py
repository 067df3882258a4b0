"""README's "Add onesend to your Wagtail site", followed as written, so it cannot rot.

A project made by ``wagtail start`` gets the README's blocks marked ``<!-- install: … -->``
(``scripts/readme_install.py``): its files are edited as they say, ``run`` commands are run,
the ``worker`` command is started in the background. Only the Meta side is not the README's:
``settings/local.py`` (which ``wagtail start``'s ``dev.py`` imports) points the site at the
simulator and at the web server the test starts. Then one
simulated person subscribes through the opt-in flow, a campaign goes out with a tracked link on
the public URL, the link is followed, and neither the worker nor the web server logged an ERROR.
"""

from __future__ import annotations

import os
import runpy
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from onesend_simulator.pytest_plugin import running_simulator
from onesend_simulator.remote import SimulatorRemote, wait_for

#: scripts/readme_install.py: the README's marked blocks, applied or listed.
readme = runpy.run_path(str(Path(__file__).resolve().parent.parent / "scripts" / "readme_install.py"))
WAIT = 60.0  # the worker polls the database broker; under load a step takes seconds
APP_ID, PAGE_ID, TOKEN = "880000000000099", "1000000000000099", "EAA-mysite"
LINK = "https://shop.example.net/sale"

#: Run in the project by ``manage.py shell``: what an operator does in the admin (an account, a
#: Meta app, a Page added by hand with its token, subscribed and checked as its save does).
SET_UP = f"""
from onesend_plugin.accounts import onboarding
from onesend_plugin.models import Account, MessengerPage, MetaApp
account = Account.objects.create(name="My shop", slug="my-shop")
app = MetaApp.objects.create(name="App", app_id="{APP_ID}", app_secret="s3cret", verify_token="v")
page = MessengerPage.objects.create(
    account=account, app=app, page_id="{PAGE_ID}", name="My shop", access_token="{TOKEN}"
)
assert onboarding.is_healthy(onboarding.refresh(page)), page.health
"""
#: What the campaign editor's "Send now" does, with one button.
SEND = f"""
from onesend_plugin import broadcast
from onesend_plugin.models import Campaign, CampaignButton, MessengerPage
campaign = Campaign.objects.create(
    page=MessengerPage.objects.get(page_id="{PAGE_ID}"), name="Sale", text="Sale today", live=True
)
CampaignButton.objects.create(campaign=campaign, title="Shop", url="{LINK}")
broadcast.start(campaign)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Project:
    """The ``wagtail start`` project: its commands and background processes."""

    def __init__(self, root: Path) -> None:
        self.root, self.processes = root, []
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")
        }

    def run(self, *command: str) -> str:
        done = subprocess.run(
            command, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def shell(self, code: str) -> str:
        return self.run(sys.executable, "manage.py", "shell", "-c", code)

    def start(self, name: str, *command: str) -> Path:
        log = self.root / f"{name}.log"
        with log.open("w") as output:
            self.processes.append(
                subprocess.Popen(
                    command, cwd=self.root, env=self.env, stdout=output, stderr=subprocess.STDOUT
                )
            )
        return log

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    def subscriber_status(self, psid: str) -> str | None:
        with sqlite3.connect(self.root / "db.sqlite3") as db:
            row = db.execute("SELECT status FROM onesend_subscriber WHERE psid = ?", (psid,)).fetchone()
        return row[0] if row else None


@pytest.fixture
def project(tmp_path):
    wagtail = Path(sys.executable).with_name("wagtail")
    subprocess.run([str(wagtail), "start", "mysite"], cwd=tmp_path, check=True, capture_output=True)
    project = Project(tmp_path / "mysite")
    yield project
    project.stop()


def served(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.ConnectionError:
        return False


@pytest.mark.slow
def test_a_wagtail_site_set_up_as_the_readme_says_subscribes_and_sends(project):
    web = f"http://127.0.0.1:{free_port()}"
    readme["apply_file_steps"](project.root)
    with running_simulator() as simulator_url:
        simulator = SimulatorRemote(simulator_url)
        (project.root / "mysite/settings/local.py").write_text(
            "from .base import ONESEND\n\n"
            f'ONESEND = {{**ONESEND, "PUBLIC_BASE_URL": "{web}", "GRAPH_API_BASE_URL": "{simulator_url}", '
            f'"MME_BASE_URL": "{simulator_url}/m.me", "OAUTH_DIALOG_BASE_URL": "{simulator_url}"}}\n'
            "LOGGING = {'version': 1, 'disable_existing_loggers': False, 'handlers': {'console': "
            "{'class': 'logging.StreamHandler', 'formatter': 'levels'}}, 'formatters': {'levels': "
            "{'format': '%(levelname)s %(name)s %(message)s'}}, 'root': {'handlers': ['console'], "
            "'level': 'INFO'}}\n"
        )
        checked = [project.run(*command) for command in readme["commands"]("run")]
        assert "System check identified no issues" in checked[-1]

        simulator.configure(
            webhook_url=f"{web}/onesend/webhook/{APP_ID}/", app_secret="s3cret", verify_token="v"
        )
        simulator.create_page(
            page_id=PAGE_ID, name="My shop", access_token=TOKEN, app_id=APP_ID, subscribed_fields=[]
        )
        project.shell(SET_UP)
        web_log = project.start(
            "web", sys.executable, "manage.py", "runserver", web.split("//")[1], "--noreload"
        )
        [worker] = readme["commands"]("worker")
        worker_log = project.start("worker", *worker)
        wait_for(lambda: served(f"{web}/onesend/c/x/"), timeout=WAIT, what="the web server")

        psid = simulator.create_person(PAGE_ID)["psid"]
        simulator.open_link(psid)  # Get Started: the site's worker sends the opt-in request
        wait_for(
            lambda: any(item["type"] == "optin" for item in simulator.person(psid)["thread"]),
            timeout=WAIT,
            what="the opt-in request",
        )
        simulator.accept_optin(psid)
        wait_for(
            lambda: project.subscriber_status(psid) == "subscribed", timeout=WAIT, what="the subscription"
        )

        project.shell(SEND)
        message = wait_for(
            lambda: next((m for m in simulator.messages(PAGE_ID, psid=psid) if m.get("buttons")), None),
            timeout=WAIT,
            what="the campaign's message",
        )
        [button] = message["buttons"]
        assert button["url"].startswith(f"{web}/onesend/c/")
        click = requests.get(button["url"], allow_redirects=False, timeout=10)
        assert click.status_code == 302 and click.headers["Location"].startswith(LINK)
        simulator.wait_webhooks_drained(timeout=WAIT)
    project.stop()
    for log in (worker_log, web_log):
        errors = [line for line in log.read_text().splitlines() if line.startswith(("ERROR", "CRITICAL"))]
        assert errors == [], log.read_text()
