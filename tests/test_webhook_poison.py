"""One bad webhook must not stop the inbox: every poison delivery found by testing the demo as an
outsider would is reproduced here, each followed by an ordinary opt-out that must still be
processed. And a webhook signed by one Meta app is never processed for another app's Page.

The database matters (PostgreSQL refuses NUL in text and jsonb, and enforces column lengths):
the suite's PostgreSQL pass runs all of these, the last one only there."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from onesend_plugin import conf, safejson, tasks
from onesend_plugin.accounts.groups import ensure_client_group
from onesend_plugin.inbox import dispatch, drain, handlers
from onesend_plugin.messenger import events as meta_events
from onesend_plugin.messenger import signature
from onesend_plugin.models import Membership, Subscriber, WebhookDelivery, WebhookEvent

from . import payloads
from .factories import MarketingTokenFactory, MessengerPageFactory, MetaAppFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def opt_out(post_webhook, page):
    """POST an ordinary "STOP" from a subscribed person; returns a check that it was processed."""
    subscriber = SubscriberFactory(page=page, psid="4242")
    MarketingTokenFactory(subscriber=subscriber)

    def send_and_check() -> bool:
        body = payloads.one(page.page_id, payloads.message(page.page_id, "4242", "STOP"))
        assert post_webhook(page.app, body).status_code == 200
        subscriber.refresh_from_db()
        return subscriber.status == Subscriber.Status.UNSUBSCRIBED

    return send_and_check


def signed_post(client, app, body: bytes, **extra):
    return client.post(
        f"/onesend/webhook/{app.app_id}/",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature.sign(body, app.app_secret),
        **extra,
    )


# -- case 1: poison deliveries --------------------------------------------------------------------


def test_a_body_nested_100000_deep_is_kept_malformed_and_the_inbox_goes_on(post_webhook, page, opt_out):
    deep = b'{"object": "page", "entry": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    assert post_webhook(page.app, deep).status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.MALFORMED
    assert "nested deeper than" in delivery.error
    assert bytes(delivery.body) == deep  # kept byte for byte
    assert opt_out()


def test_nul_and_lone_surrogates_in_a_text_are_stored_replaced(post_webhook, page, opt_out):
    """Meta itself may relay a NUL a person typed: PostgreSQL's jsonb refused it (DataError)."""
    item = payloads.message(page.page_id, "11", "hi\x00 there \ud800!")
    item["message"]["\x00key"] = "x"
    raw = json.dumps(payloads.one(page.page_id, item)).encode()  # "\u0000", "\ud800" escapes
    assert b"\\u0000" in raw and b"\\ud800" in raw
    assert post_webhook(page.app, raw).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.PROCESSED
    assert event.payload["message"]["text"] == "hi\ufffd there \ufffd!"
    assert event.payload["message"]["\ufffdkey"] == "x"
    assert opt_out()


def test_a_sender_id_over_the_column_is_kept_invalid_and_the_others_processed(post_webhook, page, opt_out):
    """A 65-character sender id raised DataError on PostgreSQL (the PSID column holds 64)."""
    long_psid = "9" * 65
    body = payloads.body(
        payloads.entry(
            page.page_id,
            payloads.message(page.page_id, long_psid, "hello"),
            payloads.message(page.page_id, "12", "hello"),
        )
    )
    assert post_webhook(page.app, body).status_code == 200
    invalid = WebhookEvent.objects.get(state=WebhookEvent.State.INVALID)
    assert "psid has 65 characters, at most 64 fit" in invalid.error
    assert invalid.payload["sender"]["id"] == long_psid  # the payload keeps it whole
    assert WebhookEvent.objects.get(psid="12").state == WebhookEvent.State.PROCESSED
    assert not Subscriber.objects.filter(psid__startswith="999").exists()
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED
    assert opt_out()


@pytest.mark.parametrize("raw", [b'{"object": "page", "entry": [NaN]}', b'{"a": 1e999}', b"-Infinity"])
def test_numbers_the_database_refuses_are_malformed(post_webhook, page, raw):
    assert post_webhook(page.app, raw).status_code == 200
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.MALFORMED


def test_safejson_refuses_with_one_error_and_cleans_text():
    for raw in (b"[" * 65 + b"]" * 65, b"[NaN]", b"1e400", b"\xff", "{", b"1" * 5000, b" " * (9 << 20)):
        with pytest.raises(safejson.InvalidJSON):
            safejson.loads(raw)
    assert safejson.loads(b"[" * 64 + b"]" * 64)  # as deep as allowed
    assert safejson.loads('"\\ud83d\\ude00 \\u0000"') == "\U0001f600 \ufffd"  # pairs stay whole


# -- the "done when" scenario: a delivery that fails whatever is done ----------------------------


@pytest.fixture
def poison(monkeypatch):
    """Deliveries containing "POISON" fail outside any event's handler (like a database error)."""
    parse = meta_events.parse_payload

    def poisoned(data):
        if "POISON" in json.dumps(data):
            raise RuntimeError("poisoned delivery")
        return parse(data)

    monkeypatch.setattr(meta_events, "parse_payload", poisoned)


def come_due(delivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_poisoned_delivery_then_an_opt_out(post_webhook, page, opt_out, poison, admin_client):
    body = payloads.one(page.page_id, payloads.message(page.page_id, "13", "POISON"))
    assert post_webhook(page.app, body).status_code == 200
    assert opt_out()  # processed at once, the poisoned delivery notwithstanding
    poisoned = WebhookDelivery.objects.get(state=WebhookDelivery.State.RETRY)
    assert (poisoned.attempts, poisoned.error) == (1, "RuntimeError: poisoned delivery")
    assert poisoned.next_attempt_at > timezone.now()
    assert dispatch.process_pending() == 0  # not due yet: not taken

    pauses = []
    for _ in range(conf.get("WEBHOOK_MAX_ATTEMPTS") - 1):
        pauses.append(poisoned.next_attempt_at - timezone.now())
        come_due(poisoned)
        assert dispatch.process_pending() == 1
        poisoned.refresh_from_db()
    assert pauses == sorted(pauses)  # back-off: longer each time
    assert (poisoned.state, poisoned.attempts, poisoned.next_attempt_at) == ("failed", 5, None)
    assert not WebhookEvent.objects.filter(psid="13").exists()

    listing = admin_client.get(reverse("onesend_deliveries:index"), {"state": "failed"})
    assert listing.status_code == 200
    assert "poisoned delivery" in listing.content.decode()


def test_retries_never_go_ahead_of_new_deliveries(post_webhook, page, poison, monkeypatch, opt_out):
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "13", "POISON")))
    poisoned = WebhookDelivery.objects.get()
    come_due(poisoned)
    monkeypatch.setattr(drain, "enqueue_webhook_processing", lambda: None)  # no drain yet
    monkeypatch.setattr(dispatch, "BATCH_DELIVERIES", 1)
    assert not opt_out()  # stored only
    assert dispatch.process_pending() > 0
    poisoned.refresh_from_db()
    assert poisoned.attempts == 1  # the new delivery went first, alone in a full batch
    assert Subscriber.objects.get(psid="4242").status == Subscriber.Status.UNSUBSCRIBED
    assert dispatch.process_pending() == 1  # then the retry
    poisoned.refresh_from_db()
    assert poisoned.attempts == 2


def test_the_tick_drains_only_when_there_is_work(post_webhook, page, poison, monkeypatch):
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "13", "POISON")))
    drains = []
    monkeypatch.setattr(drain, "enqueue_webhook_processing", lambda: drains.append(1))
    tasks.tick()
    assert drains == []  # a retry not due yet is no work
    come_due(WebhookDelivery.objects.get())
    tasks.tick()
    assert drains == [1]


def test_reprocess_retries_failed_deliveries(post_webhook, page, poison, monkeypatch):
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "13", "POISON")))
    WebhookDelivery.objects.update(state=WebhookDelivery.State.FAILED, attempts=5, next_attempt_at=None)
    monkeypatch.undo()  # the bug is fixed
    call_command("onesend_reprocess")
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED


def test_failed_deliveries_are_for_agency_staff_only(client, django_user_model, page, poison, post_webhook):
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "13", "POISON")))
    group = ensure_client_group()
    member = django_user_model.objects.create_user("member", password="pw")
    member.groups.add(group)
    Membership.objects.create(user=member, account=page.account, role=Membership.Role.ADMIN)
    staff = django_user_model.objects.create_user("staff", password="pw")
    staff.groups.add(group)
    staff.user_permissions.add(Permission.objects.get(codename="access_all_accounts"))
    url = reverse("onesend_deliveries:index")
    client.force_login(member)
    assert client.get(url).status_code in (302, 403)
    client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 200 and "poisoned delivery" in response.content.decode()


# -- an event whose handler fails: retried the same way -------------------------------------------


@pytest.fixture
def broken_handler(monkeypatch):
    """Messages saying "BROKEN" fail in their handler (a bug, a deadlock…); the others work."""
    handle = handlers.HANDLERS["message"]

    def broken(event, page, told):
        if "BROKEN" in (event.text or ""):
            raise RuntimeError("handler bug")
        handle(event, page, told)

    monkeypatch.setitem(handlers.HANDLERS, "message", broken)


def event_come_due(event) -> None:
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_an_event_whose_handler_fails_is_retried_with_back_off_then_failed(
    post_webhook, page, opt_out, broken_handler, admin_client
):
    body = payloads.one(page.page_id, payloads.message(page.page_id, "7715015", "BROKEN"))
    assert post_webhook(page.app, body).status_code == 200
    assert opt_out()  # the next events go on
    broken = WebhookEvent.objects.get(psid="7715015")
    assert (broken.state, broken.attempts, broken.error) == ("retry", 1, "RuntimeError: handler bug")
    assert WebhookDelivery.objects.get(pk=broken.delivery_id).state == WebhookDelivery.State.PROCESSED
    assert dispatch.process_pending() == 0  # not due yet: not taken

    pauses = []
    for _ in range(conf.get("WEBHOOK_MAX_ATTEMPTS") - 1):
        pauses.append(broken.next_attempt_at - timezone.now())
        event_come_due(broken)
        assert dispatch.process_pending() == 1
        broken.refresh_from_db()
    assert pauses == sorted(pauses)  # back-off: longer each time
    assert (broken.state, broken.attempts, broken.next_attempt_at) == ("failed", 5, None)
    listing = admin_client.get(reverse("onesend_inbox:index"), {"state": "failed"})
    assert listing.status_code == 200 and "7715015" in listing.content.decode()


def test_a_retried_event_is_processed_once_its_handler_works(post_webhook, page, broken_handler, monkeypatch):
    subscriber = SubscriberFactory(page=page, psid="15", last_interaction_at=None)
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "15", "BROKEN")))
    event = WebhookEvent.objects.get()
    drains = []
    monkeypatch.setattr(drain, "enqueue_webhook_processing", lambda: drains.append(1))
    tasks.tick()
    assert drains == []  # a retry not due yet is no work
    event_come_due(event)
    tasks.tick()
    assert drains == [1]
    monkeypatch.setitem(handlers.HANDLERS, "message", handlers.on_message)  # the bug is fixed
    assert dispatch.process_pending() == 1
    event.refresh_from_db()
    assert (event.state, event.error, event.next_attempt_at) == ("processed", "", None)
    subscriber.refresh_from_db()
    assert subscriber.last_interaction_at is not None


def test_event_retries_never_go_ahead_of_new_deliveries(
    post_webhook, page, broken_handler, monkeypatch, opt_out
):
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "15", "BROKEN")))
    broken = WebhookEvent.objects.get()
    event_come_due(broken)
    monkeypatch.setattr(drain, "enqueue_webhook_processing", lambda: None)  # no drain yet
    monkeypatch.setattr(dispatch, "BATCH_DELIVERIES", 1)
    assert not opt_out()  # stored only
    assert dispatch.process_pending() > 0
    broken.refresh_from_db()
    assert broken.attempts == 1  # the new delivery went first, alone in a full batch
    assert Subscriber.objects.get(psid="4242").status == Subscriber.Status.UNSUBSCRIBED
    assert dispatch.process_pending() == 1  # then the retry
    broken.refresh_from_db()
    assert broken.attempts == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's own refusal (DataError)")
def test_a_database_error_is_isolated_and_retried(post_webhook, page, monkeypatch, opt_out):
    """Whatever slips through validation: the database's refusal puts aside one delivery only."""
    monkeypatch.setattr(safejson, "loads", json.loads)  # as before: NUL reaches jsonb
    item = payloads.message(page.page_id, "13", "nul \x00")
    assert post_webhook(page.app, payloads.one(page.page_id, item)).status_code == 200
    failed = WebhookDelivery.objects.get()
    assert (failed.state, failed.attempts) == ("retry", 1)
    assert "\x00" not in failed.error
    assert opt_out()


def test_a_nul_in_a_kept_header_is_stored_replaced(client, page, opt_out):
    """PostgreSQL's jsonb refused a User-Agent holding NUL: the POST was a 500 and the body lost."""
    body = json.dumps(payloads.one(page.page_id, payloads.message(page.page_id, "14", "hi"))).encode()
    response = signed_post(client, page.app, body, HTTP_USER_AGENT="bot\x00/1 \x01")
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.headers["User-Agent"] == "bot\ufffd/1 \x01"  # other control characters fit
    assert bytes(delivery.body) == body
    assert opt_out()


# -- case 11: a Content-Length that is not a number -----------------------------------------------


@pytest.mark.parametrize("length", ["abc", "-5", "1_0", " 12", "１２"])
def test_a_non_numeric_content_length_is_400(client, page, length):
    body = json.dumps(payloads.one(page.page_id, payloads.message(page.page_id, "1", "hi"))).encode()
    assert signed_post(client, page.app, body, CONTENT_LENGTH=length).status_code == 400
    assert not WebhookDelivery.objects.exists()


# -- case 4: a webhook signed by one app is processed only for that app's Pages -------------------


def test_an_app_cannot_touch_another_apps_pages(post_webhook, page, opt_out):
    other_app = MetaAppFactory()
    MessengerPageFactory(app=other_app)  # the other app serves Pages of its own
    victim = SubscriberFactory(page=page, psid="77")
    MarketingTokenFactory(subscriber=victim)
    before = page.last_webhook_at
    body = payloads.one(page.page_id, payloads.message(page.page_id, "77", "STOP"))
    assert post_webhook(other_app, body).status_code == 200  # signed with the other app's secret
    event = WebhookEvent.objects.get()
    assert (event.state, event.page) == (WebhookEvent.State.UNKNOWN_PAGE, None)
    assert "belongs to another Meta app" in event.error
    victim.refresh_from_db()
    assert victim.status == Subscriber.Status.SUBSCRIBED
    page.refresh_from_db()
    assert page.last_webhook_at == before  # not even the health signal

    call_command("onesend_reprocess")  # attaches late Pages: only the signing app's
    assert WebhookEvent.objects.get().state == WebhookEvent.State.UNKNOWN_PAGE
    victim.refresh_from_db()
    assert victim.status == Subscriber.Status.SUBSCRIBED
    assert opt_out()  # the Page's own app still works
