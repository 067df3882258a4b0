"""Subscribe/unsubscribe decisions, driven by signed webhooks through the real endpoint.

Messages to the person are sent by tasks after commit; these tests check the decisions and the
records. ``test_subscribe_e2e.py`` runs the whole loop against the Graph API simulator."""

import pytest

from onesend_plugin.hooks import hookimpl
from onesend_plugin.models import ConsentRecord, MarketingToken, Subscriber
from onesend_plugin.subscribe import erasure, refs, subscriptions

from . import payloads
from .factories import MarketingTokenFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


class Recorder:
    def __init__(self):
        self.calls = []

    @hookimpl
    def subscriber_opted_in(self, subscriber, source, customer_ref):
        self.calls.append(("in", subscriber.psid, source, customer_ref))

    @hookimpl
    def subscriber_unsubscribed(self, subscriber, source):
        self.calls.append(("out", subscriber.psid, source))


@pytest.fixture
def hooks(register_plugin):
    return register_plugin(Recorder())


def accept(post_webhook, page, psid, *, token="tok-1", ref="", title=None, status=None):
    item = payloads.optin(
        page.page_id, psid, token=token, title=title or page.optin_title, payload=ref, status=status
    )
    assert post_webhook(page.app, payloads.one(page.page_id, item)).status_code == 200


def test_a_link_in_a_new_thread_offers_the_optin(post_webhook, page, sent):
    ref = refs.encode("footer", ("vip",))
    post_webhook(
        page.app, payloads.one(page.page_id, payloads.postback(page.page_id, "7", "GET_STARTED", ref=ref))
    )
    assert sent == [("send_optin_request", (Subscriber.objects.get(psid="7").pk, ref, "GET_STARTED"))]
    person = Subscriber.objects.get(psid="7")
    assert person.status == Subscriber.Status.PENDING
    assert person.in_standard_window()
    assert list(person.tags.names()) == []  # tags only come with consent


def test_a_link_in_an_existing_thread_offers_the_optin(post_webhook, page, sent):
    post_webhook(page.app, payloads.one(page.page_id, payloads.referral(page.page_id, "7", "qr")))
    assert [name for name, _ in sent] == ["send_optin_request"]


def test_a_customer_link_links_the_customer_and_keeps_it_out_of_the_optin_payload(post_webhook, page, sent):
    ref = refs.encode("footer", ("vip",), "cust-42")
    post_webhook(page.app, payloads.one(page.page_id, payloads.referral(page.page_id, "7", ref)))
    person = Subscriber.objects.get(psid="7")
    assert person.customer_ref == "cust-42"
    [(name, (pk, payload, entry_point))] = sent
    assert (name, pk, entry_point) == ("send_optin_request", person.pk, "SHORTLINK")
    assert refs.decode(payload) == refs.SubscriptionRef(source="footer", tags=("vip",))
    accept(post_webhook, page, "7", ref=payload)
    assert Subscriber.objects.get(psid="7").customer_ref == "cust-42"


def test_no_request_to_someone_already_subscribed(post_webhook, page, sent):
    MarketingTokenFactory(subscriber=SubscriberFactory(page=page, psid="7"))
    post_webhook(page.app, payloads.one(page.page_id, payloads.referral(page.page_id, "7", "qr")))
    assert sent == []


def test_no_second_request_for_the_same_topic_within_a_week(post_webhook, page, sent, time_machine):
    time_machine.move_to("2026-06-01 12:00Z")
    person = SubscriberFactory(page=page, psid="7", status=Subscriber.Status.PENDING)
    subscriptions.record_optin_requested(person, raw_ref="", entry_point="SHORTLINK", message_id="m_1")
    time_machine.shift(60 * 60 * 24 * 6)
    post_webhook(page.app, payloads.one(page.page_id, payloads.referral(page.page_id, "7", "qr")))
    assert sent == []
    time_machine.shift(60 * 60 * 24 * 2)
    post_webhook(page.app, payloads.one(page.page_id, payloads.referral(page.page_id, "7", "qr2")))
    assert [name for name, _ in sent] == ["send_optin_request"]


def test_a_new_topic_may_be_offered_to_someone_asked_about_another(post_webhook, page, sent):
    person = SubscriberFactory(page=page, psid="7", status=Subscriber.Status.PENDING)
    subscriptions.record_optin_requested(person, raw_ref="", entry_point="SHORTLINK", message_id="m_1")
    page.optin_title = "A new topic"
    page.save()
    post_webhook(page.app, payloads.one(page.page_id, payloads.referral(page.page_id, "7", "qr")))
    assert [name for name, _ in sent] == ["send_optin_request"]


def test_messages_without_a_ref_are_offered_the_optin_only_if_the_page_allows(post_webhook, page, sent):
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "7", "hello")))
    assert [name for name, _ in sent] == ["send_optin_request"]
    page.offer_optin_without_ref = False
    page.save()
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "8", "hello")))
    assert len(sent) == 1


def test_acceptance_subscribes_with_token_tags_source_customer_and_consent(post_webhook, page, sent, hooks):
    ref = refs.encode("footer", ("vip", "summer"), "cust-42")
    page.welcome_message = "Welcome aboard!"
    page.save()
    accept(post_webhook, page, "7", token="tok-1", ref=ref)
    person = Subscriber.objects.get(psid="7")
    assert person.status == Subscriber.Status.SUBSCRIBED
    assert (person.source_ref, person.customer_ref, person.timezone) == ("footer", "cust-42", "Europe/Paris")
    assert sorted(person.tags.names()) == ["summer", "vip"]
    assert person.opted_in_at is not None
    token = person.tokens.get()
    assert (token.token, token.topic, token.status) == ("tok-1", page.optin_title, "active")
    record = person.consent_records.get()
    assert (record.action, record.entry_point, record.ref) == ("opted_in", "footer", "footer")
    assert record.shown["title"] == page.optin_title and record.shown["ref_verified"] is True
    assert hooks.calls == [("in", "7", "footer", "cust-42")]
    [(task, (pk, token, text, opted_in_at))] = sent  # a follow-up through the new token, not to the PSID
    assert (task, pk, token, text) == ("send_followup", person.pk, "tok-1", "Welcome aboard!")
    assert opted_in_at == person.opted_in_at.timestamp()


def test_a_failing_opt_in_listener_loses_neither_the_welcome_nor_the_other_listeners(
    post_webhook, page, sent, hooks, register_plugin
):
    class Broken:
        @hookimpl
        def subscriber_opted_in(self):
            raise RuntimeError("CRM is down")

    register_plugin(Broken(), name="crm")
    page.welcome_message = "Welcome aboard!"
    page.save()
    accept(post_webhook, page, "7")
    person = Subscriber.objects.get(psid="7")
    assert person.status == Subscriber.Status.SUBSCRIBED
    assert [(name, args[:3]) for name, args in sent] == [
        ("send_followup", (person.pk, "tok-1", "Welcome aboard!"))
    ]
    assert hooks.calls == [("in", "7", "direct", "")]
    SubscriberFactory(page=page, psid="8", status=Subscriber.Status.PENDING)
    accept(post_webhook, page, "8")  # the next event is processed too
    assert Subscriber.objects.get(psid="8").status == Subscriber.Status.SUBSCRIBED


def test_a_forged_ref_creates_no_tags(post_webhook, page, sent):
    genuine = refs.encode("footer", ("vip",), "cust-1")
    forged = refs.encode("footer", ("admin",), "cust-2").partition("=")[0] + "=" + genuine.partition("=")[2]
    accept(post_webhook, page, "7", ref=forged)
    person = Subscriber.objects.get(psid="7")
    assert person.status == Subscriber.Status.SUBSCRIBED  # consent is real, the claims are not
    assert list(person.tags.names()) == [] and person.customer_ref == ""
    assert person.consent_records.get().shown["ref_verified"] is False


def test_declining_stores_nothing_beyond_the_referral(post_webhook, page, sent):
    post_webhook(page.app, payloads.one(page.page_id, payloads.referral(page.page_id, "7", "qr")))
    person = Subscriber.objects.get(psid="7")
    assert person.status == Subscriber.Status.PENDING
    assert not person.tokens.exists() and not person.consent_records.exists()


@pytest.mark.parametrize("text", ["STOP", "stop", " Unsubscribe! ", "arrêt", "Baja"])
def test_stop_keywords_unsubscribe_and_confirm(post_webhook, page, sent, hooks, text):
    MarketingTokenFactory(subscriber=SubscriberFactory(page=page, psid="7"))
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "7", text)))
    person = Subscriber.objects.get(psid="7")
    assert person.status == Subscriber.Status.UNSUBSCRIBED and person.unsubscribed_at
    assert person.tokens.get().status == MarketingToken.Status.STOPPED
    record = person.consent_records.get()
    assert (record.action, record.entry_point) == ("unsubscribed", "keyword")
    assert hooks.calls == [("out", "7", "keyword")]
    assert [name for name, _ in sent] == ["send_text"]


def test_a_sentence_containing_stop_is_not_an_unsubscribe(post_webhook, page, sent):
    MarketingTokenFactory(subscriber=SubscriberFactory(page=page, psid="7"))
    post_webhook(
        page.app, payloads.one(page.page_id, payloads.message(page.page_id, "7", "don't stop the deals"))
    )
    assert Subscriber.objects.get(psid="7").status == Subscriber.Status.SUBSCRIBED


def test_unsubscribe_quick_reply_and_button(post_webhook, page, sent):
    MarketingTokenFactory(subscriber=SubscriberFactory(page=page, psid="7"))
    MarketingTokenFactory(subscriber=SubscriberFactory(page=page, psid="8"))
    quick = payloads.message(
        page.page_id, "7", "Unsubscribe me", quick_reply=subscriptions.UNSUBSCRIBE_PAYLOAD
    )
    button = payloads.postback(page.page_id, "8", subscriptions.UNSUBSCRIBE_PAYLOAD, title="Unsubscribe")
    post_webhook(page.app, payloads.body(payloads.entry(page.page_id, quick, button)))
    assert set(Subscriber.objects.values_list("psid", "status")) == {
        ("7", "unsubscribed"),
        ("8", "unsubscribed"),
    }
    assert dict(ConsentRecord.objects.values_list("subscriber__psid", "entry_point")) == {
        "7": "quick_reply",
        "8": "unsubscribe_button",
    }


def test_repeated_stop_adds_no_records(post_webhook, page, sent):
    MarketingTokenFactory(subscriber=SubscriberFactory(page=page, psid="7"))
    for _ in range(3):
        post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "7", "STOP")))
    assert ConsentRecord.objects.count() == 1


@pytest.mark.parametrize(
    "stop, resume",
    [("STOP_NOTIFICATIONS", "RESUME_NOTIFICATIONS"), ("STOP NOTIFICATIONS", "RESUME NOTIFICATIONS")],
)
def test_metas_stop_and_resume_control_in_both_spellings(post_webhook, page, sent, stop, resume):
    token = MarketingTokenFactory(subscriber=SubscriberFactory(page=page, psid="7"), token="tok-9")
    accept(post_webhook, page, "7", token="tok-9", status=stop)
    person = Subscriber.objects.get(psid="7")
    assert person.status == "unsubscribed"
    token.refresh_from_db()
    assert token.status == "stopped"
    assert sent == []  # Meta confirms its own control; we don't message
    accept(post_webhook, page, "7", token="tok-9", status=resume)
    person.refresh_from_db()
    token.refresh_from_db()
    assert (person.status, token.status) == ("subscribed", "active")
    assert list(person.consent_records.order_by("id").values_list("action", "entry_point")) == [
        ("unsubscribed", "meta_control"),
        ("resumed", "meta_control"),
    ]


def test_resubscribing_needs_a_fresh_optin(post_webhook, page, sent):
    MarketingTokenFactory(subscriber=SubscriberFactory(page=page, psid="7"), token="old")
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "7", "STOP")))
    post_webhook(page.app, payloads.one(page.page_id, payloads.message(page.page_id, "7", "hi again")))
    assert Subscriber.objects.get(psid="7").status == "unsubscribed"
    assert sent[-1][0] == "send_optin_request"  # asked again, not silently re-subscribed
    accept(post_webhook, page, "7", token="new")
    person = Subscriber.objects.get(psid="7")
    assert person.status == "subscribed"
    assert list(person.tokens.values_list("token", "status")) == [("new", "active")]


def test_send_errors_that_mean_gone_mark_the_subscriber(db, page):
    for psid, reason, status in [("1", "blocked", "blocked"), ("2", "unreachable", "unreachable")]:
        person = SubscriberFactory(page=page, psid=psid)
        MarketingTokenFactory(subscriber=person)
        assert subscriptions.unsubscribe(person, source="send_error", reason=reason)
        person.refresh_from_db()
        assert person.status == status
        assert person.tokens.get().status == "invalid"


def test_export_and_erase(post_webhook, page, sent):
    accept(post_webhook, page, "7", ref=refs.encode("footer", ("vip",)))
    person = Subscriber.objects.get(psid="7")
    data = subscriptions.export(person)
    assert data["psid"] == "7" and data["tags"] == ["vip"] and data["consent"][0]["action"] == "opted_in"
    assert "tok-1" not in str(data)  # tokens are credentials, not personal data to hand out

    erased = erasure.erase(person, by="user 1")
    assert not Subscriber.objects.filter(psid="7").exists()
    assert list(ConsentRecord.objects.order_by("id").values_list("action", "subscriber")) == [
        ("opted_in", None),
        ("erased", None),
    ]
    assert erased.detail == "erased by user 1"
    from onesend_plugin.models import WebhookDelivery, WebhookEvent

    assert not WebhookEvent.objects.filter(psid="7").exists()
    assert all(b'"7"' not in bytes(d.body) for d in WebhookDelivery.objects.all())
