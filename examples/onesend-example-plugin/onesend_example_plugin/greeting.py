"""Greet people by first name: "{first_name}" in a campaign's text becomes the first name the
shop sent with the customer's last order (``orders.py`` passes it on). Someone whose first name
isn't known is skipped rather than sent a literal "{first_name}"."""

from onesend_plugin.hooks import hookimpl
from onesend_plugin.models import StoreEvent

PLACEHOLDER = "{first_name}"


def first_name(subscriber) -> str:
    """The name given with the customer's last order, "" when there is none."""
    if not subscriber.customer_ref:
        return ""
    last_order = (
        StoreEvent.objects.filter(
            account=subscriber.page.account, customer_ref=subscriber.customer_ref, name="order_placed"
        )
        .order_by("-occurred_at")
        .first()
    )
    return str(last_order.properties.get("first_name") or "") if last_order else ""


def with_text(message) -> dict | None:
    """The part of the message holding its text: a text message, or a button template's payload
    (onesend sends a text with buttons as one). Media and cards have none."""
    payload = message.get("attachment", {}).get("payload", {})
    return next((part for part in (message, payload) if PLACEHOLDER in part.get("text", "")), None)


@hookimpl
def build_message(subscriber, message):
    part = with_text(message)
    name = part and first_name(subscriber)  # looked up only for a message that asks for it
    if not name:
        return None  # the placeholder stays, and before_send skips this person
    part["text"] = part["text"].replace(PLACEHOLDER, name)  # ``message`` is this person's own copy
    return message


@hookimpl
def before_send(message):
    return with_text(message) is None  # False (a veto) when "{first_name}" is still there
