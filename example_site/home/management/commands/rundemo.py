"""``manage.py rundemo``: the whole demo from one command.

Migrates, seeds demo data, then runs the Graph API simulator, the web server and a django-q2
worker as child processes until Ctrl-C (or SIGTERM, or SIGHUP: the terminal closed), which stops
all of them; if it is killed outright, the kernel stops them (see ``example_site.home.processes``).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django_q.tasks import async_task, fetch

from example_site.home import demo, processes

HOST = "127.0.0.1"
START_TIMEOUT = 60  # seconds for each child to answer
STOP_TIMEOUT = 10  # seconds for each child to exit after SIGINT, before it is killed
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Command(BaseCommand):
    help = "Run the demo: migrate, seed, start the simulator, web server and worker; Ctrl-C stops all."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="Web server port (default 8000).")
        parser.add_argument(
            "--simulator-port", type=int, default=8765, help="Graph API simulator port (default 8765)."
        )
        parser.add_argument(
            "--no-simulator", action="store_true", help="Don't start the simulator (e.g. one runs already)."
        )
        parser.add_argument(
            "--time-scale",
            type=float,
            default=1,
            metavar="N",
            help="Divide the demo flows' delays by N, e.g. 1440: a day becomes a minute (default 1).",
        )

    def handle(self, *args, port, simulator_port, no_simulator, time_scale, **options):
        if time_scale <= 0:
            raise CommandError("--time-scale must be positive.")
        self.time_scale = time_scale
        self.children = []
        # Without a handler, SIGTERM or SIGHUP would end this process before it stops the children.
        # SIGINT gets one too: a background job starts with SIGINT ignored, and the children
        # would inherit that (exec keeps ignored signals but resets handled ones).
        for signum in STOP_SIGNALS:
            signal.signal(signum, _raise_keyboard_interrupt)
        try:
            self.run(port, simulator_port, no_simulator)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self.stop_children()

    def run(self, port, simulator_port, no_simulator):
        simulator_script = Path(sys.executable).with_name("onesend-simulator")
        use_simulator = not no_simulator and simulator_script.exists()
        if not no_simulator and not use_simulator:
            self.stderr.write(
                f"{simulator_script} is missing (pip install -e ./simulator); running without the simulator."
            )
        for free_port in [port] + ([simulator_port] if use_simulator else []):
            _ensure_port_free(free_port)

        site_url = f"http://{HOST}:{port}"
        simulator_url = f"http://{HOST}:{simulator_port}"
        addresses = point_at(site_url, simulator_url if use_simulator else None)
        self.stdout.write("Migrating the database…")
        call_command("migrate", interactive=False, verbosity=0)
        page = demo.seed()
        self.stdout.write("Flows (automated campaigns the shop's events trigger):")
        for line in demo.seed_flows(page, shop_url=f"{site_url}/shop/", time_scale=self.time_scale):
            self.stdout.write(f"  {line}")

        if self.time_scale != 1:
            self.stdout.write(
                f"A/B tests: an hour of a test lasts {3600 / self.time_scale:g} s at time scale {self.time_scale:g}"
            )
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **addresses, **time_scaled(self.time_scale)}
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]

        self.start("web server", [*manage, "runserver", f"{HOST}:{port}", "--noreload"], env)
        self.start("worker", [*manage, "qcluster"], env)
        self.wait_until("web server", lambda: _answers(f"{site_url}/admin/login/"))
        if use_simulator:
            self.start_simulator(simulator_script, page.app, site_url, simulator_port, env)
        task_id = async_task(demo.ping)
        self.wait_until("worker", lambda: fetch(task_id) is not None)
        if use_simulator:  # needs the site and the worker: people subscribe through the real flow
            self.stdout.write("Subscribing simulated people through the opt-in flow…")
            demo.populate_simulator(simulator_url, page)

        self.stdout.write(self.style.SUCCESS(_banner(site_url, simulator_url if use_simulator else None)))
        while True:
            self.check_children()
            time.sleep(0.5)

    def start_simulator(self, script: Path, app, site_url: str, simulator_port: int, env: dict) -> None:
        """The simulator, posting signed webhooks to the site and keeping its state in the demo's
        data directory."""
        args = [
            str(script),
            *("--host", HOST, "--port", str(simulator_port)),
            *("--webhook-url", f"{site_url}/onesend/webhook/{app.app_id}/"),
            *("--app-secret", app.app_secret, "--verify-token", app.verify_token, "--verify-webhook"),
            *("--state-file", str(Path(settings.DATA_DIR) / "simulator.json")),
        ]
        self.start("simulator", args, env)
        self.wait_until("simulator", lambda: _answers(f"http://{HOST}:{simulator_port}/_sim/"))

    def start(self, name, args, env):
        self.stdout.write(f"Starting the {name}…")
        self.children.append((name, processes.start(args, env)))

    def check_children(self):
        for name, process in self.children:
            if process.poll() is not None:
                raise CommandError(f"The {name} stopped unexpectedly (exit code {process.returncode}).")

    def wait_until(self, name, ready):
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            self.check_children()
            if time.monotonic() > deadline:
                raise CommandError(f"The {name} did not answer within {START_TIMEOUT} s.")
            time.sleep(0.2)

    def stop_children(self):
        # A second Ctrl-C must not cut the clean stop short and leave children behind.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        for _name, process in self.children:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for name, process in reversed(self.children):
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.stderr.write(f"The {name} did not stop within {STOP_TIMEOUT} s; killing it.")
            try:  # whatever is left of its process group
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def point_at(site_url: str, simulator_url: str | None) -> dict[str, str]:
    """Point this process at the demo's site and, if given, its simulator instead of Meta, and
    return the environment that does the same for the web server and the worker. This process
    needs it too: it connects the Pages (their Get Started buttons) and seeds the people, and on
    ports other than the defaults it would otherwise talk to a simulator that is not there."""
    onesend = {"PUBLIC_BASE_URL": site_url}
    env = {"WAGTAILADMIN_BASE_URL": site_url}
    if simulator_url:
        meta = {
            "GRAPH_API_BASE_URL": simulator_url,
            "MME_BASE_URL": f"{simulator_url}/m.me",
            "OAUTH_DIALOG_BASE_URL": simulator_url,
        }
        onesend |= meta
        env |= {f"ONESEND_{name}": url for name, url in meta.items()}
    settings.WAGTAILADMIN_BASE_URL = site_url
    settings.ONESEND = {**settings.ONESEND, **onesend}
    return env


def time_scaled(time_scale: float) -> dict[str, str]:
    """The environment that has the web server and the worker run an A/B test's hours divided
    by the time scale, as the seeded flows' delays are: a test can be watched to its winner."""
    return {"ONESEND_AB_TEST_HOUR_SECONDS": f"{3600 / time_scale:g}"}


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _ensure_port_free(port):
    """Refuse to start next to another server: polling would take its answers for ours."""
    with socket.socket() as sock:
        if sock.connect_ex((HOST, port)) == 0:
            holder = processes.port_holder(port) or "another program"
            raise CommandError(
                f"Port {port} on {HOST} is in use by {holder}; stop it or pick another port "
                "(--port, --simulator-port)."
            )


def _answers(url):
    try:
        return requests.get(url, timeout=2, allow_redirects=False).status_code < 500
    except requests.RequestException:
        return False


def _banner(site_url: str, simulator_url: str | None) -> str:
    """What the demo prints once it runs: where to go and how to sign in."""
    return (
        f"\nThe demo is running.\n"
        f"  Site:       {site_url}/\n"
        f"  Admin:      {site_url}/admin/  (login {demo.ADMIN_USERNAME} / {demo.ADMIN_PASSWORD})\n"
        f"  Client:     {demo.CLIENT_USERNAME} / {demo.CLIENT_PASSWORD} sees only {demo.SECOND_CLIENT['name']}; "
        f"agency overview at {site_url}/admin/messenger/agency/\n"
        f"  Per person: {demo.US_CLIENT['name']} (US) sends free in the 24 h window, else through Meta's "
        f"paid Marketing Messages API, ad account {demo.US_PAGE['ad_account_id']} in "
        f"{demo.US_PAGE['ad_account_currency']}\n"
        + (f"  Simulator:  {simulator_url}/_sim/\n" if simulator_url else "")
        + "Press Ctrl-C to stop."
    )
