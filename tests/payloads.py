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
