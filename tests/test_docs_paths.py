"""Every file or folder of this repository that the documentation names exists, so a moved or
deleted file can't leave a reader looking for it.

Checked: Markdown links, and paths in backticks that start with one of the repository's
top-level folders (``tests/conftest.py``, ``bench/simulator.py``…). Links are resolved from the
document's folder, other paths from the repository's root.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md", "simulator/README.md", *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("docs/*.md"))]
TOP_LEVEL = {path.name for path in ROOT.iterdir() if not path.name.startswith(".")} | {".ci"}
LINK = re.compile(r"\]\(([^)#\s]+)")
CODE_PATH = re.compile(r"`([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]*)`")


def cited(doc: str) -> list[tuple[int, Path]]:
    """``(line, path)`` of each repository path ``doc`` names."""
    text, found = (ROOT / doc).read_text(), []
    for match in LINK.finditer(text):
        if not re.match(r"[a-z]+:", match.group(1)):
            found.append((match, (ROOT / doc).parent / match.group(1)))
    for match in CODE_PATH.finditer(text):
        if match.group(1).split("/")[0] in TOP_LEVEL:
            found.append((match, ROOT / match.group(1)))
    return [(text.count("\n", 0, match.start()) + 1, path) for match, path in found]


@pytest.mark.parametrize("doc", DOCS)
def test_the_files_a_document_names_exist(doc):
    missing = [f"{doc}:{line}: {path.relative_to(ROOT)}" for line, path in cited(doc) if not path.exists()]
    assert missing == []
