"""The whole subscribe loop over real HTTP: the site, the Graph API simulator playing Meta and
the people, and signed webhooks in both directions."""

from datetime import timedelta

import pytest
from django.utils import timezone
from onesend_simulator.remote import wait_for

from onesend_plugin import tasks
from onesend_plugin.accounts import onboarding
from onesend_plugin.models import ConsentRecord, Subscriber
from onesend_plugin.subscribe import refs

pytestmark = pytest.mark.django_db(transaction=True)


def thread_items(simulator, psid, type_):
    return [item for item in simulator.person(psid)["thread"] if item["type"] == type_]


def test_link_optin_welcome_and_stop(simulator, connected_page):
    psid = simulator.create_person(connected_page.page_id, "Ada")["psid"]

    simulator.open_link(psid, ref=refs.encode("footer", ("vip",), "cust-9"))
    card = wait_for(lambda: thread_items(simulator, psid, "optin"), what="the opt-in card")[0]["optin"]
    assert card["title"] == connected_page.optin_title
    assert refs.decode(card["payload"]).tags == ("vip",)  # the signed ref travels in the payload

    token = simulator.accept_optin(psid)["token"]
    subscriber = wait_for(
        lambda: Subscriber.objects.filter(psid=psid, status="subscribed").first(), what="the subscription"
    )
    assert subscriber.tokens.get().token == token
    assert sorted(subscriber.tags.names()) == ["vip"] and subscriber.customer_ref == "cust-9"
    assert list(subscriber.consent_records.order_by("id").values_list("action", flat=True)) == [
        "optin_requested",
        "opted_in",
    ]
    wait_for(
        lambda: any("Welcome" in (m.get("text") or "") for m in thread_items(simulator, psid, "text")),
        what="the welcome message",
    )

    simulator.send_text(psid, "STOP")
    wait_for(lambda: Subscriber.objects.get(psid=psid).status == "unsubscribed", what="the unsubscribe")
    wait_for(
        lambda: any("unsubscribed" in (m.get("text") or "") for m in thread_items(simulator, psid, "text")),
        what="the confirmation",
    )
    assert ConsentRecord.objects.filter(
        subscriber__psid=psid, action="unsubscribed", entry_point="keyword"
    ).exists()


def test_declining_leaves_no_subscription(simulator, connected_page):
    psid = simulator.create_person(connected_page.page_id)["psid"]
    simulator.open_link(psid, ref=refs.encode("poster"))
    wait_for(lambda: thread_items(simulator, psid, "optin"), what="the opt-in card")
    simulator.decline_optin(psid)
    simulator.wait_webhooks_drained()
    person = Subscriber.objects.get(psid=psid)
    assert person.status == "pending" and not person.tokens.exists()


def test_metas_stop_control_then_resume(simulator, connected_page):
    psid = simulator.create_person(connected_page.page_id)["psid"]
    simulator.open_link(psid)
    wait_for(lambda: thread_items(simulator, psid, "optin"), what="the opt-in card")
    simulator.accept_optin(psid)
    wait_for(lambda: Subscriber.objects.filter(psid=psid, status="subscribed").exists(), what="subscription")

    simulator.stop_notifications(psid)
    wait_for(lambda: Subscriber.objects.get(psid=psid).status == "unsubscribed", what="the stop")
    simulator.resume_notifications(psid)
    wait_for(lambda: Subscriber.objects.get(psid=psid).status == "subscribed", what="the resume")


def test_a_second_link_visit_does_not_ask_again(simulator, connected_page):
    psid = simulator.create_person(connected_page.page_id)["psid"]
    simulator.open_link(psid, ref=refs.encode("a"))
    wait_for(lambda: thread_items(simulator, psid, "optin"), what="the opt-in card")
    wait_for(lambda: ConsentRecord.objects.filter(action="optin_requested").exists(), what="the record")
    simulator.open_link(psid, ref=refs.encode("b"))
    simulator.wait_webhooks_drained()
    assert len(thread_items(simulator, psid, "optin")) == 1


def test_the_welcome_goes_through_the_new_token_and_the_optin_opens_no_window(simulator, connected_page):
    psid = simulator.create_person(connected_page.page_id)["psid"]
    simulator.open_link(psid)
    wait_for(lambda: thread_items(simulator, psid, "optin"), what="the opt-in card")
    opened = Subscriber.objects.get(psid=psid).last_interaction_at
    simulator.configure(window_seconds=0)  # they accept once the 24 h window has closed
    simulator.accept_optin(psid)

    def welcome():
        return [m for m in simulator.messages(psid=psid) if m.get("text") == connected_page.welcome_message]

    [message] = wait_for(welcome, what="the welcome")
    assert (message["via"], message.get("followup")) == ("token", True)  # one of Meta's 3 follow-ups
    simulator.wait_webhooks_drained()
    subscriber = Subscriber.objects.get(psid=psid)
    assert subscriber.status == "subscribed" and subscriber.last_interaction_at == opened
    assert not subscriber.in_standard_window(timezone.now() + timedelta(days=1))
    assert subscriber.last_marketing_at is None  # the welcome is not the marketing message


def test_a_welcome_queued_past_metas_two_minutes_is_not_sent(simulator, onesend_subscribe):
    subscriber = onesend_subscribe()
    token = subscriber.tokens.get().token
    late = (timezone.now() - timedelta(minutes=2, seconds=1)).timestamp()
    assert tasks.send_followup(subscriber.pk, token, "Late hello", late) is None
    assert tasks.send_followup(subscriber.pk, token, "On time", timezone.now().timestamp())
    assert simulator.messages(psid=subscriber.psid)[-1].get("text") == "On time"
    assert "Late hello" not in [m.get("text") for m in simulator.messages(psid=subscriber.psid)]
    # The follow-up's receipts are still being written by the site: let them land before the
    # database is flushed (PostgreSQL deadlocks a flush against them).
    simulator.wait_webhooks_drained()


def test_a_new_visitor_reaches_the_site_only_through_the_get_started_button(simulator, connected_page):
    """m.me links: a person new to the Page is heard of only when they tap its Get Started button;
    the connection check (connecting, Re-check) gives the Page one."""
    simulator.create_page(page_id=connected_page.page_id, get_started=None)  # a Page without the button
    psid = simulator.create_person(connected_page.page_id, "Nova")["psid"]
    simulator.open_link(psid, ref=refs.encode("poster", ("vip",)))
    simulator.wait_webhooks_drained()
    assert not Subscriber.objects.filter(psid=psid).exists() and simulator.person(psid)["thread"] == []

    assert onboarding.check_health(connected_page)["get_started"] is True
    simulator.open_link(psid, ref=refs.encode("poster", ("vip",)), tap_get_started=False)
    assert simulator.person(psid)["get_started_button"]
    simulator.get_started(psid)
    wait_for(lambda: thread_items(simulator, psid, "optin"), what="the opt-in card")
    simulator.accept_optin(psid)
    subscriber = wait_for(
        lambda: Subscriber.objects.filter(psid=psid, status="subscribed").first(), what="the subscription"
    )
    assert (subscriber.source_ref, list(subscriber.tags.names())) == ("poster", ["vip"])
    assert subscriber.consent_records.get(action="optin_requested").entry_point == "GET_STARTED"
