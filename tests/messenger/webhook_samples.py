"""Webhook samples of the reference (§1.3, §3.6) and helpers to wrap and parse them, for the events tests."""

import json
from datetime import datetime, timezone

from onesend_plugin.messenger.events import parse_payload

PAGE = "111222333444555"
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
