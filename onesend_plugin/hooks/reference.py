"""The hook reference of docs/plugins.md, rendered from ``specs`` so it can't drift from them.

The page groups hooks under its own headings and prose; each group is a block::

    <!-- hooks: order_placed order_fulfilled -->
    (rendered: each hook's signature and docstring)
    <!-- /hooks -->

``python -m onesend_plugin.hooks.reference docs/plugins.md`` rewrites the blocks in place. A
test fails when the committed page differs from what this renders, or when a hook is in no
block.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from . import specs

BLOCK = re.compile(r"(?P<open><!-- hooks: (?P<names>[\w ]+) -->\n).*?(?P<close><!-- /hooks -->)", re.DOTALL)
#: Longer signatures are written one parameter a line.
WIDTH = 100


def signature(name: str) -> str:
    """``name(parameter: type = default, ...) -> type``, as written in ``specs``."""
    found = inspect.signature(getattr(specs, name))
    parameters = [
        f"{p.name}: {p.annotation}" + ("" if p.default is p.empty else f" = {p.default!r}")
        for p in found.parameters.values()
    ]
    returns = found.return_annotation
    one_line = f"{name}({', '.join(parameters)}) -> {returns}"
    if len(one_line) <= WIDTH:
        return one_line
    return f"{name}(\n" + "".join(f"    {p},\n" for p in parameters) + f") -> {returns}"


def entry(name: str) -> str:
    """One hook's reference: its name (and kind), signature and documentation."""
    spec = getattr(specs, name)
    kind = " (first result wins)" if spec.onesend_spec.get("firstresult") else ""
    return f"#### `{name}`{kind}\n\n```python\n{signature(name)}\n```\n\n{inspect.getdoc(spec)}\n"


def documented(page: str) -> list[str]:
    """The hooks the page's blocks name, in order (a name twice is listed twice)."""
    return [name for match in BLOCK.finditer(page) for name in match["names"].split()]


def render(page: str) -> str:
    """The page with every block's content rendered from the specs."""
    return BLOCK.sub(
        lambda m: m["open"] + "\n" + "\n".join(entry(n) for n in m["names"].split()) + "\n" + m["close"],
        page,
    )


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.write_text(render(path.read_text()))
