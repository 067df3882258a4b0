"""The webhook endpoint: verification, signatures, raw storage, dedupe, processing."""

import json

import pytest
from django.test import Client

from onesend_plugin.hooks import hookimpl
from onesend_plugin.messenger import signature
from onesend_plugin.models import MetaApp, Subscriber, WebhookDelivery, WebhookEvent

from . import payloads
from .factories import MessengerPageFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


class Recorder:
    def __init__(self):
        self.events = []

    @hookimpl
    def webhook_event_processed(self, event, page):
        self.events.append((event.kind, page.page_id))


@pytest.fixture
def recorder(register_plugin):
    return register_plugin(Recorder())


# -- GET verification -----------------------------------------------------------------------


def test_verification_echoes_the_challenge(client, meta_app):
    response = client.get(
        f"/onesend/webhook/{meta_app.app_id}/",
        {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "verify-me", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_verification_refuses_wrong_token_or_mode(client, meta_app, params):
    response = client.get(f"/onesend/webhook/{meta_app.app_id}/", params)
    assert response.status_code == 403


def test_unknown_app_is_404(client, db):
    assert client.get("/onesend/webhook/nope/", {"hub.mode": "subscribe"}).status_code == 404
    assert (
        client.post("/onesend/webhook/nope/", data=b"{}", content_type="application/json").status_code == 404
    )


# -- signatures ------------------------------------------------------------------------------


def _forgeries(body: bytes, secret: str):
    good = signature.sign(body, secret)
    return {
        "missing": {},
        "other secret": {"HTTP_X_HUB_SIGNATURE_256": signature.sign(body, "not-the-secret")},
        "other body": {"HTTP_X_HUB_SIGNATURE_256": signature.sign(body + b" ", secret)},
        "truncated": {"HTTP_X_HUB_SIGNATURE_256": good[:-2]},
        "no prefix": {"HTTP_X_HUB_SIGNATURE_256": good.removeprefix("sha256=")},
        "sha1 only": {"HTTP_X_HUB_SIGNATURE": "sha1=" + "0" * 40},
        "garbage": {"HTTP_X_HUB_SIGNATURE_256": "sha256=zz\u00e9"},
    }


@pytest.mark.parametrize("forgery", list(_forgeries(b"", "").keys()))
def test_forged_or_unsigned_posts_are_refused_and_not_stored(post_webhook, page, recorder, forgery, caplog):
    body = json.dumps(payloads.body(payloads.entry(page.page_id, payloads.message(page.page_id, "1", "hi"))))
    headers = _forgeries(body.encode(), page.app.app_secret)[forgery]
    response = post_webhook(page.app, body.encode(), headers=headers)
    assert response.status_code == 403
    assert not WebhookDelivery.objects.exists()
    assert recorder.events == []
    assert "refused" in caplog.text


def test_signature_is_checked_over_the_raw_bytes(post_webhook, page):
    # Meta signs its escaped-unicode rendering; the same JSON re-serialised differs in bytes.
    pid = page.page_id
    raw = (
        f'{{"object":"page","entry":[{{"id":"{pid}","time":1,"messaging":[{{"sender":{{"id":"7"}},'
        f'"recipient":{{"id":"{pid}"}},"timestamp":1458692752478,"message":{{"mid":"m_1","text":"caf\\u00e9"}}}}]}}]}}'
    ).encode()
    assert post_webhook(page.app, raw).status_code == 200
    stored = WebhookDelivery.objects.get()
    assert bytes(stored.body) == raw
    assert stored.headers["X-Hub-Signature-256"] == signature.sign(raw, page.app.app_secret)


def test_csrf_does_not_apply(page):
    body = json.dumps(payloads.body(payloads.entry(page.page_id, payloads.message(page.page_id, "1", "hi"))))
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"/onesend/webhook/{page.app.app_id}/",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature.sign(body.encode(), page.app.app_secret),
    )
    assert response.status_code == 200


def test_a_known_app_costs_one_insert_per_post(client, page, django_assert_num_queries):
    def post(n: int) -> int:  # processing waits for a commit that never comes in this test
        body = json.dumps({**payloads.one(page.page_id, payloads.message(page.page_id, "1", "hi")), "n": n})
        signed = signature.sign(body.encode(), page.app.app_secret)
        url = f"/onesend/webhook/{page.app.app_id}/"
        return client.post(url, body, "application/json", HTTP_X_HUB_SIGNATURE_256=signed).status_code

    assert post(1) == 200  # reads the app's secret
    with django_assert_num_queries(1):  # the raw body's INSERT: the secret is remembered
        assert post(2) == 200
    assert WebhookDelivery.objects.count() == 2


def test_a_changed_app_secret_works_at_once(post_webhook, page):
    body = payloads.one(page.page_id, payloads.message(page.page_id, "1", "hi"))
    assert post_webhook(page.app, body).status_code == 200
    MetaApp.objects.filter(pk=page.app.pk).update(app_secret="rotated")
    assert post_webhook(page.app, {**body, "n": 2}, secret="rotated").status_code == 200
    assert post_webhook(page.app, {**body, "n": 3}, secret="forged").status_code == 403
    assert WebhookDelivery.objects.count() == 2


def test_oversized_body_is_refused(post_webhook, page, settings):
    settings.ONESEND = {**settings.ONESEND, "WEBHOOK_MAX_BODY_BYTES": 100}
    big = payloads.body(payloads.entry(page.page_id, payloads.message(page.page_id, "1", "x" * 200)))
    assert post_webhook(page.app, big).status_code == 413
    assert not WebhookDelivery.objects.exists()


# -- storage, parsing, dedupe, processing ----------------------------------------------------


def test_every_entry_page_and_event_is_stored_and_processed(post_webhook, meta_app, recorder):
    page_a, page_b = MessengerPageFactory(app=meta_app), MessengerPageFactory(app=meta_app)
    body = payloads.body(
        payloads.entry(
            page_a.page_id,
            payloads.message(page_a.page_id, "11", "hello"),
            payloads.referral(page_a.page_id, "12", "summer"),
        ),
        payloads.entry(
            page_b.page_id,
            payloads.delivery(page_b.page_id, "21", 1458668856253, mids=["m_x"]),
            payloads.read(page_b.page_id, "21", 1458668856253),
        ),
    )
    response = post_webhook(meta_app, body)
    assert response.status_code == 200
    events = WebhookEvent.objects.order_by("id")
    assert [(e.page.page_id, e.kind, e.state) for e in events] == [
        (page_a.page_id, "message", "processed"),
        (page_a.page_id, "referral", "processed"),
        (page_b.page_id, "delivery", "processed"),
        (page_b.page_id, "read", "processed"),
    ]
    assert sorted(recorder.events) == sorted((e.kind, e.page.page_id) for e in events)
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED
    page_a.refresh_from_db()
    assert page_a.last_webhook_at is not None


def test_replays_and_duplicates_are_no_ops(post_webhook, page, recorder):
    item = payloads.message(page.page_id, "11", "hello", mid="m_same")
    body = payloads.body(payloads.entry(page.page_id, item, item))  # duplicated inside one POST too
    for _ in range(3):
        assert post_webhook(page.app, body).status_code == 200
    assert WebhookDelivery.objects.count() == 3  # every POST is kept raw...
    assert WebhookEvent.objects.count() == 1  # ...but the event exists once
    assert recorder.events == [("message", page.page_id)]


def test_events_for_an_unknown_page_are_kept_and_flagged(post_webhook, meta_app, recorder):
    body = payloads.body(payloads.entry("999", payloads.message("999", "11", "hello")))
    assert post_webhook(meta_app, body).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.page, event.page_external_id, event.state) == (None, "999", "unknown_page")
    assert recorder.events == []


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b'{"object": "instagram", "entry": []}',
        b'{"object":"page","entry":{}}',
        b"\xff\xfe",
    ],
)
def test_malformed_bodies_with_a_valid_signature_are_kept_and_flagged(post_webhook, page, raw):
    response = post_webhook(page.app, raw)
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.MALFORMED
    assert delivery.error
    assert bytes(delivery.body) == raw
    assert not WebhookEvent.objects.exists()


def test_a_failing_event_is_flagged_and_the_others_still_processed(
    post_webhook, page, register_plugin, monkeypatch
):
    from onesend_plugin.inbox import handlers

    def explode(event, page, told):
        raise RuntimeError("boom")

    monkeypatch.setitem(handlers.HANDLERS, "referral", explode)
    body = payloads.body(
        payloads.entry(
            page.page_id,
            payloads.referral(page.page_id, "12", "summer"),
            payloads.message(page.page_id, "11", "hello"),
        )
    )
    assert post_webhook(page.app, body).status_code == 200
    states = dict(WebhookEvent.objects.values_list("kind", "state"))
    assert states == {"referral": "retry", "message": "processed"}  # retried later
    assert "boom" in WebhookEvent.objects.get(kind="referral").error


def test_a_failing_plugin_does_not_undo_processing(post_webhook, page, register_plugin):
    class Broken:
        @hookimpl
        def webhook_event_processed(self, event, page):
            raise RuntimeError("plugin bug")

    register_plugin(Broken())
    subscriber = SubscriberFactory(page=page, psid="11", last_interaction_at=None)
    body = payloads.body(payloads.entry(page.page_id, payloads.message(page.page_id, "11", "hello")))
    assert post_webhook(page.app, body).status_code == 200
    assert WebhookEvent.objects.get().state == "processed"
    subscriber.refresh_from_db()
    assert subscriber.last_interaction_at is not None


def test_person_interactions_open_the_standard_window(post_webhook, page):
    subscriber = SubscriberFactory(page=page, psid="11", last_interaction_at=None)
    assert not subscriber.in_standard_window()
    post_webhook(
        page.app, payloads.body(payloads.entry(page.page_id, payloads.message(page.page_id, "11", "hi")))
    )
    subscriber.refresh_from_db()
    assert subscriber.in_standard_window()
    # receipts are not interactions
    other = SubscriberFactory(page=page, psid="12", last_interaction_at=None)
    post_webhook(page.app, payloads.body(payloads.entry(page.page_id, payloads.read(page.page_id, "12", 5))))
    other.refresh_from_db()
    assert other.last_interaction_at is None
    assert Subscriber.objects.count() == 2


def test_reprocess_command_recovers_failed_and_unknown_page_events(post_webhook, meta_app, monkeypatch):
    from django.core.management import call_command

    from onesend_plugin.inbox import handlers

    page = MessengerPageFactory(app=meta_app)
    monkeypatch.setitem(handlers.HANDLERS, "referral", lambda event, page, told: 1 / 0)
    post_webhook(
        meta_app, payloads.body(payloads.entry(page.page_id, payloads.referral(page.page_id, "1", "r")))
    )
    post_webhook(meta_app, payloads.body(payloads.entry("555", payloads.message("555", "2", "early"))))
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"retry", "unknown_page"}

    monkeypatch.delitem(handlers.HANDLERS, "referral")
    late_page = MessengerPageFactory(app=meta_app, page_id="555")
    call_command("onesend_reprocess")
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}
    assert WebhookEvent.objects.get(kind="message").page == late_page
