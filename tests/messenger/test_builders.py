"""The bodies onesend sends, byte for byte as JSON (key order included: Meta's simulator and the
batch's quoting cache see exactly these strings), and the readers that walk them back."""

import json

import pytest

from onesend_plugin.messenger import builders, login, signature
from onesend_plugin.messenger.client import BatchRequest

BUTTON = builders.url_button("Shop", "https://shop.test/")


def dumped(value) -> str:
    return json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        (builders.text("Hi"), '{"text":"Hi"}'),
        (
            builders.button_template("Sale", [BUTTON]),
            '{"attachment":{"type":"template","payload":{"template_type":"button","text":"Sale",'
            '"buttons":[{"type":"web_url","url":"https://shop.test/","title":"Shop"}]}}}',
        ),
        (
            builders.generic_card("Sale", "https://img.test/a.png", subtitle="Today", buttons=[BUTTON]),
            '{"attachment":{"type":"template","payload":{"template_type":"generic","elements":[{"title":"Sale",'
            '"image_url":"https://img.test/a.png","subtitle":"Today",'
            '"buttons":[{"type":"web_url","url":"https://shop.test/","title":"Shop"}]}]}}}',
        ),
        (
            builders.generic_card("Sale", "https://img.test/a.png"),
            '{"attachment":{"type":"template","payload":{"template_type":"generic","elements":[{"title":"Sale",'
            '"image_url":"https://img.test/a.png"}]}}}',
        ),
        (
            builders.media("video", "https://v.test/a.mp4"),
            '{"attachment":{"type":"video","payload":{"url":"https://v.test/a.mp4","is_reusable":true}}}',
        ),
        (
            builders.with_quick_replies(builders.text("Hi"), [builders.quick_reply("Stop", "STOP")]),
            '{"text":"Hi","quick_replies":[{"content_type":"text","title":"Stop","payload":"STOP"}]}',
        ),
    ],
)
def test_campaign_messages(message, wire):
    assert dumped(message) == wire


def test_paid_message_and_its_batch_call():
    body = builders.paid_message(message_id="m1", subscription_token="T", message=builders.text("Hi"))
    assert (
        dumped(body)
        == '{"message_id":"m1","messenger_delivery_data":{"subscription_token":"T"},"message":{"text":"Hi"}}'
    )
    assert builders.ad_account_path("42") == builders.ad_account_path("act_42") == "act_42"
    for ad_account in ("42", "act_42"):
        call = BatchRequest.paid(
            ad_account_id=ad_account, message_id="m1", subscription_token="T", message=builders.text("Hi")
        )
        assert (call.relative_url, dumped(call.body)) == ("act_42/messages", dumped(body))


def test_send_body_leaves_out_what_is_not_given():
    body = builders.send_body(recipient=builders.to_token("T"), message=builders.text("Hi"))
    assert dumped(body) == '{"recipient":{"notification_messages_token":"T"},"message":{"text":"Hi"}}'
    with pytest.raises(ValueError):
        builders.send_body(recipient=builders.to_psid("1"))


def test_button_urls_are_read_and_replaced_in_one_order():
    card = builders.generic_card(
        "t", "https://img.test/a.png", buttons=[BUTTON, builders.url_button("B", "u2")]
    )
    assert [b["url"] for b in builders.url_buttons(card)] == ["https://shop.test/", "u2"]
    moved = builders.with_button_urls(card, lambda n: f"https://click.test/{n}")
    assert [b["url"] for b in builders.url_buttons(moved)] == ["https://click.test/0", "https://click.test/1"]
    assert builders.url_buttons(card)[0]["url"] == "https://shop.test/"  # the original is left alone
    text = builders.text("no buttons")
    assert builders.with_button_urls(text, str) is text


@pytest.mark.parametrize(
    ("message", "media"),
    [
        (builders.text("t"), False),
        (builders.button_template("t", [BUTTON]), False),
        (builders.generic_card("t", "https://img.test/a.png"), True),
        (builders.media("file", "https://f.test/a.pdf"), True),
    ],
)
def test_is_media(message, media):
    assert builders.is_media(message) is media


@pytest.mark.parametrize(
    ("params", "answer"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "v", "hub.challenge": "42"}, "42"),
        ({"hub.mode": "subscribe", "hub.verify_token": "w", "hub.challenge": "42"}, None),
        ({"hub.mode": "unsubscribe", "hub.verify_token": "v", "hub.challenge": "42"}, None),
        ({"hub.challenge": "42"}, None),
    ],
)
def test_subscription_challenge(params, answer):
    assert signature.challenge(params, "v") == answer


def test_login_dialog_url_and_answer():
    url = login.dialog_url(
        "https://www.facebook.test/",
        "v25.0",
        app_id="9",
        redirect_uri="https://a.test/cb",
        state="s",
        scopes=["x", "y"],
    )
    assert url == (
        "https://www.facebook.test/v25.0/dialog/oauth?client_id=9&redirect_uri=https%3A%2F%2Fa.test%2Fcb"
        "&state=s&scope=x%2Cy&response_type=code"
    )
    assert login.read_answer({"state": "s", "code": "c"}) == login.DialogAnswer(state="s", code="c", error="")
    cancelled = login.read_answer({"state": "s", "error": "access_denied", "error_reason": "user_denied"})
    assert cancelled.error == "user_denied"
