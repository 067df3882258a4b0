"""GraphClient request building, against a fake ``requests`` transport: the exact request shapes.

Send API, webhook subscriptions, token listing, batch, marketing calls and the session set-up.
The happy paths against the real simulator over HTTP live in the integration tests.
"""

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest

from onesend_plugin.messenger.client import (
    MAX_BATCH,
    BatchRequest,
    GraphClient,
    SendResult,
    TokenInfo,
    make_session,
)
from onesend_plugin.messenger.errors import AuthError, RecipientUnavailable, TransientError, Usage

from .graph_fake import BUC, PSID, TOKEN

# -- Send API ----------------------------------------------------------------------------------


def test_send_to_psid(client, transport):
    transport.reply({"recipient_id": PSID, "message_id": "m_1"}, headers={"X-Business-Use-Case-Usage": BUC})
    result = client.send_to_psid(psid=PSID, message={"text": "hi"})
    assert result == SendResult(
        message_id="m_1", recipient_id=PSID, usage=Usage(percent=85, regain_access_minutes=2)
    )
    assert (transport.request.method, transport.path, transport.query) == ("POST", "/v99.0/me/messages", {})
    assert transport.authorization == f"Bearer {TOKEN}"
    assert transport.json == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "hi"},
    }
    assert transport.sent[-1][1]["timeout"] == (1, 2)


def test_send_to_token_omits_messaging_type(client, transport):
    transport.reply({"message_id": "m_2"})
    result = client.send_to_token(token="T1", message={"text": "sale"})
    assert result == SendResult(message_id="m_2", recipient_id=None, usage=None)
    assert transport.json == {"recipient": {"notification_messages_token": "T1"}, "message": {"text": "sale"}}


def test_send_message_with_tag_and_sender_action(client, transport):
    transport.reply({"recipient_id": PSID})
    client.send_message(recipient={"id": PSID}, sender_action="typing_on")
    assert transport.json == {"recipient": {"id": PSID}, "sender_action": "typing_on"}
    transport.reply({"recipient_id": PSID, "message_id": "m_3"})
    client.send_message(
        recipient={"id": PSID}, message={"text": "x"}, messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE"
    )
    assert transport.json["tag"] == "ACCOUNT_UPDATE"


@pytest.mark.parametrize("kwargs", [{}, {"message": {"text": "x"}, "sender_action": "mark_seen"}])
def test_send_message_needs_exactly_one_of_message_or_sender_action(client, transport, kwargs):
    with pytest.raises(ValueError, match="exactly one"):
        client.send_message(recipient={"id": PSID}, **kwargs)
    assert transport.sent == []


def test_send_optin_request_uses_the_flat_template(client, transport):
    transport.reply({"recipient_id": PSID, "message_id": "m_4"})
    client.send_optin_request(psid=PSID, title="Weekly deals", payload="campaign=7", cta_text="GET_UPDATES")
    assert transport.json == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "notification_messages",
                    "title": "Weekly deals",
                    "payload": "campaign=7",
                    "notification_messages_cta_text": "GET_UPDATES",
                },
            }
        },
    }


def test_send_optin_request_all_fields(client, transport):
    transport.reply({"message_id": "m_5"})
    client.send_optin_request(
        psid=PSID, title="x" * 65, payload="p", image_url="https://img", cta_text="ALLOW", timezone="UTC"
    )
    payload = transport.json["message"]["attachment"]["payload"]
    assert (payload["image_url"], payload["notification_messages_timezone"]) == ("https://img", "UTC")


@pytest.mark.parametrize("title", ["", "x" * 66])
def test_send_optin_request_validates_the_title_locally(client, transport, title):
    with pytest.raises(ValueError, match="title"):
        client.send_optin_request(psid=PSID, title=title, payload="p")
    assert transport.sent == []


def test_upload_attachment(client, transport):
    transport.reply({"attachment_id": 1857777774821032})
    assert (
        client.upload_attachment(page_id="111", attachment_type="image", url="https://x/y.png")
        == "1857777774821032"
    )
    assert (transport.request.method, transport.path) == ("POST", "/v99.0/111/message_attachments")
    assert transport.json == {
        "message": {
            "attachment": {"type": "image", "payload": {"url": "https://x/y.png", "is_reusable": True}}
        }
    }


def test_a_2xx_answer_without_the_expected_field_is_transient(client, transport):
    transport.reply({"unexpected": True})
    with pytest.raises(TransientError, match="attachment_id"):
        client.upload_attachment(page_id="111", attachment_type="image", url="https://x/y.png")


# -- subscriptions -----------------------------------------------------------------------------


def test_subscribed_apps_edge(client, transport):
    transport.reply({"success": True})
    client.subscribe_app(page_id="111", fields=["messages", "messaging_optins"])
    assert (transport.request.method, transport.path) == ("POST", "/v99.0/111/subscribed_apps")
    assert transport.query == {"subscribed_fields": "messages,messaging_optins"}
    assert transport.authorization == f"Bearer {TOKEN}"

    transport.reply({"data": [{"id": "app1", "subscribed_fields": ["messages"]}]})
    assert client.subscribed_apps(page_id="111") == [{"id": "app1", "subscribed_fields": ["messages"]}]
    assert transport.request.method == "GET"

    transport.reply({"success": True})
    client.unsubscribe_app(page_id="111")
    assert (transport.request.method, transport.path) == ("DELETE", "/v99.0/111/subscribed_apps")


# -- tokens ------------------------------------------------------------------------------------


def token_row(token, **fields):
    return {"notification_messages_token": token, "recipient_id": PSID, **fields}


def test_list_tokens_follows_the_after_cursor(client, transport):
    transport.reply(
        {
            "data": [token_row("T1", creation_timestamp=1700000000, next_eligible_time=1700172800000)],
            "paging": {
                "cursors": {"before": "B", "after": "C1"},
                "next": f"https://graph.facebook.com/next?access_token={TOKEN}",
            },
        }
    )
    transport.reply({"data": [token_row("T2")], "paging": {"cursors": {"before": "C1", "after": "C2"}}})
    tokens = list(client.list_tokens(page_id="111", limit=2))
    assert [t.token for t in tokens] == ["T1", "T2"]
    assert tokens[0].created_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert tokens[0].next_eligible_at == datetime(2023, 11, 16, 22, 13, 20, tzinfo=timezone.utc)
    queries = [parse_qs(urlsplit(req.url).query) for req, _ in transport.sent]
    assert [urlsplit(req.url).netloc for req, _ in transport.sent] == ["graph.test", "graph.test"]
    assert [q.get("after") for q in queries] == [None, ["C1"]]
    assert all(q["limit"] == ["2"] for q in queries)
    assert transport.path == "/v99.0/111/notification_message_tokens"


@pytest.mark.parametrize(
    "second_page",
    [
        {"data": [], "paging": {"cursors": {"after": "C2"}, "next": "n"}},
        {
            "data": [token_row("T2")],
            "paging": {"cursors": {"after": "C1"}, "next": "n"},
        },  # cursor did not move
    ],
)
def test_list_tokens_stops_on_an_empty_page_or_a_stuck_cursor(client, transport, second_page):
    transport.reply({"data": [token_row("T1")], "paging": {"cursors": {"after": "C1"}, "next": "n"}})
    transport.reply(second_page)
    assert len(list(client.list_tokens(page_id="111"))) == len(second_page["data"]) + 1
    assert len(transport.sent) == 2


def test_get_token(client, transport):
    transport.reply(
        {"topic_title": "Weekly", "token_expiry_timestamp": 1715550000, "user_token_status": "NOT_REFRESHED"}
    )
    info = client.get_token(token="T9")
    assert transport.path == "/v99.0/notification_messages_T9"
    assert isinstance(info, TokenInfo)
    assert (info.token, info.topic_title, info.token_status) == ("T9", "Weekly", "NOT_REFRESHED")
    assert info.expires_at == datetime(2024, 5, 12, 21, 40, tzinfo=timezone.utc)


# -- batch -------------------------------------------------------------------------------------


def test_batch_request_shares_the_send_body():
    call = BatchRequest.send(recipient={"id": PSID}, message={"text": "hi"}, messaging_type="UPDATE")
    assert call.as_batch_item() == {
        "method": "POST",
        "relative_url": "me/messages",
        "body": "recipient=%7B%22id%22%3A+%221234567890123456%22%7D&messaging_type=UPDATE"
        "&message=%7B%22text%22%3A+%22hi%22%7D",
    }
    with pytest.raises(ValueError):
        BatchRequest.send(recipient={"id": PSID})


@pytest.mark.parametrize(
    "message", [{"text": "Sale: 30 % off — «today» & tomorrow 🎉"}, '{"text":"pre-encoded"}']
)
def test_a_batch_item_form_encodes_like_its_json(message):
    call = BatchRequest.send(recipient={"notification_messages_token": "T+/="}, message=message)
    assert call.as_form_item() == quote_plus(json.dumps(call.as_batch_item()))


def test_batch_returns_per_call_outcomes_in_order(client, transport):
    headers = [{"name": "X-Business-Use-Case-Usage", "value": BUC}]
    error = {"error": {"message": "blocked", "code": 551, "type": "OAuthException", "fbtrace_id": "F"}}
    transport.reply(
        [
            {
                "code": 200,
                "headers": headers,
                "body": json.dumps({"recipient_id": PSID, "message_id": "m_1"}),
            },
            {"code": 400, "headers": [], "body": json.dumps(error)},
            None,
            {"code": 200, "body": "not json"},
        ],
        headers={"X-App-Usage": '{"call_count": 5}'},
    )
    calls = [
        BatchRequest.send(recipient={"notification_messages_token": f"T{i}"}, message={"text": "x"})
        for i in range(4)
    ]
    ok, blocked, timed_out, garbled_but_sent = client.batch(calls)

    assert ok == SendResult(
        message_id="m_1", recipient_id=PSID, usage=Usage(percent=85, regain_access_minutes=2)
    )
    assert isinstance(blocked, RecipientUnavailable) and blocked.reason == "blocked"
    assert blocked.usage == Usage(percent=5)  # the item had no usage headers: the call's apply
    assert isinstance(timed_out, TransientError) and "timed out" in str(timed_out)
    assert garbled_but_sent == SendResult(message_id=None, recipient_id=None, usage=Usage(percent=5))

    assert (transport.request.method, transport.path, transport.query) == ("POST", "/v99.0/", {})
    assert transport.authorization is None  # Meta documents the batch token as a form field
    form = transport.form
    assert form["access_token"] == TOKEN
    assert [item["body"] for item in json.loads(form["batch"])] == [c.as_batch_item()["body"] for c in calls]


def test_batch_limit(client, transport):
    with pytest.raises(ValueError, match="50"):
        client.batch([BatchRequest.send(recipient={"id": PSID}, message={"text": "x"})] * (MAX_BATCH + 1))
    assert transport.sent == []


def test_batch_call_failure_raises(client, transport):
    transport.reply({"error": {"message": "Invalid OAuth access token", "code": 190}}, status=400)
    with pytest.raises(AuthError):
        client.batch([BatchRequest.send(recipient={"id": PSID}, message={"text": "x"})])


def test_batch_answer_of_the_wrong_length_raises(client, transport):
    transport.reply([None])
    with pytest.raises(TransientError, match="does not match"):
        client.batch([BatchRequest.send(recipient={"id": PSID}, message={"text": "x"})] * 2)


# -- Marketing Messages API --------------------------------------------------------------------


def test_create_marketing_campaign(client, transport):
    transport.reply({"id": 120200000})
    assert client.create_marketing_campaign(
        ad_account_id="42", name="Summer", page_id="111", daily_budget=500
    ) == ("120200000")
    assert transport.path == "/v99.0/act_42/message_campaign"
    assert transport.json == {"name": "Summer", "page_id": "111", "daily_budget": 500}


def test_create_marketing_campaign_without_a_budget_sends_none(client, transport):
    transport.reply({"id": 120200000})
    client.create_marketing_campaign(ad_account_id="act_42", name="S", page_id="111")
    assert transport.json == {"name": "S", "page_id": "111"}


@pytest.mark.parametrize(
    "budgets", [{"daily_budget": 1, "lifetime_budget": 2}, {"daily_budget": 0}, {"lifetime_budget": -5}]
)
def test_create_marketing_campaign_refuses_two_budgets_or_none_above_zero(client, transport, budgets):
    with pytest.raises(ValueError, match="budget"):
        client.create_marketing_campaign(ad_account_id="act_42", name="S", page_id="111", **budgets)
    assert transport.sent == []


def test_send_marketing_message(client, transport):
    transport.reply({"message_id": "m_mm"})
    result = client.send_marketing_message(
        ad_account_id="act_42", message_id="MSG", subscription_token="SUB", message={"text": "hi"}
    )
    assert result.message_id == "m_mm"
    assert transport.path == "/v99.0/act_42/messages"
    assert transport.json == {
        "message_id": "MSG",
        "messenger_delivery_data": {"subscription_token": "SUB"},
        "message": {"text": "hi"},
    }


# -- session -----------------------------------------------------------------------------------


def test_default_session_pools_connections_and_never_retries():
    client = GraphClient(TOKEN)
    adapter = client.session.get_adapter("https://graph.facebook.com/v25.0/me/messages")
    assert adapter.max_retries.total == 0
    assert adapter._pool_maxsize == 32
    assert (client.base_url, client.version, client.timeout) == (
        "https://graph.facebook.com",
        "v25.0",
        (3.05, 20),
    )
    client.close()


def test_close_leaves_a_shared_session_open(client, transport):
    client.close()
    transport.reply({"data": []})
    assert client.subscribed_apps(page_id="111") == []


def test_make_session_pool_size():
    assert make_session(pool_size=4).get_adapter("http://127.0.0.1:8765/")._pool_maxsize == 4
