"""Webhook parsing: every event shape of the reference (§1.3, §3.6) plus the odd ones Meta may send."""

from datetime import datetime, timezone

import pytest

from onesend_plugin.messenger.events import (
    DeliveryEvent,
    EchoEvent,
    MessageEvent,
    OptinEvent,
    PostbackEvent,
    ReactionEvent,
    ReadEvent,
    Referral,
    ReferralEvent,
    UnknownEvent,
)

from .webhook_samples import (
    DELIVERY,
    ECHO,
    MESSAGE,
    OPTIN_WEBHOOK,
    PAGE,
    POSTBACK,
    PSID,
    READ,
    REFERRAL,
    TOKEN,
    only,
    optin_item,
    utc,
    webhook,
)

# -- one test per shape ------------------------------------------------------------------------


def test_optin_reference_sample():
    event = only(OPTIN_WEBHOOK)
    assert isinstance(event, OptinEvent)
    assert (event.kind, event.page_id, event.psid) == ("optin", PAGE, PSID)
    assert event.timestamp == utc(1700000000000)
    assert event.optin_type == "notification_messages"
    assert event.token == TOKEN
    assert event.title == "Weekly deals from Acme"
    assert event.payload == "campaign=summer;ref=qr_store1"
    assert event.timezone == "America/Los_Angeles"
    assert event.token_expires_at == utc(1458779227000)
    assert event.token_status == "REFRESHED"
    assert event.status == "stop"
    assert event.raw is OPTIN_WEBHOOK["entry"][0]["messaging"][0]


def test_fresh_optin_has_no_status_and_optional_fields_may_be_absent():
    event = only(webhook(optin_item()))
    assert (event.kind, event.token, event.status) == ("optin", TOKEN, None)
    assert event.token_expires_at is None and event.timezone is None and event.payload is None


@pytest.mark.parametrize(
    "wire, status",
    [
        ("STOP_NOTIFICATIONS", "stop"),
        ("STOP NOTIFICATIONS", "stop"),
        ("stop notifications", "stop"),
        ("Stop-Notifications", "stop"),
        (" STOP ", "stop"),
        ("RESUME_NOTIFICATIONS", "resume"),
        ("RESUME NOTIFICATIONS", "resume"),
        ("resume", "resume"),
    ],
)
def test_optin_stop_and_resume_spellings(wire, status):
    event = only(webhook(optin_item(notification_messages_status=wire)))
    assert isinstance(event, OptinEvent) and event.status == status


def test_unrecognised_optin_status_is_not_mistaken_for_an_optin():
    assert isinstance(only(webhook(optin_item(notification_messages_status="PAUSE"))), UnknownEvent)


@pytest.mark.parametrize("expiry", [1458779227, 1458779227000, "1458779227000"])
def test_token_expiry_in_seconds_or_ms(expiry):
    event = only(webhook(optin_item(token_expiry_timestamp=expiry)))
    assert event.token_expires_at == datetime(2016, 3, 24, 0, 27, 7, tzinfo=timezone.utc)


def test_plugin_optin_with_user_ref():
    item = {
        "sender": {"user_ref": "UR_1"},
        "recipient": {"id": PAGE},
        "timestamp": 1,
        "optin": {"ref": "PASS"},
    }
    event = only(webhook(item))
    assert isinstance(event, OptinEvent)
    assert (event.kind, event.psid, event.ref, event.token, event.optin_type) == (
        "plugin_optin",
        "",
        "PASS",
        None,
        None,
    )


def test_delivery_with_mids():
    event = only(webhook(DELIVERY))
    assert isinstance(event, DeliveryEvent)
    assert (event.kind, event.page_id, event.psid) == ("delivery", PAGE, PSID)
    assert event.mids == ("mid.1458668856218:ed81099e15d3f4f233",)
    assert event.watermark == utc(1458668856253)
    assert event.timestamp is None  # the reference sample has no top-level timestamp


def test_delivery_without_mids():
    item = {**DELIVERY, "delivery": {"watermark": 1458668856253}}
    event = only(webhook(item))
    assert isinstance(event, DeliveryEvent) and event.mids == ()


def test_read():
    event = only(webhook(READ))
    assert isinstance(event, ReadEvent)
    assert (event.kind, event.psid, event.watermark) == ("read", PSID, utc(1458668856253))
    assert event.timestamp == utc(1458668856463)


def test_postback_with_referral():
    event = only(webhook(POSTBACK))
    assert isinstance(event, PostbackEvent)
    assert (event.kind, event.mid, event.title, event.payload) == (
        "postback",
        "m_...",
        "Start Chatting",
        "DEVELOPER_DEFINED_PAYLOAD",
    )
    assert event.referral == Referral(
        ref="qr_store1", source="SHORTLINK", referral_type="OPEN_THREAD", ad_id=None
    )


def test_postback_without_referral():
    item = {**POSTBACK, "postback": {"mid": "m_2", "title": "Shop", "payload": "SHOP"}}
    event = only(webhook(item))
    assert isinstance(event, PostbackEvent) and event.referral is None


def test_referral():
    event = only(webhook(REFERRAL))
    assert isinstance(event, ReferralEvent)
    assert (event.kind, event.psid, event.ref, event.source, event.referral_type, event.ad_id) == (
        "referral",
        PSID,
        "qr_store1",
        "SHORTLINK",
        "OPEN_THREAD",
        None,
    )
    assert event.timestamp == utc(1458692752478)


def test_ad_referral_keeps_the_ad_id_as_string():
    item = {
        **REFERRAL,
        "referral": {"ref": "r", "source": "ADS", "type": "OPEN_THREAD", "ad_id": 6045246247433},
    }
    assert only(webhook(item)).ad_id == "6045246247433"


def test_message_with_quick_reply():
    event = only(webhook(MESSAGE))
    assert isinstance(event, MessageEvent)
    assert (event.kind, event.psid, event.mid, event.text, event.quick_reply_payload) == (
        "message",
        PSID,
        "m_...",
        "STOP",
        "UNSUB",
    )
    assert event.attachments == ()
    assert event.timestamp == utc(1457764197627)


def test_message_with_attachments_only():
    attachment = {"type": "image", "payload": {"url": "https://cdn.example/x.jpg"}}
    item = {**MESSAGE, "message": {"mid": "m_img", "attachments": [attachment]}}
    event = only(webhook(item))
    assert isinstance(event, MessageEvent)
    assert (event.text, event.quick_reply_payload, event.attachments) == (None, None, (attachment,))


def test_echo_is_addressed_to_the_person():
    event = only(webhook(ECHO))
    assert isinstance(event, EchoEvent)
    assert (event.kind, event.page_id, event.psid, event.mid) == ("echo", PAGE, PSID, "m_echo")
    assert (event.text, event.app_id, event.metadata) == ("Hi", "1517776481860111", "campaign:7")


def test_reaction():
    item = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": 1,
        "reaction": {"mid": "m_1", "action": "react", "reaction": "love", "emoji": "\u2764"},
    }
    event = only(webhook(item))
    assert isinstance(event, ReactionEvent)
    assert (event.kind, event.mid, event.action, event.reaction, event.emoji) == (
        "reaction",
        "m_1",
        "react",
        "love",
        "\u2764",
    )
