"""The segments plugins offer (``audience_segments``) and how a campaign's chosen one narrows its
audience. Plugins are asked each time, so installing or disabling one changes what is offered at
once; what cannot be offered safely (a plugin that raises, a name offered twice) is left out and
said, never guessed at."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from ..hooks import PluginError, Segment, plugins
from ..hooks.manager import call_one
from ..models import Subscriber

HOOK = "audience_segments"


class SegmentError(Exception):
    """A campaign's segment can't be applied: it is no longer offered, or offered twice."""


@dataclass(frozen=True)
class Offered:
    """What the editor can pick: each segment by name, with the plugin offering it, and the
    problems that kept others out (one message each, naming the plugin)."""

    segments: dict[str, tuple[str, Segment]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: Names offered more than once, with the plugins offering them.
    duplicates: dict[str, list[str]] = field(default_factory=dict)

    def choices(self) -> list[tuple[str, str]]:
        return [(name, segment.label) for name, (_, segment) in self.segments.items()]


def offered() -> Offered:
    """Every plugin's segments, in pluggy's call order. A plugin that raises or returns
    something other than a list of ``Segment`` offers none; a name offered twice is offered by
    neither, so a campaign never reaches people another plugin meant."""
    found: dict[str, list[tuple[str, Segment]]] = {}
    errors = []
    for impl in reversed(plugins.manager.hook.audience_segments.get_hookimpls()):
        try:
            segments = call_one(HOOK, impl, {})
            if not isinstance(segments, list | tuple) or not all(isinstance(s, Segment) for s in segments):
                error = TypeError(f"returned {segments!r}, not a list of Segment")
                raise PluginError(impl.plugin_name, HOOK, error)
        except PluginError as exc:
            errors.append(str(exc))
            continue
        for segment in segments:
            found.setdefault(segment.name, []).append((impl.plugin_name, segment))
    duplicates = {
        name: [plugin for plugin, _ in entries] for name, entries in found.items() if len(entries) > 1
    }
    for name, owners in duplicates.items():
        errors.append(
            f"The segment {name!r} is offered more than once (by {', '.join(map(repr, owners))}), "
            "so it is not offered: rename one."
        )
    unique = {name: entries[0] for name, entries in found.items() if name not in duplicates}
    return Offered(unique, errors, duplicates)


def label(name: str) -> str:
    """What editors call the segment ``name``: its label, or the name itself when it is not
    offered (any more), e.g. in the report of a campaign sent before its plugin was removed."""
    segments = offered().segments
    return segments[name][1].label if name in segments else name


def narrow(name: str, people: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
    """``people`` narrowed to the members of the segment ``name``. Whatever ``select`` returns
    is intersected with ``people``, so a segment can only narrow the campaign's own audience
    (the Page's consenting subscribers). Raises ``SegmentError`` when the segment is not offered
    and ``PluginError`` when its ``select`` fails."""
    available = offered()
    if name in available.duplicates:
        owners = ", ".join(map(repr, available.duplicates[name]))
        raise SegmentError(f"The segment {name!r} is offered by more than one plugin ({owners})")
    if name not in available.segments:
        raise SegmentError(
            f"The segment {name!r} is no longer offered (its plugin was removed, disabled or failed)"
        )
    plugin, segment = available.segments[name]
    try:
        members = segment.select(people)
        if not isinstance(members, QuerySet) or not issubclass(members.model, Subscriber):
            raise TypeError(f"select returned {members!r}, not a Subscriber queryset")
    except Exception as exc:
        raise PluginError(plugin, f"the segment {name!r}", exc) from exc
    return people.filter(pk__in=members.values("pk"))
