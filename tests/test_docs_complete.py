"""The reference parts of the documentation keep up with the code: docs/architecture.md's package
map names every module of each package, and the README's table of system checks has a row for
every check id onesend reports. A new module or check without its line fails here, not later
with a reader who can't find it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "onesend_plugin"
MAPPED = [
    "messenger",
    "models",
    "accounts",
    "inbox",
    "subscribe",
    "broadcast",
    "analytics",
    "store",
    "hooks",
    "admin",
]


def map_entry(package: str) -> str:
    """The package's lines of the package map (from its ``├── package/`` line to the next)."""
    text = (ROOT / "docs/architecture.md").read_text()
    block = text[text.index("```\nonesend_plugin/") :]
    block = block[: block.index("\n```")]
    match = re.search(rf"├── {package}/(.*?)(?=\n├── |\Z)", block, re.S)
    assert match, f"docs/architecture.md's package map has no {package}/"
    return match.group(1)


@pytest.mark.parametrize("package", MAPPED)
def test_the_package_map_names_every_module(package):
    entry = map_entry(package)
    modules = sorted(
        path.stem if path.suffix else path.name
        for path in (PACKAGE / package).iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    )
    assert [m for m in modules if not re.search(rf"\b{m}\b", entry)] == []


def test_every_system_check_id_has_a_row_in_the_readme():
    ids = set()
    for module in ("checks.py", "site_checks.py"):
        ids |= set(re.findall(r'id="(onesend\.[EW]\d{3})"', (PACKAGE / module).read_text()))
    readme = (ROOT / "README.md").read_text()
    assert ids, "no check ids found"
    assert sorted(i for i in ids if f"| `{i}` |" not in readme) == []
