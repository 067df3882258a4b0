"""One PluginManager for the whole add-on, behind a typed facade.

Calling code reads ``plugins.webhook_event_processed(event=..., page=...)`` rather than
stringly-typed ``pm.hook.x(...)`` calls. Plugins come from the ``onesend`` entry-point group
(third-party packages) and from ``ONESEND["PLUGINS"]`` (dotted paths, for site code).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging

import pluggy
from django.utils.module_loading import import_string

from .. import conf
from . import specs

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "onesend"
#: onesend's own implementations, registered first (plugins may block them by this name).
DEFAULT_PLUGINS = ("onesend_plugin.hooks.builtin",)


def _import(dotted_path: str) -> object:
    """A module (``pkg.plugin``) or an object inside one (``pkg.plugin.Plugin``)."""
    try:
        return importlib.import_module(dotted_path)
    except ModuleNotFoundError as exc:
        if exc.name != dotted_path:
            raise
        return import_string(dotted_path)


class Plugins:
    """The typed facade over onesend's ``pluggy.PluginManager``."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager("onesend")
        self.manager.add_hookspecs(specs)
        self.load_errors: list[str] = []
        self._loaded = False

    def load(self) -> None:
        """Register the configured plugins once. Failures are kept for the system check
        rather than raised, so one broken plugin does not take the whole site down."""
        if self._loaded:
            return
        self._loaded = True
        for name in conf.get("DISABLED_PLUGINS"):
            self.manager.set_blocked(name)
        if conf.get("LOAD_ENTRYPOINTS"):
            self._load_entry_points()
        for path in (*DEFAULT_PLUGINS, *conf.get("PLUGINS")):
            if self.manager.is_blocked(path) or self.manager.has_plugin(path):
                continue
            try:
                self.manager.register(_import(path), name=path)
            except Exception as exc:
                self._failed(f"{path}: {exc!r}")
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            self._failed(str(exc))

    def _load_entry_points(self) -> None:
        """Like pluggy's ``load_setuptools_entrypoints``, but one broken plugin is recorded and
        skipped instead of hiding every plugin found after it."""
        for dist in importlib.metadata.distributions():
            for entry_point in dist.entry_points:
                name = entry_point.name
                if entry_point.group != ENTRY_POINT_GROUP or self.manager.is_blocked(name):
                    continue
                if self.manager.get_plugin(name) is not None:
                    continue
                try:
                    self.manager.register(entry_point.load(), name=name)
                except Exception as exc:
                    self._failed(f"entry point {name} ({dist.metadata['Name']}): {exc!r}")

    def _failed(self, message: str) -> None:
        logger.error("onesend plugin failed to load: %s", message)
        self.load_errors.append(message)

    # -- typed hook callers ------------------------------------------------------------------

    def webhook_event_processed(self, *, event, page) -> None:
        self.manager.hook.webhook_event_processed(event=event, page=page)

    def subscriber_opted_in(self, *, subscriber, source: str, customer_ref: str) -> None:
        self.manager.hook.subscriber_opted_in(subscriber=subscriber, source=source, customer_ref=customer_ref)

    def subscriber_unsubscribed(self, *, subscriber, source: str) -> None:
        self.manager.hook.subscriber_unsubscribed(subscriber=subscriber, source=source)

    def customer_ref_for_request(self, *, request) -> str:
        return self.manager.hook.customer_ref_for_request(request=request) or ""

    def build_message(self, *, campaign, subscriber, message: dict) -> dict:
        return (
            self.manager.hook.build_message(campaign=campaign, subscriber=subscriber, message=message)
            or message
        )

    def before_send(self, *, campaign, subscriber, message: dict) -> bool:
        """Whether every plugin lets this message go."""
        votes = self.manager.hook.before_send(campaign=campaign, subscriber=subscriber, message=message)
        return False not in votes

    def after_send(self, *, campaign, outcomes) -> None:
        self.manager.hook.after_send(campaign=campaign, outcomes=outcomes)

    def audience_filter(self, *, campaign, queryset):
        """Each implementation narrows the result of the previous one."""
        kwargs = {"campaign": campaign}
        for impl in reversed(self.manager.hook.audience_filter.get_hookimpls()):
            kwargs["queryset"] = queryset
            queryset = impl.function(**{name: kwargs[name] for name in impl.argnames}) or queryset
        return queryset

    def implemented(self, hook_name: str) -> bool:
        """Whether any plugin implements a hook: hot loops skip per-recipient calls otherwise."""
        return bool(getattr(self.manager.hook, hook_name).get_hookimpls())

    # -- store events: what store code calls ----------------------------------------------

    def order_placed(
        self, *, order_id, value, currency: str, customer_ref: str, account=None, at=None, properties=None
    ) -> None:
        self.manager.hook.order_placed(
            order_id=order_id,
            value=value,
            currency=currency,
            customer_ref=customer_ref,
            account=account,
            at=at,
            properties=properties,
        )

    def order_fulfilled(self, *, order_id, customer_ref: str, account=None, at=None, properties=None) -> None:
        self.manager.hook.order_fulfilled(
            order_id=order_id, customer_ref=customer_ref, account=account, at=at, properties=properties
        )

    def cart_abandoned(
        self, *, cart_id, value, currency: str, customer_ref: str, account=None, at=None, properties=None
    ) -> None:
        self.manager.hook.cart_abandoned(
            cart_id=cart_id,
            value=value,
            currency=currency,
            customer_ref=customer_ref,
            account=account,
            at=at,
            properties=properties,
        )

    def customer_event(
        self, *, name: str, customer_ref: str, account=None, at=None, properties=None, idempotency_key=None
    ) -> None:
        self.manager.hook.customer_event(
            name=name,
            customer_ref=customer_ref,
            account=account,
            at=at,
            properties=properties,
            idempotency_key=idempotency_key,
        )

    def resolve_subscriber(self, *, account, customer_ref: str):
        return self.manager.hook.resolve_subscriber(account=account, customer_ref=customer_ref)

    def trigger_types(self) -> list[list[tuple[str, str]]]:
        return self.manager.hook.trigger_types()
