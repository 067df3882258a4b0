"""The greeting fills in "{first_name}" from the customer's last order, in a real broadcast."""

from onesend_example_plugin import greeting

ORDER = {"order_id": "1", "value": "20.00", "currency": "EUR"}


def test_people_are_greeted_by_the_first_name_of_their_last_order(
    onesend_subscribe, onesend_track, onesend_send
):
    ann = onesend_subscribe(customer_ref="ann")
    onesend_track("order_placed", customer_ref="ann", properties={**ORDER, "first_name": "Ann"})
    sent = onesend_send("{first_name}, 20 % off today", buttons=[("Shop", "https://shop.example/")])
    [message] = sent.threads[ann.psid]
    assert message["text"] == "Ann, 20 % off today"


def test_someone_whose_first_name_is_unknown_is_skipped(onesend_subscribe, onesend_track, onesend_send):
    ann, ben = onesend_subscribe(customer_ref="ann"), onesend_subscribe(customer_ref="ben")
    onesend_track("order_placed", customer_ref="ann", properties={**ORDER, "first_name": "Ann"})
    sent = onesend_send("{first_name}, 20 % off today")
    assert sent.outcomes[ann.psid].state == "sent"
    assert sent.outcomes[ben.psid] == ("skipped", "vetoed", "")
    assert ben.psid not in sent.threads


def test_a_campaign_without_the_placeholder_is_sent_as_written(onesend_subscribe, onesend_send):
    ben = onesend_subscribe()
    sent = onesend_send("20 % off today")
    assert [message["text"] for message in sent.threads[ben.psid]] == ["20 % off today"]


def test_a_failing_lookup_fails_only_that_person_and_shows_in_the_campaign(
    onesend_subscribe, onesend_send, monkeypatch
):
    def first_name(subscriber):
        if subscriber.customer_ref == "ben":
            raise ConnectionError("CRM unreachable")
        return "Ann"

    monkeypatch.setattr(greeting, "first_name", first_name)
    ann, ben = onesend_subscribe(customer_ref="ann"), onesend_subscribe(customer_ref="ben")
    sent = onesend_send("{first_name}, 20 % off today")
    assert [message["text"] for message in sent.threads[ann.psid]] == ["Ann, 20 % off today"]
    state, reason, error = sent.outcomes[ben.psid]
    assert (state, reason) == ("failed", "plugin_error")
    assert "'example_greeting'" in error and "CRM unreachable" in error
    assert "CRM unreachable" in sent.campaign.last_error  # what the campaign's page shows
