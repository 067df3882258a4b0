"""The README's install steps ("Add onesend to your Wagtail site"), as a program: the blocks marked
``<!-- install: … -->`` applied to a project made by ``wagtail start mysite``, so the README is what
the tests and the packaging check install with, and can't drift from them.

* ``append FILE``: the block is added at the end of FILE;
* ``insert FILE after TEXT``: the block goes after the first line holding TEXT;
* ``run`` and ``worker``: shell commands, listed by :func:`commands` for the caller to run.

``python scripts/readme_install.py PROJECT`` applies the file steps to the project in PROJECT.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
STEP = re.compile(r"^<!-- install: (.+?) -->\n```\w*\n(.*?)^```$", re.M | re.S)


def steps() -> list[tuple[list[str], str]]:
    """``(marker words, block)``; the last word of ``insert FILE after TEXT`` is TEXT, spaces kept."""
    return [(marker.split(" ", 3), code) for marker, code in STEP.findall(README.read_text())]


def apply_file_steps(project: Path) -> None:
    """The ``append`` and ``insert`` blocks, in the README's order."""
    for marker, code in steps():
        if marker[0] == "append":
            with (project / marker[1]).open("a") as file:
                file.write("\n" + code)
        elif marker[0] == "insert":
            path, anchor = project / marker[1], marker[3]
            lines = path.read_text().splitlines(keepends=True)
            at = next(number for number, line in enumerate(lines) if anchor in line)
            path.write_text("".join([*lines[: at + 1], code, *lines[at + 1 :]]))


def commands(kind: str, python: str = sys.executable) -> list[list[str]]:
    """The commands of the ``kind`` blocks, ``python`` standing for this interpreter."""
    found = []
    for marker, code in steps():
        if marker == [kind]:
            for line in code.splitlines():
                words = shlex.split(line, comments=True)
                if words:
                    found.append([python if words[0] == "python" else words[0], *words[1:]])
    return found


if __name__ == "__main__":
    apply_file_steps(Path(sys.argv[1]))
