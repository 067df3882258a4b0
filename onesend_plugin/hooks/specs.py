"""The hook specifications: what plugins may implement, and what onesend and store code call.

Each hook is written here once: its parameters and return type, and its documentation, which
is its docstring (the hook reference of docs/plugins.md is rendered from these by
``onesend_plugin.hooks.reference``). Plugins implement any of them with
``@onesend_plugin.hooks.hookimpl`` and accept any subset of the arguments. Hooks are called with
keyword arguments only; a parameter with a default may be left out by the caller, and
implementations then get the default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    from django.db.models import QuerySet
    from django.http import HttpRequest
    from django.urls import URLPattern, URLResolver

    from ..messenger.client import SendResult
    from ..messenger.errors import GraphError
    from ..messenger.events import MessagingEvent
    from ..models import Account, Campaign, Delivery, MessengerPage, StoreEvent, Subscriber
    from .types import Message, Segment, StoreCustomer

hookspec = pluggy.HookspecMarker("onesend")


# -- Store events: store code calls these (``plugins.order_placed(...)``). The call reaches
# onesend's own implementations only (``onesend_plugin.store.builtin``), which record the event;
# every other plugin's implementation is a listener, called once the event is processed, whatever
# its source (Python, the signed endpoint, Shopify).

#: The hooks that report a store event (their calls go to onesend's own implementations).
STORE_EVENT_HOOKS = ("order_placed", "order_fulfilled", "cart_abandoned", "customer_event")


@hookspec
def order_placed(
    order_id: str | int,
    value: Decimal | str | int,
    currency: str,
    customer_ref: str,
    account: Account | None = None,
    at: datetime | None = None,
    properties: dict[str, Any] | None = None,
) -> None:
    """The shop took an order. onesend records an ``order_placed`` event (idempotency key
    ``order:<order_id>``, so retries with the same ``order_id`` count once). The worker records
    a conversion, attributed to the campaign the customer last clicked, and triggers
    ``order_placed`` flows. A plugin implementing it is a listener: called once per order,
    whatever its source, once processed (``value`` then a ``Decimal``; see
    ``store_event_recorded``)."""


@hookspec
def order_fulfilled(
    order_id: str | int,
    customer_ref: str,
    account: Account | None = None,
    at: datetime | None = None,
    properties: dict[str, Any] | None = None,
) -> None:
    """The shop shipped an order. onesend records ``order_fulfilled`` (key
    ``fulfilled:<order_id>``), which triggers its flows."""


@hookspec
def cart_abandoned(
    cart_id: str | int,
    value: Decimal | str | int,
    currency: str,
    customer_ref: str,
    account: Account | None = None,
    at: datetime | None = None,
    properties: dict[str, Any] | None = None,
) -> None:
    """A customer left a cart. onesend records ``cart_abandoned`` (key ``cart:<cart_id>``),
    which triggers its flows. Give the reminder flow the exit event ``order_placed``, so it
    stops if they buy meanwhile."""


@hookspec
def customer_event(
    name: str,
    customer_ref: str,
    account: Account | None = None,
    at: datetime | None = None,
    properties: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> None:
    """Anything else a customer did, recorded by ``name``: for example a trigger type that a
    plugin added (``trigger_types``)."""


@hookspec
def store_event_recorded(event: StoreEvent) -> None:
    """Called once for every store event, whatever its source (Python, the signed endpoint,
    Shopify), in the worker after the event is processed and committed (an order's conversion
    recorded, its flows queued). ``event`` is the ``StoreEvent``. A listener that raises is
    logged and its error kept on the event (``listener_errors``); the event stays processed
    and the other listeners are still called. The failed listener alone is called again a
    minute later, then after a pause that doubles, five times in all."""


# -- Who the customer is on Messenger.


@hookspec(firstresult=True)
def resolve_subscriber(account: Account, customer_ref: str) -> Subscriber | None:
    """Return the ``Subscriber`` this shop customer is, or None to let the next plugin (and
    finally onesend's identity link made at opt-in) decide."""


@hookspec(firstresult=True)
def customer_ref_for_request(request: HttpRequest) -> str | None:
    """Return the shop's reference for the visitor of ``request`` (e.g. the customer id), or
    None. Subscribe buttons put it, signed, into the subscription link, so the subscriber is
    linked to the shop customer when they opt in."""


@hookspec
def store_customers(account: Account) -> list[StoreCustomer]:  # type: ignore[empty-body]
    """Return the shop's customers of ``account`` (``onesend_plugin.hooks.StoreCustomer``): those
    who accepted marketing and gave an e-mail or a phone can be uploaded, hashed, to a Page's
    Marketing Messages audience at Meta, which gives the people it matches on Messenger a
    subscription token ("Upload store customers to Meta" on the Page; Meta's Custom Audience for
    Marketing Messages). Every plugin's lists are concatenated; a customer_ref given twice counts
    once (the first). Called in the worker at each upload; a customer no longer given, or no
    longer accepting marketing, is taken out of the audience then. If it raises, the upload
    fails with the error and nothing is sent."""


# -- Trigger types.


@hookspec
def trigger_types() -> list[tuple[str, str]]:  # type: ignore[empty-body]
    """Return ``[(event_name, label), ...]``: extra events flows can be triggered by, offered
    besides onesend's ``order_placed``, ``order_fulfilled`` and ``cart_abandoned``.
    ``onesend_plugin.store.trigger_types()`` lists them all."""


# -- Sending: broadcasts and flows go through the same engine, so these apply to both.


@hookspec(firstresult=True)
def build_message(campaign: Campaign, subscriber: Subscriber, message: Message) -> Message | None:
    """Return a replacement Send API ``message`` for this recipient (e.g. a personalised
    text), or None to keep it. ``message`` is this recipient's own deep copy, so changing it
    in place changes this recipient's message only. Its shapes are in
    ``onesend_plugin.hooks.types``. If it raises, this recipient is not sent the message: their
    row fails with reason ``plugin_error`` and the error, and the others are sent. A replacement
    must be a dict with a ``text`` or an ``attachment`` (Meta judges the rest): anything else,
    ``{}`` included, fails the row the same way, the error saying what was returned. When the
    campaign carries onesend's Unsubscribe quick reply, it is put back (last, once) after
    ``build_message`` and ``before_send``: a replacement needs none, and no plugin can remove,
    change or duplicate it."""


@hookspec
def before_send(campaign: Campaign, subscriber: Subscriber, message: Message) -> bool | None:
    """Return False to veto sending ``message`` to ``subscriber``: the recipient is skipped
    (reason ``vetoed``) and does not get this campaign later. Every implementation is asked.
    If one raises, the recipient's row fails with reason ``plugin_error``, as for
    ``build_message``. The Unsubscribe quick reply is put back after it, as after
    ``build_message``."""


@hookspec
def after_send(campaign: Campaign, outcomes: list[tuple[Delivery, SendResult | GraphError]]) -> None:
    """Called with each batch's outcomes once they are saved: ``(delivery, result)`` pairs
    where result is a ``SendResult`` or a ``GraphError``. Runs in the sending worker, so keep
    it quick. Nothing it does (or raises) changes the outcomes: an error is logged and shown
    as the campaign's last error."""


@hookspec
def audience_filter(campaign: Campaign, queryset: QuerySet[Subscriber]) -> QuerySet[Subscriber] | None:
    """Return a narrower ``Subscriber`` queryset for a campaign's audience (custom segments),
    or None to keep it. Chained: each plugin's result is passed to the next. Broadcasts only:
    a flow's recipient is the person the event resolved to. If it raises, the campaign is not
    started, and the editor is shown the error."""


@hookspec
def audience_segments() -> list[Segment]:  # type: ignore[empty-body]
    """Return the segments this plugin offers (``onesend_plugin.hooks.Segment``: a ``name``,
    a ``label`` and a ``select(queryset)`` function). Every plugin's lists are concatenated and
    offered in the campaign editor, next to the tags and sources ("Everyone" when none is
    picked); broadcasts only. The campaign stores the chosen ``name``; its ``select`` narrows
    the audience after the tags, refs and dates and before ``audience_filter``, whenever the
    audience is counted and when the campaign starts. Called each time the editor, a count or
    a start needs the list, so return definitions and do the querying in ``select``.

    A name offered twice (by two plugins, or twice by one) is offered by neither, and a
    campaign that uses it does not start; the editor and the system check (``onesend.W002``)
    name the plugins. If this hook raises, that plugin's segments are not offered and the editor
    shows the error; the other plugins' segments still are. If ``select`` raises, the campaign
    is not started, as for ``audience_filter``. A campaign whose segment is no longer offered
    (its plugin removed or disabled) does not start either: the error names the segment."""


# -- Subscribers and webhooks.


@hookspec
def subscriber_opted_in(subscriber: Subscriber, source: str, customer_ref: str) -> None:
    """Someone accepted the opt-in request (or re-subscribed). ``source`` is the entry point
    (the subscription link's ref, e.g. ``"footer"``, or ``"direct"``); ``customer_ref`` is the
    shop's customer reference a signed link linked the subscriber to ("" if none): store
    integrations use it to link the shop customer to them. Called after commit, once the
    consent is recorded and the welcome message queued; a listener that raises is recorded on
    the webhook event and called again, as for ``webhook_event_processed``."""


@hookspec
def subscriber_unsubscribed(subscriber: Subscriber, source: str) -> None:
    """Marketing messages stopped. ``source`` says how: ``"keyword"`` (STOP),
    ``"quick_reply"`` (the Unsubscribe quick reply), ``"unsubscribe_button"``, ``"meta_control"`` (Meta's own stop control), ``"send_error"``
    (Meta reported them blocked or unreachable) or ``"admin"``. Called after commit, once the
    confirmation (if any) is queued. From a webhook (the first four), a listener that raises is
    recorded on the event and called again, as for ``webhook_event_processed``; from a send
    error or the admin there is no event to keep it on: it is logged and affects nothing
    else."""


@hookspec
def webhook_event_processed(event: MessagingEvent, page: MessengerPage) -> None:
    """Called once for every distinct webhook event onesend has processed (duplicates and
    replays are not processed again), after commit: ``event`` is the typed event
    (``onesend_plugin.messenger.events``) and ``page`` the ``MessengerPage`` it was for. Runs
    in the worker, so keep it quick and enqueue anything slow. A listener that raises is logged
    and its error kept on the event (``WebhookEvent.listener_errors``); the event stays
    processed and the other listeners and events are still told. The failed listener alone is
    called again a minute later, then after a pause that doubles, five times in all."""


# -- A plugin's own views.


@hookspec
def register_urls() -> list[URLPattern | URLResolver]:  # type: ignore[empty-body]
    """Return the URL patterns of the plugin's own views (``django.urls.path(...)``), for
    example an endpoint a shop posts its orders to. onesend mounts them under
    ``<onesend's prefix>/plugins/<plugin name>/`` (``/onesend/plugins/<plugin name>/`` when the
    site includes ``onesend_plugin.urls`` under ``onesend/``), in the URL namespace
    ``onesend:plugins:<plugin name>``: ``reverse("onesend:plugins:woo:order_created")``.
    Called once, at start-up. If it raises, or returns anything but a list of URL patterns,
    the plugin gets no URLs and the error is reported like a plugin that failed to load
    (``onesend.E005``); the rest of the site serves as usual. Protect a view that a shop
    calls with ``onesend_plugin.store.signed_request``."""
