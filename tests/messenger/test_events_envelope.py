"""Webhook parsing around the events: the envelope (entries, standby, garbage, malformed payloads),
the dedupe keys that make redeliveries harmless, and timestamps."""

import json
from datetime import datetime, timezone

import pytest

from onesend_plugin.messenger.events import MalformedPayload, UnknownEvent, parse_payload, parse_timestamp

from .webhook_samples import (
    DELIVERY,
    ECHO,
    MESSAGE,
    PAGE,
    POSTBACK,
    PSID,
    READ,
    REFERRAL,
    only,
    optin_item,
    webhook,
)

OTHER_PAGE = "999888777666555"


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
