"""Plugins told about a webhook event (``subscriber_opted_in``, ``subscriber_unsubscribed``,
``webhook_event_processed``) are called once it is processed and committed: one that raises
loses neither the consent nor the welcome, doesn't keep the other listeners or events from
being told, and is named on the event; the tick calls it again alone, with the same arguments,
after a pause that doubles, five times in all."""

from datetime import timedelta

import pytest
from django.utils import timezone

from onesend_plugin import tasks
from onesend_plugin.hooks import hookimpl
from onesend_plugin.hooks.listeners import MAX_ATTEMPTS
from onesend_plugin.inbox import listeners
from onesend_plugin.models import Subscriber, WebhookEvent
from onesend_plugin.subscribe import erasure, subscriptions

from . import payloads
from .factories import MarketingTokenFactory, SubscriberFactory
from .test_subscribe_flow import accept

pytestmark = pytest.mark.django_db


class Listener:
    """Remembers what it was told; raises in the hook ``fail`` for the person ``fail_for`` (None:
    for everyone)."""

    def __init__(self, fail=None, fail_for="7"):
        self.heard, self.fail, self.fail_for = [], fail, fail_for

    def _hear(self, hook, psid, *what):
        self.heard.append((hook, psid, *what))
        if hook == self.fail and self.fail_for in (None, psid):
            raise RuntimeError("CRM down")

    @hookimpl
    def subscriber_opted_in(self, subscriber, source, customer_ref):
        self._hear("subscriber_opted_in", subscriber.psid, source, customer_ref)

    @hookimpl
    def subscriber_unsubscribed(self, subscriber, source):
        self._hear("subscriber_unsubscribed", subscriber.psid, source)

    @hookimpl
    def webhook_event_processed(self, event, page):
        self._hear("webhook_event_processed", event.psid, event.kind, page.pk)


@pytest.fixture
def welcoming(page):
    page.welcome_message = "Welcome aboard!"
    page.save()
    return page


def opt_in(post_webhook, page, psid):
    accept(post_webhook, page, psid, token=f"tok-{psid}")


def stop(post_webhook, page, psid):
    MarketingTokenFactory(subscriber=SubscriberFactory(page=page, psid=psid))
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, psid, "STOP")))


#: What each hook is told after, and onesend's own work then done: status, consent, message queued
#: (the welcome as a follow-up through the new token, the confirmation to the PSID).
CASES = {
    "subscriber_opted_in": (opt_in, "subscribed", "opted_in", "send_followup", "Welcome aboard!"),
    "subscriber_unsubscribed": (stop, "unsubscribed", "unsubscribed", "send_text", "You're unsubscribed"),
    "webhook_event_processed": (opt_in, "subscribed", "opted_in", "send_followup", "Welcome aboard!"),
}


def event_of(psid):
    return WebhookEvent.objects.get(psid=psid)


def come_due(event):
    """The event's pause is over (as when the clock moves on)."""
    WebhookEvent.objects.filter(pk=event.pk).update(listeners_next_attempt_at=timezone.now())


@pytest.mark.parametrize("hook", CASES)
def test_a_listener_that_raises_loses_nothing_and_is_named_on_the_event(
    post_webhook, welcoming, sent, register_plugin, hook
):
    act, status, action, task_name, text = CASES[hook]
    good = register_plugin(Listener(), name="shop.good")
    broken = register_plugin(Listener(fail=hook), name="shop.broken")  # called first: newest
    act(post_webhook, welcoming, "7")

    person = Subscriber.objects.get(psid="7")
    assert person.status == status and person.consent_records.filter(action=action).exists()
    [(task, (pk, *args))] = sent
    assert (task, pk) == (task_name, person.pk) and any(str(arg).startswith(text) for arg in args)
    event = event_of("7")
    assert event.state == "processed"
    assert event.listener_errors == f"shop.broken in {hook}: RuntimeError('CRM down')"
    assert (event.listeners_retry, event.listener_attempts) == ([["shop.broken", hook]], 1)
    assert good.heard == broken.heard and len(good.heard) == 2  # every hook, the failed one too

    act(post_webhook, welcoming, "8")  # another event: told, and clean
    assert Subscriber.objects.get(psid="8").status == status
    assert (event_of("8").state, event_of("8").listener_errors, event_of("8").listeners_retry) == (
        "processed",
        "",
        [],
    )
    assert len(good.heard) == len(broken.heard) == 4


def test_the_tick_calls_the_failed_listener_alone_again_after_a_pause_that_doubles(
    post_webhook, welcoming, sent, register_plugin, time_machine
):
    good = register_plugin(Listener(), name="shop.good")
    broken = register_plugin(Listener(fail="subscriber_opted_in"), name="shop.broken")
    accept(post_webhook, welcoming, "7", token="tok-7", ref="footer")
    told = [
        ("subscriber_opted_in", "7", "footer", ""),
        ("webhook_event_processed", "7", "optin", welcoming.pk),
    ]
    assert broken.heard == good.heard == told
    event = event_of("7")
    assert event.listener_arguments == {
        "subscriber_opted_in": {
            "subscriber": Subscriber.objects.get(psid="7").pk,
            "source": "footer",
            "customer_ref": "",
        }
    }
    assert event.listeners_next_attempt_at == pytest.approx(
        timezone.now() + timedelta(seconds=60), abs=timedelta(seconds=5)
    )

    assert listeners.retry_due() == 0  # not yet due
    time_machine.move_to(timezone.now() + timedelta(seconds=61))
    tasks.tick()
    assert broken.heard == [*told, told[0]] and good.heard == told  # the failed one alone, as before
    event.refresh_from_db()
    assert (event.listener_attempts, event.listeners_retry) == (2, [["shop.broken", "subscriber_opted_in"]])
    assert event.listeners_next_attempt_at == pytest.approx(
        timezone.now() + timedelta(seconds=120), abs=timedelta(seconds=5)
    )

    broken.fail = None
    time_machine.move_to(timezone.now() + timedelta(seconds=121))
    assert listeners.retry_due() == 1
    event.refresh_from_db()
    assert (event.listener_errors, event.listeners_retry, event.listeners_next_attempt_at) == ("", [], None)
    assert (
        listeners.retry_due() == 0
        and len(broken.heard) == 4
        and [(name, args[:3]) for name, args in sent]
        == [("send_followup", (Subscriber.objects.get(psid="7").pk, "tok-7", "Welcome aboard!"))]
    )


def test_a_listener_that_keeps_failing_is_given_up_with_its_error(
    post_webhook, page, sent, register_plugin, time_machine
):
    broken = register_plugin(Listener(fail="webhook_event_processed"), name="shop.broken")
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "7", "hello")))
    for _ in range(MAX_ATTEMPTS - 1):
        time_machine.move_to(timezone.now() + timedelta(days=1))
        assert listeners.retry_due() == 1
    event = event_of("7")
    assert (event.listener_attempts, event.listeners_retry, event.listeners_next_attempt_at) == (5, [], None)
    assert event.listener_errors == "shop.broken in webhook_event_processed: RuntimeError('CRM down')"
    assert listeners.retry_due() == 0
    # each time the same event, parsed again from what was stored
    assert broken.heard == [("webhook_event_processed", "7", "message", page.pk)] * MAX_ATTEMPTS


def test_two_ticks_cannot_call_a_listener_twice(post_webhook, page, sent, register_plugin):
    ticks = []

    class Slow(Listener):
        @hookimpl
        def webhook_event_processed(self, event, page):
            if self.heard:  # being called again: another tick starts meanwhile
                ticks.append(listeners.retry_due())
            super().webhook_event_processed(event, page)

    slow = register_plugin(Slow(fail="webhook_event_processed"), name="shop.slow")
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "7", "hello")))
    come_due(event_of("7"))
    assert listeners.retry_due() == 1
    assert ticks == [0] and len(slow.heard) == 2


def test_a_subscriber_erased_meanwhile_is_not_told_about_again(post_webhook, page, sent, register_plugin):
    broken = register_plugin(Listener(fail="subscriber_opted_in"), name="shop.broken")
    accept(post_webhook, page, "7")
    accept(post_webhook, page, "8")
    event = event_of("7")
    erasure.erase(Subscriber.objects.get(psid="7"), by="test")
    Subscriber.objects.filter(psid="8").delete()  # gone some other way: its call is not made
    event.refresh_from_db()
    assert (event.listener_errors, event.listeners_retry, event.listener_arguments) == ("", [], {})
    come_due(event_of("8"))
    assert listeners.retry_due() == 1
    assert len(broken.heard) == 4 and event_of("8").listeners_retry == []


def test_an_event_that_cannot_be_told_about_again_keeps_no_other_from_it(
    post_webhook, page, sent, register_plugin
):
    broken = register_plugin(Listener(fail="webhook_event_processed", fail_for=None), name="shop.broken")
    for psid in ("7", "8"):
        post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, psid, "hello")))
        come_due(event_of(psid))
    WebhookEvent.objects.filter(psid="7").update(listener_arguments={"subscriber_opted_in": {}})  # damaged
    assert listeners.retry_due() == 2
    assert [psid for _, psid, *_ in broken.heard] == ["7", "8", "8"]
    assert event_of("7").listeners_next_attempt_at is None  # given up: logged


def test_an_unsubscribe_without_a_webhook_event_is_logged(
    page, register_plugin, django_capture_on_commit_callbacks, caplog
):
    good = register_plugin(Listener(), name="shop.good")
    register_plugin(Listener(fail="subscriber_unsubscribed"), name="shop.broken")
    person = MarketingTokenFactory(subscriber=SubscriberFactory(page=page, psid="7")).subscriber
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions.unsubscribe(person, source="admin")
    assert good.heard == [("subscriber_unsubscribed", "7", "admin")]
    assert "The plugin 'shop.broken' failed in subscriber_unsubscribed" in caplog.text


def test_the_inbox_shows_the_listener_errors(post_webhook, page, sent, register_plugin, admin_client):
    register_plugin(Listener(fail="webhook_event_processed"), name="shop.broken")
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "7", "hello")))
    inspect = admin_client.get(f"/admin/messenger/inbox/inspect/{event_of('7').pk}/").content.decode()
    assert "shop.broken in webhook_event_processed: RuntimeError(&#x27;CRM down&#x27;)" in inspect
