"""One PluginManager for the whole add-on.

Calling code reads ``plugins.webhook_event_processed(event=..., page=...)``: every hook of
``specs`` is an attribute of ``plugins``, so the specs are the only place a hook is written.
Plugins come from the ``onesend`` entry-point group (third-party packages) and from
``ONESEND["PLUGINS"]`` (dotted paths, for site code).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy
from django import urls
from django.utils.module_loading import import_string

from .. import conf
from . import specs

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from ..models import Campaign, Subscriber

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "onesend"
#: The names of the hooks in ``specs`` (what ``@hookspec`` marked).
HOOKS = frozenset(name for name, value in vars(specs).items() if hasattr(value, "onesend_spec"))


@dataclass(frozen=True)
class LoadError:
    """A plugin left out at loading: its name (entry point or dotted path), its entry point's
    distribution, and the error, kept apart so listings can show each."""

    plugin: str
    error: str
    distribution: str = ""

    def __str__(self) -> str:
        where = f"entry point {self.plugin} ({self.distribution})" if self.distribution else self.plugin
        return f"{where}: {self.error}"


class PluginError(Exception):
    """A plugin's hook implementation raised ``error`` (also this exception's cause). Raised by
    ``Plugins.call_contained`` and ``audience_filter``; the message names the plugin, so it can
    be shown to editors as it is."""

    def __init__(self, plugin: str, hook: str, error: Exception) -> None:
        super().__init__(f"The plugin {plugin!r} failed in {hook}: {error!r}")
        self.plugin, self.hook, self.error = plugin, hook, error


def _import(dotted_path: str) -> object:
    """A module (``pkg.plugin``) or an object inside one (``pkg.plugin.Plugin``)."""
    try:
        return importlib.import_module(dotted_path)
    except ModuleNotFoundError as exc:
        if exc.name != dotted_path:
            raise
        return import_string(dotted_path)


class Plugins:
    """onesend's ``pluggy.PluginManager`` (``manager``), its loading, and its hooks as attributes."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager("onesend")
        self.manager.add_hookspecs(specs)
        self.failures: list[LoadError] = []
        #: The dotted paths of onesend's own implementations, as ``load()`` was given them.
        self.builtin: tuple[str, ...] = ()
        #: The plugins' views (``register_urls``), each plugin's under ``<name>/`` in the URL
        #: namespace of its name; ``urls.py`` mounts them under ``plugins/``.
        self.urlpatterns: list[urls.URLResolver] = []
        self._loaded = False

    @property
    def load_errors(self) -> list[str]:
        """The failures as one message each, for the system check (``onesend.E005``)."""
        return [str(failure) for failure in self.failures]

    def load(self, builtin: Sequence[str] = ()) -> None:
        """Register the plugins once: the entry points, then ``builtin`` (onesend's own
        implementations, dotted paths the caller names, so this package needs none of the
        packages that implement hooks), then the site's. Failures are kept for the system check
        rather than raised, so one broken plugin does not take the whole site down."""
        if self._loaded:
            return
        self._loaded = True
        self.builtin = tuple(builtin)
        for name in conf.get("DISABLED_PLUGINS"):
            self.manager.set_blocked(name)
        if conf.get("LOAD_ENTRYPOINTS"):
            self._load_entry_points()
        for path in (*builtin, *conf.get("PLUGINS")):
            if self.manager.is_blocked(path) or self.manager.has_plugin(path):
                continue
            try:
                self.manager.register(_import(path), name=path)
            except Exception as exc:
                self._failed(LoadError(path, repr(exc)))
        self._leave_out_unknown_hooks()
        self._mount_urls()

    def _leave_out_unknown_hooks(self) -> None:
        """Unregister every plugin implementing a hook that no spec declares (a typo would
        otherwise run nowhere, silently). pluggy names one such plugin at a time."""
        while True:
            try:
                self.manager.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.manager.get_name(exc.plugin) or repr(exc.plugin)
                self.manager.unregister(exc.plugin)
                self._failed(LoadError(name, str(exc)))

    def _mount_urls(self) -> None:
        """Ask each plugin for its URL patterns, once, at start-up (before any URLconf is
        imported). A plugin whose ``register_urls`` raises or returns anything but a list of URL
        patterns gets no URLs and is reported as a load error: the site still serves."""
        for impl in reversed(self.manager.hook.register_urls.get_hookimpls()):
            name = impl.plugin_name
            try:
                patterns = call_one("register_urls", impl, {})
            except PluginError as exc:
                self._failed(LoadError(name, f"register_urls raised {exc.error!r}"))
                continue
            if not isinstance(patterns, list | tuple) or not all(
                isinstance(pattern, urls.URLPattern | urls.URLResolver) for pattern in patterns
            ):
                self._failed(
                    LoadError(name, f"register_urls returned {patterns!r}, not a list of URL patterns")
                )
                continue
            self.urlpatterns.append(urls.path(f"{name}/", urls.include((list(patterns), name))))

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
                    self._failed(LoadError(name, repr(exc), dist.metadata["Name"]))

    def _failed(self, failure: LoadError) -> None:
        logger.error("onesend plugin failed to load: %s", failure)
        self.failures.append(failure)

    def __getattr__(self, name: str) -> pluggy.HookCaller:
        """``plugins.<hook>(**arguments)`` calls a hook of ``specs`` (pluggy's
        ``manager.hook.<hook>``; for ``specs.STORE_EVENT_HOOKS``, onesend's own implementations
        only, the others being ``listeners``): the arguments a caller leaves out get the spec's
        defaults, and the result is what pluggy gives (every implementation's non-None result,
        in call order, or the first one for the spec's ``firstresult`` hooks)."""
        if name not in HOOKS:
            raise AttributeError(f"{type(self).__name__!r} has no attribute or hook {name!r}")
        if name in specs.STORE_EVENT_HOOKS:  # reporting an event: onesend's own record it
            others = [plugin for key, plugin in self.manager.list_name_plugin() if key not in self.builtin]
            return self.manager.subset_hook_caller(name, remove_plugins=others)
        return getattr(self.manager.hook, name)

    def listeners(self, hook_name: str) -> list[pluggy.HookImpl]:
        """A hook's implementations other than onesend's own, in pluggy's call order: for a
        store event hook, the plugins told about an event once onesend has processed it."""
        impls = getattr(self.manager.hook, hook_name).get_hookimpls()
        return [impl for impl in reversed(impls) if impl.plugin_name not in self.builtin]

    def call_contained(
        self, hook_name: str, *, check: Callable[[Any], None] | None = None, **arguments: Any
    ) -> Any:
        """Call a hook as pluggy would (newest plugin first, ``tryfirst``/``trylast``, the
        first non-None result for ``firstresult`` hooks, else the list of them), but one
        implementation at a time, so an implementation that raises is known by name: it
        raises ``PluginError``, and the caller records it against the one recipient or campaign
        concerned. ``check`` is given each non-None result: what it raises (the result is not
        what the hook returns) is that implementation's failure, the same way. A
        ``firstresult`` hook stops at the failure; any other hook calls every implementation
        first, then raises the first failure. Hook wrappers are not run."""
        caller = getattr(self.manager.hook, hook_name)
        firstresult = caller.spec.opts.get("firstresult", False)
        arguments = {**caller.spec.kwargdefaults, **arguments}
        results, errors = [], []
        for impl in reversed(caller.get_hookimpls()):
            if impl.wrapper or impl.hookwrapper:
                continue
            try:
                result = call_one(hook_name, impl, arguments, check)
            except PluginError as exc:
                if firstresult:
                    raise
                errors.append(exc)
                continue
            if result is not None:
                if firstresult:
                    return result
                results.append(result)
        if errors:
            raise errors[0]
        return None if firstresult else results

    def implemented(self, hook_name: str) -> bool:
        """Whether any plugin implements a hook: hot loops skip per-recipient calls otherwise."""
        return bool(getattr(self.manager.hook, hook_name).get_hookimpls())

    def audience_filter(self, *, campaign: Campaign, queryset: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
        """The one chained hook, so the one with its own caller: each implementation narrows
        the result of the previous one (in pluggy's call order), None keeping it. An
        implementation that raises raises ``PluginError``."""
        arguments: dict[str, Any] = {"campaign": campaign}
        for impl in reversed(self.manager.hook.audience_filter.get_hookimpls()):
            arguments["queryset"] = queryset
            queryset = call_one("audience_filter", impl, arguments) or queryset
        return queryset


def call_one(
    hook_name: str,
    impl: pluggy.HookImpl,
    arguments: dict[str, Any],
    check: Callable[[Any], None] | None = None,
) -> Any:
    """One implementation, given the arguments it accepts; what it raises, or what ``check``
    raises for its non-None result, becomes a ``PluginError`` naming its plugin. Every
    contained call (the engine's, the store's listeners) goes through here."""
    accepted = {name: arguments[name] for name in (*impl.argnames, *impl.kwargnames) if name in arguments}
    try:
        result = impl.function(**accepted)
        if check is not None and result is not None:
            check(result)
        return result
    except Exception as exc:
        raise PluginError(impl.plugin_name, hook_name, exc) from exc
