"""Webhook parsing: every event shape of the reference (§1.3, §3.6) plus the odd ones Meta may send."""

import json
from datetime import datetime, timezone

import pytest

from onesend_plugin.messenger.events import (
    DeliveryEvent,
    EchoEvent,
    MalformedPayload,
    MessageEvent,
    OptinEvent,
    PostbackEvent,
    ReactionEvent,
    ReadEvent,
    Referral,
    ReferralEvent,
    UnknownEvent,
    parse_payload,
    parse_timestamp,
)

PAGE = "111222333444555"
OTHER_PAGE = "999888777666555"
PSID = "1234567890123456"
TOKEN = "123456789987654321"


def fixture(text: str) -> dict:
    """A reference sample (verbatim, comments removed) with its placeholders filled in."""
    for placeholder, value in {"<PSID>": PSID, "<PAGE_ID>": PAGE, "<TOKEN>": TOKEN}.items():
        text = text.replace(placeholder, value)
    return json.loads(text)


def webhook(*items: dict, page_id: str = PAGE) -> dict:
    return {"object": "page", "entry": [{"id": page_id, "time": 1458692752478, "messaging": list(items)}]}


def only(data: dict):
    [event] = parse_payload(data)
    return event


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


# §1.3, verbatim (the sample shows every field at once, including the stop status).
OPTIN_WEBHOOK = fixture("""
{"object":"page","entry":[{"id":"<PAGE_ID>","time":1700000000000,"messaging":[{
  "sender":{"id":"<PSID>"}, "recipient":{"id":"<PAGE_ID>"}, "timestamp":1700000000000,
  "optin":{
    "type":"notification_messages", "payload":"campaign=summer;ref=qr_store1",
    "notification_messages_token":"<TOKEN>",
    "notification_messages_frequency":"DAILY",
    "notification_messages_timezone":"America/Los_Angeles",
    "token_expiry_timestamp":1458779227000,
    "user_token_status":"REFRESHED",
    "notification_messages_status":"STOP_NOTIFICATIONS",
    "title":"Weekly deals from Acme"
  }}]}]}
""")

# §3.6, verbatim.
DELIVERY = fixture("""
{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},
 "delivery":{"mids":["mid.1458668856218:ed81099e15d3f4f233"],"watermark":1458668856253}}
""")
READ = fixture("""
{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":1458668856463,
 "read":{"watermark":1458668856253}}
""")
POSTBACK = fixture("""
{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":1458692752478,
 "postback":{"mid":"m_...","title":"Start Chatting","payload":"DEVELOPER_DEFINED_PAYLOAD",
             "referral":{"ref":"qr_store1","source":"SHORTLINK","type":"OPEN_THREAD"}}}
""")
REFERRAL = fixture("""
{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":1458692752478,
 "referral":{"ref":"qr_store1","source":"SHORTLINK","type":"OPEN_THREAD"}}
""")
MESSAGE = fixture("""
{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":1457764197627,
 "message":{"mid":"m_...","text":"STOP","quick_reply":{"payload":"UNSUB"}}}
""")
ECHO = {
    "sender": {"id": PAGE},
    "recipient": {"id": PSID},
    "timestamp": 1457764197700,
    "message": {
        "is_echo": True,
        "app_id": 1517776481860111,
        "metadata": "campaign:7",
        "mid": "m_echo",
        "text": "Hi",
    },
}


def optin_item(**optin) -> dict:
    base = {"type": "notification_messages", "notification_messages_token": TOKEN, "title": "Weekly deals"}
    return {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": 1700000000000,
        "optin": {**base, **optin},
    }


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


# -- envelope ----------------------------------------------------------------------------------


def test_every_entry_and_item_of_a_multi_page_post():
    data = {
        "object": "page",
        "entry": [
            {"id": PAGE, "time": 1, "messaging": [MESSAGE, READ]},
            {"id": OTHER_PAGE, "time": 2, "messaging": [{**DELIVERY, "recipient": {"id": OTHER_PAGE}}]},
            {"id": PAGE, "time": 3, "messaging": [REFERRAL]},
        ],
    }
    events = parse_payload(data)
    assert [(e.kind, e.page_id) for e in events] == [
        ("message", PAGE),
        ("read", PAGE),
        ("delivery", OTHER_PAGE),
        ("referral", PAGE),
    ]


def test_standby_items_are_flagged():
    data = {"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [READ], "standby": [MESSAGE]}]}
    events = parse_payload(data)
    assert [(e.kind, e.standby) for e in events] == [("read", False), ("message", True)]


def test_page_id_falls_back_to_the_page_side_of_the_item():
    data = {"object": "page", "entry": [{"time": 1, "messaging": [MESSAGE, ECHO]}]}
    assert [(e.kind, e.page_id, e.psid) for e in parse_payload(data)] == [
        ("message", PAGE, PSID),
        ("echo", PAGE, PSID),
    ]


def test_entry_and_item_ids_are_strings():
    item = {**READ, "sender": {"id": 1234567890123456}}
    event = only(webhook(item, page_id=111222333444555))
    assert (event.page_id, event.psid) == (PAGE, PSID)


@pytest.mark.parametrize(
    "item",
    [
        "not an object",
        None,
        [],
        {},
        {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "pass_thread_control": {"new_owner_app_id": "1"}},
        {**MESSAGE, "message": {"text": "no mid"}},
        {**MESSAGE, "message": "text"},
        {**MESSAGE, "sender": {}},
        {**MESSAGE, "sender": "x"},
        {**DELIVERY, "delivery": {"mids": ["m_1"]}},
        {**READ, "read": {"watermark": "soon"}},
        {**READ, "read": None},
        {**POSTBACK, "postback": ["x"]},
        {**REFERRAL, "referral": 5},
        optin_item(type="one_time_notif_req"),
        {"optin": {"type": "notification_messages"}},
    ],
)
def test_garbage_items_become_unknown_events(item):
    event = only(webhook(item))
    assert isinstance(event, UnknownEvent)
    assert (event.kind, event.page_id) == ("unknown", PAGE)
    assert event.raw == (item if isinstance(item, dict) else {"value": item})
    assert len(event.dedupe_key) == 64


def test_garbage_does_not_hide_the_good_items_around_it():
    events = parse_payload(webhook(MESSAGE, "junk", READ))
    assert [e.kind for e in events] == ["message", "unknown", "read"]


@pytest.mark.parametrize(
    "entry",
    [
        {"id": PAGE, "time": 1, "changes": [{"field": "feed", "value": {}}]},
        {"id": PAGE, "messaging": "nope"},
        "not an entry",
    ],
)
def test_non_messaging_entries_become_unknown_events(entry):
    [event] = parse_payload({"object": "page", "entry": [entry]})
    assert isinstance(event, UnknownEvent)


def test_empty_entry_list():
    assert parse_payload({"object": "page", "entry": []}) == []


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "page",
        {},
        {"object": "instagram", "entry": []},
        {"object": "page"},
        {"object": "page", "entry": {}},
    ],
)
def test_malformed_payload(data):
    with pytest.raises(MalformedPayload):
        parse_payload(data)
    assert issubclass(MalformedPayload, ValueError)


# -- dedupe keys -------------------------------------------------------------------------------


def keys(*items: dict, page_id: str = PAGE) -> list[str]:
    return [event.dedupe_key for event in parse_payload(webhook(*items, page_id=page_id))]


ALL_SHAPES = [DELIVERY, READ, POSTBACK, REFERRAL, MESSAGE, ECHO, optin_item(), {"x": 1}]


def test_dedupe_keys_are_sha256_hex_and_stable_across_redeliveries():
    first = keys(*ALL_SHAPES)
    redelivered = parse_payload(
        {
            "object": "page",
            "entry": [{"id": PAGE, "time": 999, "messaging": json.loads(json.dumps(ALL_SHAPES))}],
        }
    )
    assert [e.dedupe_key for e in redelivered] == first
    assert all(len(key) == 64 and int(key, 16) >= 0 for key in first)
    assert len(set(first)) == len(first)


def test_dedupe_key_of_unknown_items_ignores_key_order():
    assert keys({"a": 1, "b": [1, 2]}) == keys({"b": [1, 2], "a": 1})


@pytest.mark.parametrize(
    "a, b",
    [
        # same message redelivered with another timestamp is the same event...
        pytest.param(MESSAGE, {**MESSAGE, "timestamp": 1}, id="message-timestamp"),
        pytest.param(POSTBACK, {**POSTBACK, "timestamp": 1}, id="postback-timestamp"),
        pytest.param(READ, {**READ, "timestamp": 1}, id="read-timestamp"),
        pytest.param(DELIVERY, {**DELIVERY, "delivery": {"watermark": 1458668856253}}, id="delivery-mids"),
    ],
)
def test_same_identity_same_key(a, b):
    assert keys(a) == keys(b)


@pytest.mark.parametrize(
    "a, b",
    [
        pytest.param(MESSAGE, {**MESSAGE, "message": {"mid": "m_other", "text": "STOP"}}, id="mid"),
        pytest.param(
            MESSAGE,
            {**ECHO, "message": {**ECHO["message"], "mid": MESSAGE["message"]["mid"]}},
            id="message-vs-echo",
        ),
        pytest.param(READ, {**DELIVERY, "delivery": {"watermark": 1458668856253}}, id="read-vs-delivery"),
        pytest.param(READ, {**READ, "read": {"watermark": 1458668856254}}, id="watermark"),
        pytest.param(READ, {**READ, "sender": {"id": "42"}}, id="read-psid"),
        pytest.param(optin_item(), optin_item(notification_messages_status="STOP"), id="optin-vs-stop"),
        pytest.param(
            optin_item(notification_messages_status="STOP"),
            {**optin_item(notification_messages_status="STOP"), "timestamp": 1700000000001},
            id="stop-timestamp",
        ),
        pytest.param(optin_item(), optin_item(notification_messages_token="other"), id="optin-token"),
        pytest.param(REFERRAL, {**REFERRAL, "timestamp": 1}, id="referral-timestamp"),
        pytest.param(REFERRAL, {**REFERRAL, "referral": {"ref": "other"}}, id="referral-ref"),
        pytest.param({"x": 1}, {"x": 2}, id="unknown"),
        pytest.param(
            {**POSTBACK, "postback": {"payload": "A"}},
            {**POSTBACK, "postback": {"payload": "B"}},
            id="postback-no-mid",
        ),
    ],
)
def test_different_identity_different_key(a, b):
    assert keys(a) != keys(b)


@pytest.mark.parametrize("item", [MESSAGE, READ, {"x": 1}], ids=["message", "read", "unknown"])
def test_dedupe_key_includes_the_page(item):
    assert keys(item, page_id=PAGE) != keys(item, page_id=OTHER_PAGE)


# -- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (1700000000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)),
        (1700000000000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)),
        (1700000000123, datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)),
        (32503680000, datetime(3000, 1, 1, tzinfo=timezone.utc)),  # "far in the future", in seconds
        (None, None),
        ("", None),
        ("soon", None),
        (True, None),
        ({}, None),
        (float("nan"), None),
        (1e300, None),
    ],
)
def test_parse_timestamp(value, expected):
    assert parse_timestamp(value) == expected
