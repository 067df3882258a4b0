import json
import os

import pytest
from django.utils import timezone

from onesend_plugin.accounts import get_started
from onesend_plugin.inbox import drain, storage
from onesend_plugin.messenger import signature
from onesend_plugin.models import Channel, MessengerPage, PaidLoginFlow
from onesend_plugin.testing.pytest_plugin import let_webhooks_land

from .factories import MessengerPageFactory, MetaAppFactory

# Playwright's sync API runs an event loop in the test thread; Django must still allow ORM calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# The simulator fixtures (simulator, simulator_server, simulator_subscribers…) come from the
# onesend-simulator distribution's pytest plugin.
pytest_plugins = [
    "tests.fixtures.agency",
    "tests.fixtures.broadcast",
    "tests.fixtures.campaign_admin",
    "tests.fixtures.browser",
    "tests.fixtures.databases",
    "tests.fixtures.tenants",
]


@pytest.hookimpl(tryfirst=True)  # before pytest-django's: its order (transactional tests last) stays
def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` first (of those in their database's group), so that pytest-xdist's
    workers do not end with one of them alone for its last half minute. On an engine other than
    SQLite, only the tests that use a database run: the others (Meta's wire format, the
    simulator, checks, the install and demo scripts, which make databases of their own) give the
    same result on every engine, and the SQLite suite runs them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: the rest keep their order
    if not os.environ.get("DATABASE_URL"):
        return
    kept, engine_free = [], []
    for item in items:
        (kept if _uses_database(item) else engine_free).append(item)
    if engine_free:
        config.hook.pytest_deselected(items=engine_free)
        items[:] = kept


def _uses_database(item) -> bool:
    return bool(item.get_closest_marker("django_db")) or bool(
        {"_django_db_helper", "django_db_setup"} & set(item.fixturenames)
    )


@pytest.fixture(autouse=True)
def _forget_webhook_memos():
    """The webhook endpoint's per-process memos (app secrets, a drain's flag seen) would outlive
    a test's rolled-back apps and its Redis keys."""
    storage._apps.clear()
    drain._flag_trusted_until = 0.0


@pytest.fixture(autouse=True)
def _webhooks_land_before_the_flush(request):
    """A test whose simulator posts webhooks to the live server ends once they are answered (the
    database flush comes after this teardown): the site still writing while PostgreSQL truncates
    its tables deadlocks the flush, and a request still running between two tests finds database
    access blocked. The session's server, not ``simulator``: that one is torn down already, and
    asking for it again would reset the simulator."""
    yield
    if {"simulator", "live_server"} <= set(request.fixturenames):
        let_webhooks_land(request.getfixturevalue("simulator_server"))


@pytest.fixture
def meta_app(db):
    return MetaAppFactory()


@pytest.fixture
def page(meta_app):
    return MessengerPageFactory(app=meta_app)


@pytest.fixture
def post_webhook(client, django_capture_on_commit_callbacks):
    """POST a webhook body to the app's endpoint, signed with its secret unless told otherwise.
    Work deferred to transaction commit (the processing task) runs before it returns."""

    def post(app, payload, *, secret=None, headers=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sig = {"HTTP_X_HUB_SIGNATURE_256": signature.sign(body, secret or app.app_secret)}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/onesend/webhook/{app.app_id}/",
                data=body,
                content_type="application/json",
                **(sig if headers is None else headers),
            )

    return post


@pytest.fixture
def register_plugin(onesend_register):
    """Register plugin objects for one test (the test kit's ``onesend_register``)."""
    return onesend_register


@pytest.fixture
def sent(monkeypatch):
    """Messages to people queued by subscribing and unsubscribing (instead of sent over HTTP):
    ``(task name, arguments)``. Asking Meta for a new subscriber's profile is no message: it is
    neither run nor listed."""
    from onesend_plugin.subscribe import subscriptions

    queued = []

    def queue(name, *args):
        if not name.endswith(".ask_profile"):
            queued.append((name.split(".")[-1], args))

    monkeypatch.setattr(subscriptions, "async_task", queue)
    return queued


@pytest.fixture
def connected_page(onesend_page):
    """A Page connected end to end (the test kit's ``onesend_page``): the site talks to the
    simulator's Graph API and m.me, and the simulator delivers signed webhooks to the live test
    server."""
    return onesend_page


@pytest.fixture
def make_subscribers(simulator_subscribers):
    """``make_subscribers(page, n)``: n people who really subscribed in the simulator (they opened
    the Page's link and accepted the opt-in request our client sent, so Meta holds their tokens),
    with the matching Subscriber and MarketingToken rows."""
    from onesend_plugin.meta import client_for
    from onesend_plugin.models import MarketingToken, Subscriber

    def make(page, n, **fields):
        client = client_for(page)

        def send_optin(psid):
            client.send_optin_request(psid=psid, title=page.optin_title, payload="-")

        people = []
        for person in simulator_subscribers(page.page_id, n, send_optin=send_optin):
            subscriber = Subscriber.objects.create(
                page=page,
                psid=person["psid"],
                status=Subscriber.Status.SUBSCRIBED,
                opted_in_at=timezone.now(),
                **fields,
            )
            MarketingToken.objects.create(
                subscriber=subscriber, token=person["token"], topic=page.optin_title
            )
            people.append(subscriber)
        return people

    return make


@pytest.fixture
def sim_page(simulator, settings, db):
    """A Page the site reaches through the simulator's Graph API (no webhooks back), with the Get
    Started button a connection gives it."""
    settings.ONESEND = {**settings.ONESEND, "GRAPH_API_BASE_URL": simulator.base_url}
    page = MessengerPageFactory()
    simulator.create_page(
        page_id=page.page_id, name=page.name, username=page.username, access_token=page.access_token
    )
    assert get_started.ensure(page) == (True, "")
    return page


#: The ad account of ``paid_page``.
AD_ACCOUNT = "act_4242"


@pytest.fixture
def paid_page(sim_page, simulator):
    """``sim_page`` on the paid Marketing Messages API, its ad account connected."""
    return connect_paid(simulator, sim_page)


def connect_paid(simulator, page, ad_account=AD_ACCOUNT):
    """Move ``page`` to the paid Marketing Messages API with its ad account connected: the
    business's system-user token (as Facebook Login for Business gives it) stored for the paid
    calls, the ad account known to the simulator."""
    simulator.create_ad_account(account_id=ad_account, name="Paid ads")
    issued = simulator.create_business_token(
        flow="business", page_ids=[page.page_id], ad_account_ids=[ad_account]
    )
    MessengerPage.objects.filter(pk=page.pk).update(
        channel=Channel.MARKETING_API,
        ad_account_id=ad_account,
        paid_access_token=issued["token"],
        paid_token_flow=PaidLoginFlow.BUSINESS,
    )
    page.refresh_from_db()
    return page
