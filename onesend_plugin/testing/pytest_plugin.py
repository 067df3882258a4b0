"""pytest plugin (entry point ``pytest11``, name ``onesend``): run a onesend plugin's hooks in a
real broadcast against the Graph API simulator, the way a site runs them.

Every fixture is prefixed ``onesend_`` so it never shadows a project's own, and none is autouse:
a project that has onesend installed but doesn't use them is not affected. They need
pytest-django and onesend-simulator (whose own fixtures, ``simulator`` and friends, they build on).

* ``onesend_account``: an ``Account`` (store events need one).
* ``onesend_page``: a ``MessengerPage`` of that account, connected end to end: onesend talks to
  the simulator's Graph API and m.me, and the simulator delivers signed webhooks to a live server;
  its connection is checked (which gives it its Get Started button).
* ``onesend_subscribe(customer_ref="", tags=(), source="test")``: a new person who opens the Page's
  link and accepts the opt-in request, as in Messenger; returns their ``Subscriber``.
* ``onesend_register(plugin, name=None)``: register a plugin object for one test (named after
  its module or class unless ``name`` is given).
* ``onesend_send(text, buttons=(), **campaign_fields)``: compose a campaign, send it and return
  a ``Sent``: each person's ``Outcome`` and thread (what the simulator received for them).
* ``onesend_track(name, customer_ref=..., properties=None, idempotency_key=None)``: report a store
  event and process it (listeners included); returns the ``StoreEvent``.
* ``onesend_post(url, payload, secret=None)``: POST JSON signed as ``signed_request`` expects,
  the work it queues done before it returns; returns the response.

Everything waits on conditions, never on sleeps. Django is imported inside the fixtures: pytest
loads this module before Django is set up.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

if TYPE_CHECKING:
    from onesend_simulator.remote import SimulatorRemote

    from onesend_plugin.models import Account, Campaign, MessengerPage, StoreEvent, Subscriber

__all__ = ["Outcome", "Sent", "let_webhooks_land"]

_numbers = itertools.count(1)
WAIT_SECONDS = 30.0  # a broadcast to a handful of people takes well under a second
#: Campaign fields that hold comma-separated names.
LIST_FIELDS = {"include_tags", "exclude_tags", "include_refs", "exclude_refs"}


class Outcome(NamedTuple):
    """One recipient's ledger row once the campaign is done: e.g. ``("sent", "", "")``,
    ``("skipped", "vetoed", "")`` or ``("failed", "plugin_error", "The plugin 'x' failed…")``."""

    state: str
    reason: str = ""
    error: str = ""


@dataclass
class Sent:
    """A sent campaign and what it did, keyed by each person's PSID (``subscriber.psid``)."""

    campaign: Campaign
    outcomes: dict[str, Outcome]
    threads: dict[str, list[dict[str, Any]]]  # the messages of this campaign each person received


@pytest.fixture
def onesend_account(db: None) -> Account:
    from onesend_plugin.models import Account

    number = next(_numbers)
    return Account.objects.create(name=f"Shop {number}", slug=f"shop-{number}")


@pytest.fixture
def onesend_page(
    onesend_account: Account, live_server: Any, simulator: SimulatorRemote, settings: Any
) -> Iterator[MessengerPage]:
    from onesend_plugin.accounts import onboarding
    from onesend_plugin.models import MessengerPage, MetaApp

    settings.ONESEND = {
        **getattr(settings, "ONESEND", {}),
        "GRAPH_API_BASE_URL": simulator.base_url,
        "MME_BASE_URL": f"{simulator.base_url}/m.me",
    }
    number = next(_numbers)
    app = MetaApp.objects.create(
        name="Test app", app_id=f"{880000000000 + number}", app_secret="app-secret", verify_token="verify"
    )
    page = MessengerPage.objects.create(
        account=onesend_account,
        app=app,
        page_id=f"{1000000000000 + number}",
        name=f"Shop page {number}",
        username=f"shoppage{number}",
        access_token=f"page-token-{number}",
        welcome_message="Welcome! Deals are on their way.",
    )
    simulator.create_page(
        page_id=page.page_id,
        name=page.name,
        username=page.username,
        access_token=page.access_token,
        app_id=app.app_id,
    )
    simulator.configure(
        webhook_url=f"{live_server.url}/onesend/webhook/{app.app_id}/",
        app_secret=app.app_secret,
        verify_token=app.verify_token,
    )
    # The connection check, as connecting a Page runs it: it also gives the Page its Get Started
    # button, without which a new person's link click never reaches the site.
    onboarding.check_health(page)
    yield page
    let_webhooks_land(simulator)


def let_webhooks_land(simulator: SimulatorRemote) -> None:
    """Give the receipts a test set off time to be written before its database is flushed: the site
    still writing them while PostgreSQL truncates the tables deadlocks the flush. A test that
    broke webhook delivery on purpose is held a few seconds at most."""
    try:
        simulator.wait_webhooks_drained(timeout=5)
    except TimeoutError:
        pass


@pytest.fixture
def onesend_subscribe(onesend_page: MessengerPage, simulator: SimulatorRemote) -> Callable[..., Subscriber]:
    """Through the real opt-in flow, so ``subscriber_opted_in`` plugins run and the subscriber is
    linked to ``customer_ref`` exactly as a signed subscribe button would link them."""
    from onesend_simulator.remote import wait_for

    from onesend_plugin.models import Subscriber
    from onesend_plugin.subscribe import refs

    def subscribe(customer_ref: str = "", tags: Iterable[str] = (), source: str = "test") -> Subscriber:
        psid = simulator.create_person(onesend_page.page_id)["psid"]
        simulator.open_link(psid, ref=refs.encode(source, tuple(tags), customer_ref))
        wait_for(
            lambda: any(item["type"] == "optin" for item in simulator.person(psid)["thread"]),
            timeout=WAIT_SECONDS,
            what="the opt-in request",
        )
        simulator.accept_optin(psid)
        subscriber = wait_for(
            lambda: Subscriber.objects.filter(page=onesend_page, psid=psid, status="subscribed").first(),
            timeout=WAIT_SECONDS,
            what="the subscription",
        )
        simulator.wait_webhooks_drained(timeout=WAIT_SECONDS)  # the welcome and the plugins are done
        return subscriber

    return subscribe


@pytest.fixture
def onesend_register() -> Iterator[Callable[..., Any]]:
    """For a plugin that only some tests use (a broken variant, a spy): it is unregistered after
    the test, so it can't leak into the next one."""
    from onesend_plugin.hooks import plugins

    names: list[str] = []

    def register(plugin: Any, name: str | None = None) -> Any:
        # pluggy would name it by its id(): errors would say "The plugin '1400519…' failed".
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if plugins.manager.has_plugin(name):
            name = f"{name}#{len(names) + 1}"
        names.append(plugins.manager.register(plugin, name=name))
        return plugin

    yield register
    for name in names:
        plugins.manager.unregister(name=name)


@pytest.fixture
def onesend_send(onesend_page: MessengerPage, simulator: SimulatorRemote) -> Callable[..., Sent]:
    """Every campaign field works as a keyword (``include_tags``, ``exclude_refs``, a segment…);
    the campaign is published and started the way the editor's "Send now" does it."""
    from onesend_simulator.remote import wait_for

    from onesend_plugin import broadcast
    from onesend_plugin.models import Campaign, CampaignButton

    def send(
        text: str = "Summer sale: 30 % off today", buttons: Iterable[tuple[str, str]] = (), **fields: Any
    ):
        fields.setdefault("name", f"Campaign {next(_numbers)}")
        for field in LIST_FIELDS & fields.keys():  # a list reads as the editor's "a, b"
            if not isinstance(fields[field], str):
                fields[field] = ", ".join(fields[field])
        campaign = Campaign.objects.create(page=onesend_page, text=text, live=True, **fields)
        for title, url in buttons:
            CampaignButton.objects.create(campaign=campaign, title=title, url=url)
        seen = len(simulator.messages(onesend_page.page_id))
        broadcast.start(campaign)  # a CampaignError (e.g. a failing audience_filter) goes to the test
        done = (Campaign.Status.FINISHED, Campaign.Status.PAUSED, Campaign.Status.CANCELLED)
        wait_for(
            lambda: Campaign.objects.filter(pk=campaign.pk, status__in=done).exists(),
            timeout=WAIT_SECONDS,
            what="the campaign to finish",
        )
        # The simulator's delivery receipts reach the site on their own; once they are processed,
        # nothing is still writing when the test asserts or its database is flushed.
        simulator.wait_webhooks_drained(timeout=WAIT_SECONDS)
        campaign.refresh_from_db()
        threads: dict[str, list[dict[str, Any]]] = {}
        for message in simulator.messages(onesend_page.page_id)[seen:]:
            threads.setdefault(message["psid"], []).append(message)
        outcomes = {row.psid: Outcome(row.state, row.reason, row.error) for row in campaign.deliveries.all()}
        return Sent(campaign, outcomes, threads)

    return send


@pytest.fixture
def onesend_track(
    onesend_account: Account, django_capture_on_commit_callbacks: Any
) -> Callable[..., StoreEvent]:
    """Processing and the listeners run after commit; they have run when this returns, in a
    test with or without a live server."""
    import onesend_plugin

    def track(
        name: str,
        *,
        customer_ref: str,
        properties: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> StoreEvent:
        with django_capture_on_commit_callbacks(execute=True):
            event = onesend_plugin.track(
                name,
                customer_ref=customer_ref,
                properties=properties,
                account=onesend_account,
                idempotency_key=idempotency_key,
            )
        event.refresh_from_db()
        return event

    return track


@pytest.fixture
def onesend_post(
    onesend_account: Account, client: Any, django_capture_on_commit_callbacks: Any
) -> Callable[..., Any]:
    """What a shop's server does to a view guarded by ``signed_request`` (or to onesend's event
    endpoint): the JSON body signed with the account's events secret (or ``secret``, to test a
    forgery). Processing runs after commit; it has run when this returns, with or without a
    live server."""
    import json

    from onesend_plugin.store import sign

    def post(url: str, payload: Any, secret: str | None = None) -> Any:
        body = json.dumps(payload).encode()
        signature = sign(body, onesend_account.events_secret if secret is None else secret)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                url, data=body, content_type="application/json", headers={"X-Onesend-Signature": signature}
            )

    return post
