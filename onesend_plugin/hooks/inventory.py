"""What is loaded: each registered plugin with where it came from, its distribution and version
and the hooks it implements, and each plugin that failed to load. One description, so the
``onesend_plugins`` command and the admin's plugins page always say the same thing."""

from __future__ import annotations

import importlib.metadata
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from .. import conf
from .manager import ENTRY_POINT_GROUP, LoadError

if TYPE_CHECKING:
    from .manager import Plugins

BUILTIN = "built-in"
ENTRY_POINT = "entry point"
SETTING = "setting"
#: Registered by code calling ``plugins.manager.register()`` (a test, another app).
CODE = "code"


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin. ``distribution`` and ``version`` are empty for code that is not
    part of an installed package (a site's own module)."""

    name: str
    source: str
    distribution: str
    version: str
    hooks: tuple[str, ...]


@dataclass(frozen=True)
class Loaded:
    plugins: list[PluginInfo]
    errors: list[LoadError]

    def as_dict(self) -> dict:
        return asdict(self)


def loaded(manager: Plugins | None = None) -> Loaded:
    """The plugins of ``manager`` (the site's ``plugins`` by default), by name, and its
    load errors in the order they happened."""
    if manager is None:
        from . import plugins as manager
    entry_points: dict[str, importlib.metadata.EntryPoint] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        entry_points.setdefault(entry_point.name, entry_point)  # the first one found is loaded
    described = [
        _describe(manager, name, plugin, entry_points.get(name))
        for name, plugin in sorted(manager.manager.list_name_plugin())
    ]
    return Loaded(plugins=described, errors=list(manager.failures))


def _describe(
    manager: Plugins, name: str, plugin: object, entry_point: importlib.metadata.EntryPoint | None
) -> PluginInfo:
    hooks = tuple(sorted(caller.name for caller in manager.manager.get_hookcallers(plugin) or ()))
    if entry_point is not None and entry_point.dist is not None:
        dist = entry_point.dist
        return PluginInfo(name, ENTRY_POINT, dist.metadata["Name"], dist.version, hooks)
    source = BUILTIN if name in manager.builtin else SETTING if name in conf.get("PLUGINS") else CODE
    module = plugin.__name__ if isinstance(plugin, ModuleType) else getattr(plugin, "__module__", None) or ""
    return PluginInfo(name, source, *_distribution_of(module), hooks)


def _distribution_of(module: str) -> tuple[str, str]:
    """The installed distribution providing a module, and its version; empty when none does."""
    names = importlib.metadata.packages_distributions().get(module.partition(".")[0], [])
    if not names:
        return "", ""
    return names[0], importlib.metadata.version(names[0])
