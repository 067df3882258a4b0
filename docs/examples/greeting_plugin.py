"""A onesend plugin: greet each subscriber by first name in text messages."""

from onesend_plugin.hooks import hookimpl

FIRST_NAMES = {"ann": "Ann", "ben": "Ben"}  # your shop: look the customer up instead


@hookimpl
def build_message(campaign, subscriber, message):
    name = FIRST_NAMES.get(subscriber.customer_ref)
    if name and "text" in message:  # ``message`` is this recipient's own copy
        return {**message, "text": f"{name}, {message['text']}"}
    return None  # keep the message as it is
