"""GraphClient sending against the real Graph API simulator over HTTP: no mocks, no database.

The 24 h window, opt-in and marketing tokens, rate limits, batch, attachments, the Marketing
Messages API, and transient failures and latency. Each test gets a reset simulator with one Page
(the ``sim`` and ``graph`` fixtures in conftest). Time-based rules (24 h window, cooldown, 7-day
topic rule) are shrunk through the simulator's config and awaited with ``wait_for``, never with sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from functools import partial

import pytest
from onesend_simulator.remote import wait_for

from onesend_plugin.messenger.client import BatchRequest, SendResult
from onesend_plugin.messenger.errors import (
    BadRequest,
    GraphError,
    NotEligibleYet,
    OptinAlreadyRequested,
    OutsideWindow,
    RateLimited,
    RecipientUnavailable,
    TransientError,
)

from .simulated_page import (
    OTHER_PAGE_ID,
    OTHER_TOKEN,
    PAGE_ID,
    PAGE_TOKEN,
    TEXT,
    TITLE,
    make_client,
    new_person,
    subscribe,
    subscriber,
)

IMAGE = {"attachment": {"type": "image", "payload": {"url": "https://shop.example/sale.png"}}}


def now_ms() -> float:
    return time.time() * 1000


def send_until_limited(send: Callable[[], SendResult], attempts: int = 100) -> tuple[int, RateLimited]:
    """Send as fast as possible until throttled: (accepted sends before, the RateLimited error)."""
    for accepted in range(attempts):
        try:
            send()
        except RateLimited as error:
            return accepted, error
    raise AssertionError(f"no RateLimited after {attempts} sends")


# -- Send API: the 24 h window -----------------------------------------------------------------


def test_send_to_psid_inside_the_window(sim, graph):
    psid = new_person(sim)
    result = graph.send_to_psid(psid=psid, message=TEXT)
    assert result.recipient_id == psid
    assert result.message_id.startswith("m_")
    assert result.usage is not None and result.usage.percent < 100
    (sent,) = sim.messages(psid=psid)
    assert (sent["mid"], sent["via"], sent["type"], sent["text"]) == (
        result.message_id,
        "psid",
        "text",
        TEXT["text"],
    )


def test_a_person_who_never_wrote_is_outside_the_window(sim, graph):
    psid = new_person(sim, wrote=False)
    with pytest.raises(OutsideWindow) as caught:
        graph.send_to_psid(psid=psid, message=TEXT)
    assert (caught.value.code, caught.value.subcode) == (10, 2018278)
    with pytest.raises(OutsideWindow):  # opt-in requests need the window too
        graph.send_optin_request(psid=psid, title=TITLE, payload="p")
    assert sim.messages() == []


def test_the_window_closes(sim, graph):
    psid = new_person(sim)
    graph.send_to_psid(psid=psid, message=TEXT)
    sim.configure(window_seconds=0.3)  # shrunk afterwards, so a slow machine cannot race it
    wait_for(lambda: not sim.person(psid)["window_open"], what="the window to close")
    with pytest.raises(OutsideWindow):
        graph.send_to_psid(psid=psid, message=TEXT)
    sim.configure(window_seconds=3600)
    sim.send_text(psid, "hello again")  # writing reopens it
    graph.send_to_psid(psid=psid, message=TEXT)
    assert len(sim.messages(psid=psid)) == 2


def test_an_unknown_psid_is_no_user(sim, graph):
    with pytest.raises(RecipientUnavailable) as caught:
        graph.send_to_psid(psid="1234567890123456", message=TEXT)
    assert (caught.value.reason, caught.value.code, caught.value.subcode) == ("no_user", 100, 2018001)


def test_invalid_content_is_a_bad_request(sim, graph):
    psid = new_person(sim)
    with pytest.raises(BadRequest):
        graph.send_to_psid(psid=psid, message={"text": "x" * 2000})
    assert sim.messages() == []


# -- opt-in and marketing tokens ---------------------------------------------------------------


def test_optin_request_accept_and_send_to_the_token(sim, graph):
    psid = new_person(sim)
    request = graph.send_optin_request(
        psid=psid, title=TITLE, payload="campaign=7", cta_text="GET_UPDATES", timezone="UTC"
    )
    card = sim.person(psid)["thread"][-1]
    assert (card["mid"], card["type"], card["optin"]["state"]) == (request.message_id, "optin", "pending")
    assert (card["optin"]["title"], card["optin"]["payload"]) == (TITLE, "campaign=7")

    token = sim.accept_optin(psid)["token"]
    person = sim.person(psid)
    (stored,) = person["tokens"]
    assert (stored["notification_messages_token"], stored["topic_title"]) == (token, TITLE)
    assert person["thread"][-2]["optin"]["state"] == "accepted"
    assert not stored["stopped"]

    result = graph.send_to_token(token=token, message=TEXT)
    assert result.message_id.startswith("m_")
    assert result.recipient_id == psid  # the simulator returns it; Meta may not (reference §2.1)
    assert [(m["via"], m.get("token")) for m in sim.messages(psid=psid)] == [("psid", None), ("token", token)]


def test_a_token_reaches_the_subscriber_outside_the_window(sim, graph):
    psid, token = subscriber(sim, graph)
    sim.configure(window_seconds=0.3)
    wait_for(lambda: not sim.person(psid)["window_open"], what="the window to close")
    with pytest.raises(OutsideWindow):
        graph.send_to_psid(psid=psid, message=TEXT)
    assert graph.send_to_token(token=token, message=TEXT).message_id


def test_a_second_token_send_within_the_cooldown_is_not_eligible_yet(sim, graph):
    sim.configure(followup_limit=0, cooldown_seconds=3600)
    psid, token = subscriber(sim, graph)
    graph.send_to_token(token=token, message=TEXT)
    with pytest.raises(NotEligibleYet) as caught:
        graph.send_to_token(token=token, message=TEXT)
    assert not isinstance(caught.value, OptinAlreadyRequested)
    assert (caught.value.code, caught.value.subcode) == (4, 2018354)
    # The cooldown is per person: a second topic's token is capped too.
    second = subscribe(sim, graph, psid, title="Flash sales")
    with pytest.raises(NotEligibleYet):
        graph.send_to_token(token=second, message=TEXT)
    # Messages inside the window are not marketing messages: they are not capped.
    graph.send_to_psid(psid=psid, message=TEXT)

    sim.configure(cooldown_seconds=0.3)
    wait_for(lambda: sim.person(psid)["next_eligible_at"] < now_ms(), what="the cooldown to end")
    graph.send_to_token(token=second, message=TEXT)
    assert [m["via"] for m in sim.messages(psid=psid)] == ["psid", "token", "psid", "psid", "token"]


def test_a_stopped_token_is_unavailable_until_resumed(sim, graph):
    psid, token = subscriber(sim, graph)
    assert sim.stop_notifications(psid, title=TITLE)["tokens"] == [token]
    with pytest.raises(RecipientUnavailable) as caught:
        graph.send_to_token(token=token, message=TEXT)
    assert (caught.value.reason, caught.value.code, caught.value.subcode) == ("stopped", 10, 1893015)
    sim.resume_notifications(psid, title=TITLE)
    graph.send_to_token(token=token, message=TEXT)


def test_a_person_who_blocked_the_page_is_unavailable(sim, graph):
    psid, token = subscriber(sim, graph)
    sim.block(psid)
    for send in (
        lambda: graph.send_to_token(token=token, message=TEXT),
        lambda: graph.send_to_psid(psid=psid, message=TEXT),
    ):
        with pytest.raises(RecipientUnavailable) as caught:
            send()
        assert (caught.value.reason, caught.value.code) == ("blocked", 551)
    sim.unblock(psid)
    graph.send_to_token(token=token, message=TEXT)


def test_an_unknown_or_foreign_token_is_an_invalid_token(sim, graph):
    with pytest.raises(RecipientUnavailable) as caught:
        graph.send_to_token(token="5702604438276629365", message=TEXT)
    assert (caught.value.reason, caught.value.code) == ("invalid_token", 100)

    sim.create_page(page_id=OTHER_PAGE_ID, access_token=OTHER_TOKEN)
    with closing(make_client(sim, OTHER_TOKEN)) as other:
        other.set_get_started()
        _, foreign = subscriber(sim, other, page_id=OTHER_PAGE_ID)
    with pytest.raises(RecipientUnavailable) as caught:
        graph.send_to_token(token=foreign, message=TEXT)
    assert caught.value.reason == "invalid_token"
    with pytest.raises(RecipientUnavailable, match="invalid"):
        graph.get_token(token=foreign)


def test_the_same_optin_title_twice_within_the_topic_period(sim, graph):
    psid = new_person(sim)
    graph.send_optin_request(psid=psid, title=TITLE, payload="p")
    with pytest.raises(OptinAlreadyRequested) as caught:
        graph.send_optin_request(psid=psid, title=TITLE, payload="p")
    assert (caught.value.code, caught.value.subcode) == (613, 1893016)
    assert isinstance(caught.value, NotEligibleYet) and not isinstance(caught.value, RateLimited)
    graph.send_optin_request(psid=psid, title="Flash sales", payload="p")  # another topic is fine

    sim.configure(optin_topic_seconds=0.3)
    asked_at = sim.person(psid)["thread"][1]["timestamp"]
    wait_for(lambda: now_ms() > asked_at + 300, what="the topic period to end")
    graph.send_optin_request(psid=psid, title=TITLE, payload="p")
    assert [m["optin"]["title"] for m in sim.messages(psid=psid)] == [TITLE, "Flash sales", TITLE]


def test_optin_titles_over_65_characters_are_refused_locally(sim, graph):
    psid = new_person(sim)
    with pytest.raises(ValueError, match="65"):
        graph.send_optin_request(psid=psid, title="x" * 66, payload="p")
    assert sim.stats()["send"] == {"accepted": 0, "rejected": {}}  # nothing reached the simulator
    graph.send_optin_request(psid=psid, title="x" * 65, payload="p")  # the limit itself is fine


# -- rate limits -------------------------------------------------------------------------------


def test_text_sends_beyond_the_rate_are_rate_limited(sim, graph):
    sim.configure(text_rate=5)
    psid = new_person(sim)
    accepted, error = send_until_limited(partial(graph.send_to_psid, psid=psid, message=TEXT))
    assert accepted >= 5  # exactly 5 unless this machine needed over a second for them
    assert (error.code, error.http_status) == (613, 400)
    assert error.usage is not None and error.usage.percent == 100
    assert error.retry_after > 0
    assert sim.stats()["pages"][PAGE_ID]["max_calls_per_second"]["text"] == 5


def test_media_and_text_have_separate_buckets(sim, graph):
    sim.configure(text_rate=3, media_rate=2)
    psid = new_person(sim)
    send_text = partial(graph.send_to_psid, psid=psid, message=TEXT)
    send_image = partial(graph.send_to_psid, psid=psid, message=IMAGE)

    send_until_limited(send_text)
    assert send_image().recipient_id == psid  # the text bucket is full, the media one is not
    send_until_limited(send_image)
    peaks = sim.stats()["pages"][PAGE_ID]["max_calls_per_second"]
    assert peaks == {"text": 3, "media": 2}


# -- batch -------------------------------------------------------------------------------------


def test_batch_returns_each_items_outcome_in_order(sim, graph):
    sim.configure(followup_limit=0, cooldown_seconds=3600)
    inside = new_person(sim)
    never_wrote = new_person(sim, wrote=False)
    blocked = new_person(sim)
    sim.block(blocked)
    _, good_token = subscriber(sim, graph)
    stopped_psid, stopped_token = subscriber(sim, graph)
    sim.stop_notifications(stopped_psid)
    _, capped_token = subscriber(sim, graph)
    graph.send_to_token(token=capped_token, message=TEXT)

    calls = [
        BatchRequest.send(recipient={"id": inside}, message=TEXT, messaging_type="UPDATE"),
        BatchRequest.send(recipient={"id": never_wrote}, message=TEXT, messaging_type="UPDATE"),
        BatchRequest.send(recipient={"id": blocked}, message=TEXT, messaging_type="UPDATE"),
        BatchRequest.send(recipient={"id": "1234567890123456"}, message=TEXT, messaging_type="UPDATE"),
        BatchRequest.send(recipient={"notification_messages_token": good_token}, message=TEXT),
        BatchRequest.send(recipient={"notification_messages_token": stopped_token}, message=TEXT),
        BatchRequest.send(recipient={"notification_messages_token": capped_token}, message=TEXT),
        BatchRequest.send(recipient={"notification_messages_token": "404"}, message=TEXT),
        BatchRequest.send(recipient={"id": inside}, message={"text": ""}, messaging_type="UPDATE"),
        BatchRequest.send(recipient={"id": inside}, sender_action="typing_on"),
    ]
    results = graph.batch(calls)

    kinds = [
        type(r).__name__ + (f"({r.reason})" if isinstance(r, RecipientUnavailable) else "") for r in results
    ]
    assert kinds == [
        "SendResult",
        "OutsideWindow",
        "RecipientUnavailable(blocked)",
        "RecipientUnavailable(no_user)",
        "SendResult",
        "RecipientUnavailable(stopped)",
        "NotEligibleYet",
        "RecipientUnavailable(invalid_token)",
        "BadRequest",
        "SendResult",
    ]
    assert results[0].recipient_id == inside and results[0].message_id.startswith("m_")
    assert results[9] == SendResult(message_id=None, recipient_id=inside, usage=results[9].usage)
    assert all(r.usage is not None for r in results)  # each item's own usage header is parsed
    errors = [r for r in results if isinstance(r, GraphError)]
    assert all(e.http_status == 400 and e.fbtrace_id for e in errors)
    sent = [(m["psid"], m["mid"]) for m in sim.messages()][-2:]
    assert sent == [(inside, results[0].message_id), (results[4].recipient_id, results[4].message_id)]


def test_each_batch_item_counts_against_the_rate_limit(sim, graph):
    sim.configure(text_rate=3)
    psid = new_person(sim)
    results = graph.batch([BatchRequest.send(recipient={"id": psid}, message=TEXT)] * 5)
    assert [type(r) for r in results] == [SendResult] * 3 + [RateLimited] * 2
    assert [r.usage.percent for r in results] == [33, 66, 100, 100, 100]
    assert results[-1].retry_after > 0
    stats = sim.stats()
    assert stats["send"] == {"accepted": 3, "rejected": {"613": 2}}
    assert stats["pages"][PAGE_ID]["max_calls_per_second"]["text"] == 3


# -- attachments -------------------------------------------------------------------------------


def test_upload_an_attachment_then_send_it_by_id(sim, graph):
    psid, token = subscriber(sim, graph)
    attachment_id = graph.upload_attachment(
        page_id=PAGE_ID, attachment_type="image", url="https://shop.example/sale.png"
    )
    assert attachment_id.isdigit()
    by_id = {"attachment": {"type": "image", "payload": {"attachment_id": attachment_id}}}
    graph.send_to_psid(psid=psid, message=by_id)
    graph.send_to_token(token=token, message=by_id)
    sent = sim.messages(psid=psid)[-2:]
    assert [(m["type"], m["attachment_id"], m["url"]) for m in sent] == [
        ("image", attachment_id, "https://shop.example/sale.png")
    ] * 2

    with pytest.raises(BadRequest) as caught:  # an id of another type
        graph.send_to_psid(
            psid=psid, message={"attachment": {"type": "video", "payload": {"attachment_id": attachment_id}}}
        )
    assert caught.value.subcode == 2018047
    with pytest.raises(BadRequest) as caught:  # an unknown id
        graph.send_to_psid(
            psid=psid, message={"attachment": {"type": "image", "payload": {"attachment_id": "42"}}}
        )
    assert caught.value.subcode == 2018074


# -- Marketing Messages API --------------------------------------------------------------------


def test_marketing_messages_api(sim, graph):
    psid, token = subscriber(sim, graph)
    campaign_id = graph.create_marketing_campaign(
        ad_account_id="42", name="Summer", page_id=PAGE_ID, daily_budget=500
    )
    assert campaign_id.isdigit()

    result = graph.send_marketing_message(
        ad_account_id="act_42", message_id=campaign_id, subscription_token=token, message=TEXT
    )
    assert result.message_id == sim.messages(psid=psid)[-1]["tracking_id"] and result.recipient_id is None
    with pytest.raises(NotEligibleYet) as caught:  # one paid message per token every 12 hours
        graph.send_marketing_message(
            ad_account_id="42", message_id=campaign_id, subscription_token=token, message=TEXT
        )
    assert (caught.value.reason, caught.value.code) == ("not_eligible_yet", 2300035)


def test_marketing_messages_api_errors(sim, graph):
    psid, token = subscriber(sim, graph)
    with pytest.raises(BadRequest):  # a Page the account does not know
        graph.create_marketing_campaign(
            ad_account_id="42", name="Summer", page_id="999", lifetime_budget=10_000
        )
    campaign_id = graph.create_marketing_campaign(ad_account_id="42", name="Summer", page_id=PAGE_ID)
    with pytest.raises(RecipientUnavailable) as caught:
        graph.send_marketing_message(
            ad_account_id="42", message_id=campaign_id, subscription_token="404", message=TEXT
        )
    assert (caught.value.reason, caught.value.code) == ("invalid_token", 2300004)
    sim.stop_notifications(psid)
    with pytest.raises(RecipientUnavailable) as caught:
        graph.send_marketing_message(
            ad_account_id="42", message_id=campaign_id, subscription_token=token, message=TEXT
        )
    assert caught.value.reason == "stopped"


# -- transient failures and latency ------------------------------------------------------------


def test_simulated_failures_are_transient(sim, graph):
    psid = new_person(sim)
    sim.configure(failure_rate=1.0)
    with pytest.raises(TransientError) as caught:
        graph.send_to_psid(psid=psid, message=TEXT)
    assert (caught.value.code, caught.value.http_status) == (2, 503)
    with pytest.raises(TransientError):
        graph.subscribed_apps(page_id=PAGE_ID)
    (item,) = graph.batch([BatchRequest.send(recipient={"id": psid}, message=TEXT)])
    assert isinstance(item, TransientError) and item.code == 2
    assert sim.messages() == []

    sim.configure(failure_rate=0.0)
    graph.send_to_psid(psid=psid, message=TEXT)


def test_latency_within_the_timeout_is_fine(sim):
    psid = new_person(sim)
    sim.configure(latency_ms=300)
    with closing(make_client(sim, timeout=(2, 5))) as client:
        started = time.monotonic()
        assert client.send_to_psid(psid=psid, message=TEXT).recipient_id == psid
        assert time.monotonic() - started >= 0.3


def test_latency_beyond_the_read_timeout_is_transient(sim):
    psid = new_person(sim)
    sim.configure(latency_ms=1000)
    with closing(make_client(sim, timeout=(2, 0.1))) as client:
        started = time.monotonic()
        with pytest.raises(TransientError) as caught:
            client.send_to_psid(psid=psid, message=TEXT)
        assert time.monotonic() - started < 1  # the read timeout fired, not the simulator's answer
        assert caught.value.code is None and "ReadTimeout" in str(caught.value)
        assert PAGE_TOKEN not in str(caught.value) and caught.value.__cause__ is None
        sim.configure(latency_ms=0)
        assert client.send_to_psid(psid=psid, message=TEXT).recipient_id == psid  # still usable
