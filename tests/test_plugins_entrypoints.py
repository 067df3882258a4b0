"""Third-party plugins installed as packages: found through the ``onesend`` entry-point group
(never registered by hand), called by store event processing, reported when broken, blocked by
``DISABLED_PLUGINS``. Also: the example plugins of docs/plugins.md run as documented, and the
example shop's plugin, cart and demo flows work together."""

import hashlib
import hmac
import importlib.util
import json
import re
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

import onesend_plugin.hooks
from example_site.home import demo
from onesend_plugin import broadcast, checks, store
from onesend_plugin.apps import BUILTIN_PLUGINS
from onesend_plugin.broadcast import recipients
from onesend_plugin.hooks.manager import Plugins
from onesend_plugin.models import Campaign, Delivery, StoreEvent
from onesend_plugin.store.views import sign
from onesend_plugin.subscribe import refs

from . import payloads
from .factories import CampaignFactory, MarketingTokenFactory, MessengerPageFactory, SubscriberFactory

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

ACME_PLUGIN = """
from onesend_plugin.hooks import hookimpl
from onesend_plugin.models import Subscriber

calls = []


@hookimpl
def trigger_types():
    return [("points_earned", "Loyalty points earned")]


@hookimpl
def resolve_subscriber(account, customer_ref):
    # The loyalty app knows people by their Messenger id: "psid:<id>".
    calls.append(customer_ref)
    if customer_ref.startswith("psid:"):
        return Subscriber.objects.filter(page__account=account, psid=customer_ref[5:]).first()
    return None
"""


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install(dist, module, source, entry_point)``: an installed distribution, the way pip
    leaves one in site-packages (``<dist>-1.0.dist-info`` with ``METADATA`` and
    ``entry_points.txt``, next to its module), in a directory of its own put first on sys.path."""
    modules = []

    def install(dist, module, source, entry_point):
        site = tmp_path / dist
        info = site / f"{dist}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[onesend]\n{entry_point} = {module}\n")
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(site))
        modules.append(module)

    yield install
    for module in modules:
        sys.modules.pop(module, None)


@pytest.fixture
def acme(install):
    install("acme_onesend", "acme_onesend_plugin", ACME_PLUGIN, "acme")


def loaded(settings, *, disabled=(), **onesend) -> Plugins:
    """A fresh manager loaded the way the site loads its own at start-up; ``disabled`` adds to
    the suite's ``DISABLED_PLUGINS``."""
    blocked = [*settings.ONESEND["DISABLED_PLUGINS"], *disabled]
    settings.ONESEND = {**settings.ONESEND, "LOAD_ENTRYPOINTS": True, "DISABLED_PLUGINS": blocked, **onesend}
    manager = Plugins()
    manager.load(BUILTIN_PLUGINS)
    return manager


# -- Discovery through the entry point ------------------------------------------------------------


def test_an_installed_plugin_is_found_through_its_entry_point(settings, acme):
    manager = loaded(settings)
    assert manager.load_errors == []
    plugin = manager.manager.get_plugin("acme")
    assert plugin is sys.modules["acme_onesend_plugin"]
    # onesend's own implementations and the site's plugins are there too
    assert manager.manager.has_plugin("onesend_plugin.store.builtin")
    assert manager.manager.has_plugin("example_site.shop.onesend_hooks")


def test_its_trigger_type_is_offered_to_flows(settings, acme, monkeypatch):
    manager = loaded(settings)
    assert [("points_earned", "Loyalty points earned")] in manager.trigger_types()
    monkeypatch.setattr(store.flows, "plugins", manager)
    assert store.trigger_types() == [*store.BUILTIN_TRIGGERS, ("points_earned", "Loyalty points earned")]


def test_resolve_subscriber_first_result_wins_over_the_identity_link(settings, acme, monkeypatch, db):
    manager = loaded(settings)
    monkeypatch.setattr(store.tracking, "plugins", manager)
    page = MessengerPageFactory()
    linked = SubscriberFactory(page=page, customer_ref="psid:2000")  # linked at opt-in
    found_by_plugin = SubscriberFactory(page=page, psid="2000")
    ann = SubscriberFactory(page=page, customer_ref="ann")

    # The plugin answers: its subscriber wins over the identity link for the same reference.
    assert store.resolve_subscribers(page.account, "psid:2000") == [found_by_plugin]
    assert linked not in store.resolve_subscribers(page.account, "psid:2000")
    # The plugin returns None: onesend falls back to the link made at opt-in.
    assert store.resolve_subscribers(page.account, "ann") == [ann]
    assert sys.modules["acme_onesend_plugin"].calls == ["psid:2000", "psid:2000", "ann"]


def test_the_plugins_event_and_lookup_drive_a_flow(
    settings, acme, monkeypatch, db, django_capture_on_commit_callbacks
):
    manager = loaded(settings)
    monkeypatch.setattr(store.tracking, "plugins", manager)
    page = MessengerPageFactory()
    person = SubscriberFactory(page=page, psid="2001")
    thanks = CampaignFactory(
        page=page,
        trigger_event="points_earned",
        trigger_conditions=[{"property": "points", "op": ">=", "value": 100}],
        text="You earned a reward!",
    )
    broadcast.start(thanks)
    with django_capture_on_commit_callbacks(execute=True):
        for key, points in (("p-1", 20), ("p-2", 150), ("p-2", 150)):  # a retry of p-2
            manager.customer_event(
                name="points_earned",
                customer_ref="psid:2001",
                properties={"points": points},
                idempotency_key=key,
            )
    assert StoreEvent.objects.filter(state=StoreEvent.State.PROCESSED).count() == 2
    [row] = Delivery.objects.filter(campaign=thanks)
    assert (row.subscriber, row.trigger_key, row.state) == (person, "p-2", Delivery.State.PENDING)


def test_exit_events_stop_a_reminder_for_a_person_the_plugin_found(
    settings, acme, monkeypatch, db, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(store.tracking, "plugins", loaded(settings))
    page = MessengerPageFactory()
    SubscriberFactory(page=page, psid="2002")  # not linked at opt-in: only the plugin knows them
    reminder = CampaignFactory(
        page=page, trigger_event="cart_abandoned", delay_minutes=60, exit_events="order_placed"
    )
    broadcast.start(reminder)
    with django_capture_on_commit_callbacks(execute=True):
        store.track("cart_abandoned", customer_ref="psid:2002", idempotency_key="cart:1")
        store.track(
            "order_placed",
            customer_ref="psid:2002",
            idempotency_key="order:1",
            at=timezone.now() + timedelta(minutes=5),
        )
    assert recipients.exited(reminder, reminder.deliveries.get())


# -- Broken and disabled plugins ------------------------------------------------------------------

BROKEN_PLUGIN = 'raise ImportError("acme_broken needs libacme, which is not installed")\n'


@pytest.mark.django_db  # Django 6 runs the database checks too
def test_a_broken_entry_point_is_recorded_and_reported_by_the_system_check(settings, install, monkeypatch):
    install("acme_broken", "acme_broken_plugin", BROKEN_PLUGIN, "broken")
    manager = loaded(settings)  # does not raise: one broken plugin must not take the site down
    assert len(manager.load_errors) == 1
    assert "libacme" in manager.load_errors[0]
    assert manager.manager.has_plugin("onesend_plugin.store.builtin")

    monkeypatch.setattr(onesend_plugin.hooks, "plugins", manager)
    [error] = checks.check_plugins()
    assert error.id == "onesend.E005" and "libacme" in error.msg
    with pytest.raises(SystemCheckError, match=r"onesend\.E005"):
        call_command("check")


def test_a_broken_entry_point_does_not_stop_the_others(settings, install):
    install("acme_onesend", "acme_onesend_plugin", ACME_PLUGIN, "acme")
    install("acme_broken", "acme_broken_plugin", BROKEN_PLUGIN, "broken")  # first on sys.path
    manager = loaded(settings)
    assert len(manager.load_errors) == 1
    assert manager.manager.has_plugin("acme")


def test_disabled_plugins_block_an_entry_point_by_its_name(settings, acme):
    manager = loaded(settings, disabled=["acme"])
    assert not manager.manager.has_plugin("acme") and manager.manager.is_blocked("acme")
    assert "acme_onesend_plugin" not in sys.modules  # not even imported
    assert [("points_earned", "Loyalty points earned")] not in manager.trigger_types()


def test_disabling_a_broken_entry_point_silences_it(settings, install):
    install("acme_broken", "acme_broken_plugin", BROKEN_PLUGIN, "broken")
    assert loaded(settings, disabled=["broken"]).load_errors == []


def test_entry_points_can_be_switched_off(settings, acme):
    manager = loaded(settings, LOAD_ENTRYPOINTS=False)
    assert not manager.manager.has_plugin("acme")


# -- The examples of docs/plugins.md --------------------------------------------------------------


def load_example(name):
    """Import ``docs/examples/<name>.py`` and check docs/plugins.md shows it verbatim."""
    path = DOCS / "examples" / f"{name}.py"
    source = path.read_text()
    assert source in (DOCS / "plugins.md").read_text(), f"docs/plugins.md no longer shows {path.name}"
    spec = importlib.util.spec_from_file_location(f"onesend_docs_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_review_plugin_adds_a_trigger_that_starts_flows(
    register_plugin, db, django_capture_on_commit_callbacks
):
    example = register_plugin(load_example("review_plugin"))
    assert ("review_posted", "Review posted") in store.trigger_types()
    page = MessengerPageFactory()
    ann = SubscriberFactory(page=page, customer_ref="ann")
    ask_more = CampaignFactory(
        page=page,
        trigger_event="review_posted",
        trigger_conditions=[{"property": "rating", "op": ">=", "value": 4}],
        text="Thanks for your review! Here is 10 % off your next order.",
    )
    broadcast.start(ask_more)
    with django_capture_on_commit_callbacks(execute=True):
        example.review_posted(SimpleNamespace(pk=7, customer_ref="ann", product_slug="anvil", rating=5))
        example.review_posted(SimpleNamespace(pk=7, customer_ref="ann", product_slug="anvil", rating=5))
        example.review_posted(SimpleNamespace(pk=8, customer_ref="ann", product_slug="anvil", rating=2))
    assert set(StoreEvent.objects.values_list("name", "idempotency_key")) == {
        ("review_posted", "review:7"),
        ("review_posted", "review:8"),
    }
    [row] = ask_more.deliveries.all()
    assert (row.subscriber, row.trigger_key) == (ann, "review:7")


def test_the_documented_signature_scheme_is_what_the_endpoint_accepts(
    client, db, django_capture_on_commit_callbacks
):
    account = MessengerPageFactory().account
    body = json.dumps(
        {
            "event": "order_placed",
            "customer_ref": "c-42",
            "properties": {"order_id": "1001", "value": "59.90"},
        }
    ).encode()

    def post(t, key="order:1001"):
        v1 = hmac.new(account.events_secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        assert f"t={t},v1={v1}" == sign(body, account.events_secret, t)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/onesend/events/{account.slug}/",
                data=body,
                content_type="application/json",
                headers={"X-Onesend-Signature": f"t={t},v1={v1}", "Idempotency-Key": key},
            )

    now = int(time.time())
    first = post(now)
    assert first.status_code == 200 and first.json()["event"] == "order_placed"
    assert post(now - 250).json()["id"] == first.json()["id"]  # same key: the same event
    assert post(now - 301).status_code == 403  # outside the 300 s tolerance
    assert StoreEvent.objects.get().idempotency_key == "order:1001"


def test_the_docs_name_every_hook():
    doc = (DOCS / "plugins.md").read_text()
    hooks = re.findall(r"^def (\w+)\(", (ROOT / "onesend_plugin/hooks/specs.py").read_text(), re.M)
    assert len(hooks) >= 13
    assert [hook for hook in hooks if f"`{hook}" not in doc] == []


# -- The example shop: its plugin, its cart and the demo's flows ----------------------------------


@pytest.fixture
def demo_shop(db, settings, simulator, make_subscribers):
    """The demo seeded in the test database, its Page in the simulator, and Ann: subscribed
    through the real opt-in, linked to the shop customer ``ann``."""
    settings.ONESEND = {**settings.ONESEND, "GRAPH_API_BASE_URL": simulator.base_url}
    page = demo.seed()
    simulator.create_page(
        page_id=page.page_id, name=page.name, username=page.username, access_token=page.access_token
    )
    [ann] = make_subscribers(page, 1, customer_ref="ann")
    return SimpleNamespace(page=page, ann=ann)


def test_demo_flows_are_seeded_live_active_and_time_scaled(db):
    page = demo.ensure_messenger_page()
    lines = demo.seed_flows(page, shop_url="http://127.0.0.1:8000/shop/", time_scale=1440)
    flows = {flow.trigger_event: flow for flow in Campaign.objects.filter(page=page)}
    thanks, reminder = flows["order_placed"], flows["cart_abandoned"]
    assert (thanks.delay_minutes, reminder.delay_minutes) == (3, 1)
    assert reminder.exit_events == "order_placed"
    assert all(flow.live and flow.status == Campaign.Status.RUNNING for flow in flows.values())
    assert [b.url for b in thanks.buttons.all()] == ["http://127.0.0.1:8000/shop/"]
    assert lines == [
        "'Thank you + 10 % off next order' on order_placed: 3 days after the event, shown as 3 min "
        "at time scale 1440 [sending]",
        "'You left something in your cart' on cart_abandoned: 60 min after the event, shown as 1 min "
        "(the minimum) at time scale 1440, cancelled by order_placed [sending]",
    ]

    demo.seed_flows(page, shop_url="http://127.0.0.1:8000/shop/")  # next run, real time
    assert Campaign.objects.filter(page=page).count() == 2
    assert sorted(Campaign.objects.values_list("delay_minutes", flat=True)) == [60, 3 * 24 * 60]


def test_buying_after_leaving_the_cart_thanks_and_cancels_the_reminder(
    demo_shop, client, simulator, time_machine, django_capture_on_commit_callbacks
):
    demo.seed_flows(demo_shop.page, shop_url="http://testserver/shop/", time_scale=1440)
    thanks = Campaign.objects.get(trigger_event="order_placed")
    reminder = Campaign.objects.get(trigger_event="cart_abandoned")
    client.get("/shop/?customer=ann")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/shop/anvil/add/", {"quantity": 2})
        assert client.post("/shop/cart/leave/").status_code == 302
    cart_row = reminder.deliveries.get()
    assert cart_row.subscriber == demo_shop.ann
    left = StoreEvent.objects.get(name="cart_abandoned")
    assert left.properties["value"] == "98.00" and left.properties["items"] == ["anvil"]

    time_machine.move_to(timezone.now() + timedelta(seconds=20))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/shop/cart/checkout/", {"email": ""})
    assert response.status_code == 302
    thanks_row = thanks.deliveries.get()
    assert thanks_row.not_before - timezone.now() > timedelta(minutes=2)

    time_machine.move_to(timezone.now() + timedelta(minutes=3, seconds=30))
    broadcast.run(reminder.pk)
    broadcast.run(thanks.pk)
    cart_row.refresh_from_db()
    thanks_row.refresh_from_db()
    assert (cart_row.state, cart_row.reason) == (Delivery.State.SKIPPED, "exited")
    assert thanks_row.state == Delivery.State.SENT
    [sent] = [m for m in simulator.messages(demo_shop.page.page_id) if m["type"] != "optin"]
    assert sent["psid"] == demo_shop.ann.psid
    assert "THANKS10" in str(sent)


def test_the_subscribe_block_carries_the_shop_customer(db, client):
    page = demo.seed()
    response = client.get("/messenger-updates/?customer=ann")
    [token] = re.findall(r'href="/onesend/s/([^/"]+)/"', response.content.decode())
    target = client.get(f"/onesend/s/{token}/")["Location"]
    ref = refs.decode(target.split("ref=", 1)[1])
    assert (ref.source, ref.customer_ref, ref.verified) == ("updates-page", "ann", True)
    assert page.username in target


def test_a_subscribed_person_opening_the_shop_link_again_is_linked(page, post_webhook):
    seeded = SubscriberFactory(page=page, source_ref="demo-seed")
    MarketingTokenFactory(subscriber=seeded)  # subscribed already: no new opt-in request
    other = SubscriberFactory(page=page, customer_ref="ben")
    MarketingTokenFactory(subscriber=other)
    for ref in (refs.encode("updates-page", (), "ann"), "forged-ref"):
        post_webhook(
            page.app,
            payloads.body(payloads.entry(page.page_id, payloads.referral(page.page_id, seeded.psid, ref))),
        )
    post_webhook(
        page.app,
        payloads.body(
            payloads.entry(page.page_id, payloads.referral(page.page_id, other.psid, refs.encode("footer")))
        ),
    )
    seeded.refresh_from_db()
    other.refresh_from_db()
    assert seeded.customer_ref == "ann"  # a forged ref changed nothing afterwards
    assert other.customer_ref == "ben"  # a link without a customer leaves the link alone
