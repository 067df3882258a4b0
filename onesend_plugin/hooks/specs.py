"""The hook specifications: what plugins may implement.

Plugins implement any of these with ``@onesend_plugin.hooks.hookimpl`` and accept any subset
of the arguments. Hooks are called with keyword arguments only.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("onesend")


@hookspec
def webhook_event_processed(event, page) -> None:
    """Called once for every webhook event onesend has processed.

    ``event`` is the typed event (``onesend_plugin.messenger.events.MessagingEvent``) and
    ``page`` the ``MessengerPage`` it was for. Duplicates and replays of an event are not
    processed again, so this fires at most once per distinct event. Runs inside the worker;
    keep it quick and enqueue anything slow.
    """


@hookspec
def subscriber_opted_in(subscriber, source, customer_ref) -> None:
    """A person accepted the opt-in request (or re-subscribed).

    ``source`` is the entry point (the subscription link's ref, e.g. ``"footer"``, or
    ``"direct"``); ``customer_ref`` is the shop's customer reference a signed link linked the
    subscriber to ("" if none) — store integrations use it to link the shop customer to them.
    Called after the subscription is committed.
    """


@hookspec
def subscriber_unsubscribed(subscriber, source) -> None:
    """A person stopped marketing messages. ``source`` says how: ``"keyword"`` (STOP),
    ``"unsubscribe_button"``, ``"meta_control"`` (Meta's own stop control), ``"send_error"``
    (Meta reported them blocked or unreachable) or ``"admin"``. Called after commit."""


@hookspec(firstresult=True)
def customer_ref_for_request(request) -> str | None:
    """The shop's reference for the visitor of ``request`` (e.g. a customer id), or None.

    Subscribe buttons put it, signed, into the subscription link, so the subscriber is linked
    to the shop customer when they opt in. The first plugin returning a value wins.
    """


@hookspec(firstresult=True)
def build_message(campaign, subscriber, message) -> dict | None:
    """Return a replacement for the Send API ``message`` one subscriber gets (e.g. a
    personalised text), or None to keep it. ``message`` must not be modified in place: it is
    shared by all recipients. The first plugin returning a message wins."""


@hookspec
def before_send(campaign, subscriber, message) -> bool | None:
    """Return False to veto sending ``message`` to ``subscriber``: the recipient is skipped
    (reason ``vetoed``) and is not sent this campaign later."""


@hookspec
def after_send(campaign, outcomes) -> None:
    """Called with each batch's outcomes as soon as Meta answered, before they are saved:
    ``outcomes`` is a list of ``(delivery, result)`` pairs where result is a ``SendResult`` or
    a ``GraphError``. Runs in the sending worker: keep it quick."""


@hookspec
def audience_filter(campaign, queryset):
    """Return a narrowed ``Subscriber`` queryset for a campaign's audience (custom segments),
    or None to leave it. Each plugin's result is passed on to the next."""


# -- Store events: store code calls these (``plugins.order_placed(...)``); onesend's own
# implementations record the event and queue its processing, never sending anything inline.


@hookspec
def order_placed(order_id, value, currency, customer_ref, account, at, properties) -> None:
    """The shop took an order. onesend records it as a conversion, attributed to the campaign
    the customer last clicked, and triggers ``order_placed`` flows. Retries with the same
    ``order_id`` count once. ``account`` may be None when the install has one account."""


@hookspec
def order_fulfilled(order_id, customer_ref, account, at, properties) -> None:
    """The shop shipped an order (triggers ``order_fulfilled`` flows)."""


@hookspec
def cart_abandoned(cart_id, value, currency, customer_ref, account, at, properties) -> None:
    """A customer left a cart (triggers ``cart_abandoned`` flows; an ``order_placed`` exit
    event stops the reminder if they buy meanwhile)."""


@hookspec
def customer_event(name, customer_ref, account, at, properties, idempotency_key) -> None:
    """Anything else a customer did, by name (e.g. a trigger type a plugin registered)."""


@hookspec(firstresult=True)
def resolve_subscriber(account, customer_ref):
    """Return the ``Subscriber`` that is this shop customer, or None to let the next plugin (and
    finally onesend's identity link made at opt-in) decide. First result wins."""


@hookspec
def trigger_types() -> list:
    """Return ``[(event_name, label), ...]``: events flows can be triggered by, offered in the
    flow editor besides onesend's own (orders and carts)."""
