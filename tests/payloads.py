"""Meta webhook bodies in the shapes of the Messenger Platform reference."""

import itertools
import time

_clock = itertools.count(int(time.time() * 1000))


def now_ms() -> int:
    return next(_clock)


def entry(page_id: str, *items: dict) -> dict:
    return {"id": page_id, "time": now_ms(), "messaging": list(items)}


def body(*entries: dict) -> dict:
    return {"object": "page", "entry": list(entries)}


def message(page_id: str, psid: str, text: str, *, mid: str | None = None, quick_reply: str | None = None):
    msg = {"mid": mid or f"m_{now_ms()}", "text": text}
    if quick_reply:
        msg["quick_reply"] = {"payload": quick_reply}
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": now_ms(), "message": msg}


def referral(page_id: str, psid: str, ref: str) -> dict:
    return {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": now_ms(),
        "referral": {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"},
    }


def delivery(page_id: str, psid: str, watermark: int, mids=None) -> dict:
    event = {"watermark": watermark}
    if mids:
        event["mids"] = list(mids)
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "delivery": event}


def read(page_id: str, psid: str, watermark: int) -> dict:
    return {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": now_ms(),
        "read": {"watermark": watermark},
    }


def postback(
    page_id: str, psid: str, payload: str, *, ref: str | None = None, title: str = "Get Started"
) -> dict:
    event = {"mid": f"m_{now_ms()}", "title": title, "payload": payload}
    if ref is not None:
        event["referral"] = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": now_ms(), "postback": event}


def optin(
    page_id: str, psid: str, *, token: str, title: str, payload: str = "", status: str | None = None
) -> dict:
    event = {
        "type": "notification_messages",
        "payload": payload,
        "notification_messages_token": token,
        "notification_messages_timezone": "Europe/Paris",
        "title": title,
    }
    if status:
        event["notification_messages_status"] = status
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": now_ms(), "optin": event}


def one(page_id: str, item: dict) -> dict:
    """A POST body holding one event."""
    return body(entry(page_id, item))
