"""A plugin's own views (``register_urls``): mounted under ``/onesend/plugins/<plugin name>/``,
reversed as ``onesend:plugins:<plugin name>:<url name>``, protected by the signed-request check
of onesend's own event endpoint (``onesend_plugin.store.signed_request``). A plugin that breaks
there is reported like one that failed to load, and the site still serves. The plugin used is
the example plugin package's order receiver, which docs/plugins.md shows, listed by dotted path
(its entry point is disabled in this suite)."""

import importlib
import json

import pytest
from django.conf import settings as django_settings
from django.urls import clear_url_caches, reverse

import onesend_plugin.hooks
import onesend_plugin.urls
from onesend_plugin import checks
from onesend_plugin.models import Conversion, StoreEvent
from onesend_plugin.store import sign

from .factories import AccountFactory
from .test_plugin_listing import run
from .test_plugins_entrypoints import install, loaded  # noqa: F401

pytestmark = pytest.mark.django_db

RECEIVER = "onesend_example_plugin.orders"
ORDER = {"id": 1001, "total": "59.90", "currency": "EUR", "customer_id": 42, "billing": {"first_name": "Ann"}}

RAISING_PLUGIN = """
from onesend_plugin.hooks import hookimpl


@hookimpl
def register_urls():
    raise RuntimeError("views module moved")
"""

GARBAGE_PLUGIN = """
from onesend_plugin.hooks import hookimpl


@hookimpl
def register_urls():
    return ["orders/"]
"""


def rebuild_urls() -> None:
    """Import the URLconfs again, as a start-up would, with the plugins of ``hooks.plugins``."""
    importlib.reload(onesend_plugin.urls)
    importlib.reload(importlib.import_module(django_settings.ROOT_URLCONF))
    clear_url_caches()


@pytest.fixture
def site(settings, monkeypatch):
    """``site(**onesend)``: the site as started with these ``ONESEND`` settings and the example
    order receiver listed in ``PLUGINS``: its plugins loaded, its URLs built from them."""

    def start(**onesend):
        manager = loaded(settings, PLUGINS=[*settings.ONESEND["PLUGINS"], RECEIVER], **onesend)
        monkeypatch.setattr(onesend_plugin.hooks, "plugins", manager)
        rebuild_urls()
        return manager

    yield start
    monkeypatch.undo()
    rebuild_urls()


@pytest.fixture
def acme():
    return AccountFactory(slug="acme")


def post_order(client, account, secret=None, order=ORDER, **headers):
    body = json.dumps(order).encode()
    signature = {"HTTP_X_ONESEND_SIGNATURE": sign(body, secret or account.events_secret), **headers}
    return client.post(
        reverse(f"onesend:plugins:{RECEIVER}:order_created", kwargs={"account_slug": account.slug}),
        data=body,
        content_type="application/json",
        **signature,
    )


def test_the_plugins_view_is_mounted_under_its_name(site, acme):
    site()
    url = reverse(f"onesend:plugins:{RECEIVER}:order_created", kwargs={"account_slug": "acme"})
    assert url == f"/onesend/plugins/{RECEIVER}/acme/orders/"


def test_a_signed_order_is_accepted_and_recorded(site, acme, client, django_capture_on_commit_callbacks):
    site()
    with django_capture_on_commit_callbacks(execute=True):
        answer = post_order(client, acme)
    assert (answer.status_code, answer.json()) == (200, {"received": 1001})
    event = StoreEvent.objects.get()
    assert (event.account, event.name, event.customer_ref, event.state) == (
        acme,
        "order_placed",
        "42",
        "processed",
    )
    conversion = Conversion.objects.get()
    assert (conversion.order_id, str(conversion.value), conversion.currency) == ("1001", "59.90", "EUR")


@pytest.mark.parametrize("forgery", ["unsigned", "other secret", "stale"])
def test_a_forged_or_unsigned_order_is_refused_before_the_view_runs(site, acme, client, forgery):
    site()
    body = json.dumps(ORDER).encode()
    headers = {
        "unsigned": {"HTTP_X_ONESEND_SIGNATURE": ""},
        "other secret": {"secret": "not-acme's"},
        "stale": {"HTTP_X_ONESEND_SIGNATURE": sign(body, acme.events_secret, timestamp=1_700_000_000)},
    }[forgery]
    answer = post_order(client, acme, **headers)
    assert (answer.status_code, answer.json()) == (403, {"error": "Invalid or expired signature."})
    assert not StoreEvent.objects.exists()


def test_an_unknown_account_or_a_get_is_refused(site, acme, client):
    site()
    assert post_order(client, AccountFactory.build(slug="nobody")).status_code == 404
    url = reverse(f"onesend:plugins:{RECEIVER}:order_created", kwargs={"account_slug": "acme"})
    assert client.get(url).status_code == 405


def test_a_signed_order_the_view_cannot_read_gets_its_error(site, acme, client):
    site()
    answer = post_order(client, acme, order={"id": 1002, "customer_id": 42})
    assert answer.status_code == 400 and "total" in answer.json()["error"]


def test_a_plugin_whose_urls_break_is_reported_and_the_site_still_serves(
    site,
    install,  # noqa: F811 (the fixture imported above)
    acme,
    client,
    django_capture_on_commit_callbacks,
):
    install("acme_raising", "acme_raising_plugin", RAISING_PLUGIN, "raising")
    install("acme_garbage", "acme_garbage_plugin", GARBAGE_PLUGIN, "garbage")
    manager = site()
    errors = sorted(manager.load_errors)
    assert errors == [
        "garbage: register_urls returned ['orders/'], not a list of URL patterns",
        "raising: register_urls raised RuntimeError('views module moved')",
    ]
    assert sorted(error.msg for error in checks.check_plugins() if error.id == "onesend.E005") == [
        f"A onesend plugin failed to load: {error}" for error in errors
    ]
    assert "views module moved" in run()[1]  # manage.py onesend_plugins

    with django_capture_on_commit_callbacks(execute=True):
        assert post_order(client, acme).status_code == 200  # the other plugins' views are served
    assert client.get("/onesend/plugins/raising/").status_code == 404
    body = json.dumps(
        {"event": "order_placed", "customer_ref": "c-9", "properties": {"order_id": "7"}}
    ).encode()
    answer = client.post(
        "/onesend/events/acme/",
        data=body,
        content_type="application/json",
        HTTP_X_ONESEND_SIGNATURE=sign(body, acme.events_secret),
    )
    assert answer.status_code == 200
