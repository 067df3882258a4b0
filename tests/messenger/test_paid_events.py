"""``marketing_message_*`` webhooks of the paid Marketing Messages API, in every envelope Meta's
pages leave possible (Send Messages on Marketing Message API for Messenger, "Webhooks")."""

from datetime import datetime, timezone

import pytest

from onesend_plugin.messenger.events import PaidEvent, UnknownEvent, parse_item, parse_payload

PAGE = 140984918491243
ECHO = {
    "recipient_id": 123123123123,
    "page_id": PAGE,
    "app_id": 12313123123123,
    "timestamp": 1796545246732,
    "mid": "mid.$c12312312312312",
    "marketing_message_tracking_id": "98ecd977-245a-4ec0-a8e0-8b8ecaad8030",
    "messenger_subscription_token": "12348141984909088",
    "message_id": "124141414124",
}
FAILED = {  # Meta's sample: no field, recipient, mid or tracking id
    "app_id": 12313123123123,
    "business_id": 134141414124123,
    "page_id": PAGE,
    "messenger_subscription_token": "12348141984909088",
    "timestamp": 41412414141,
    "error_message": "Unknown Error",
    "message_id": "124141414124",
}


def body(key, items):
    return {"object": "page", "entry": [{"id": str(PAGE), "time": 1, key: items}]}


@pytest.mark.parametrize(
    "payload",
    [
        body("changes", [{"field": "marketing_message_echoes", "value": ECHO}]),
        body("messaging", [{"field": "marketing_message_echoes", **ECHO}]),
    ],
    ids=["changes", "messaging"],
)
def test_an_echo_in_either_envelope(payload):
    [event] = parse_payload(payload)
    assert isinstance(event, PaidEvent)
    assert (event.kind, event.page_id, event.psid) == ("paid_sent", str(PAGE), "123123123123")
    assert event.tracking_id == ECHO["marketing_message_tracking_id"]
    assert (event.token, event.campaign_id, event.mid) == ("12348141984909088", "124141414124", ECHO["mid"])
    assert event.timestamp == datetime.fromtimestamp(1796545246.732, tz=timezone.utc)
    again = parse_item(event.raw, event.page_id)  # as the inbox re-reads a stored event
    assert again == event and again.dedupe_key == event.dedupe_key


@pytest.mark.parametrize("key", ["changes", "messaging"])
def test_a_delivery_failure_without_field_or_tracking_id(key):
    item = {"field": "marketing_message_delivery_failed", "value": FAILED} if key == "changes" else FAILED
    [event] = parse_payload(body(key, [item]))
    assert (event.kind, event.psid, event.tracking_id) == ("paid_failed", "", None)
    assert (event.token, event.campaign_id, event.error_message) == (
        "12348141984909088",
        "124141414124",
        "Unknown Error",
    )


def test_kinds_and_a_hidden_recipient():
    reads = {k: v for k, v in ECHO.items() if k != "mid"} | {"recipient_id": None}
    items = [
        {"field": "marketing_message_deliveries", "value": ECHO},
        {"field": "marketing_message_reads", "value": reads},
        {
            "field": "marketing_message_clicks",
            "value": {k: v for k, v in ECHO.items() if k != "marketing_message_tracking_id"},
        },
        {"field": "feed", "value": {"item": "status"}},
    ]
    delivery, read, click, other = parse_payload(body("changes", items))
    assert [delivery.kind, read.kind, click.kind] == ["paid_delivery", "paid_read", "paid_click"]
    assert (read.psid, read.mid) == ("", None)
    assert click.tracking_id is None
    assert isinstance(other, UnknownEvent)
    assert len({delivery.dedupe_key, read.dedupe_key, click.dedupe_key}) == 3
