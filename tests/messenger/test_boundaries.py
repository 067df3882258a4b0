"""Issue 17's rule, kept: ``onesend_plugin/messenger`` knows Meta's wire format and nothing else
(it imports no Django and nothing else of onesend_plugin), and no module outside it builds or
reads a Graph body (it calls ``messenger.builders`` and reads ``messenger.responses``)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import onesend_plugin

PACKAGE = Path(onesend_plugin.__file__).resolve().parent
MESSENGER = PACKAGE / "messenger"

#: Keys that only occur in bodies exchanged with Meta (generic ones such as ``message`` or
#: ``payload`` are also model fields and event kinds, so they are not listed).
GRAPH_KEYS = {
    "recipient",
    "messaging_type",
    "sender_action",
    "attachment",
    "template_type",
    "quick_replies",
    "is_reusable",
    "elements",
    "notification_messages_token",
    "notification_messages_cta_text",
    "notification_messages_timezone",
    "messenger_delivery_data",
    "subscription_token",
    "subscribed_fields",
    "hub.mode",
    "hub.verify_token",
    "hub.challenge",
    "response_type",
    "error_reason",
}


def modules(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.py") if "migrations" not in path.parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of each import; a relative one leaving messenger/ is ``..``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def is_foreign(module: str) -> bool:
    if module.startswith(".."):
        return True
    if module.startswith("."):
        return False
    top = module.split(".")[0]
    return top == "django" or (top == "onesend_plugin" and not module.startswith("onesend_plugin.messenger"))


def test_messenger_imports_no_django_and_nothing_else_of_onesend():
    foreign = [
        f"{path.relative_to(PACKAGE)}:{line} imports {module}"
        for path in modules(MESSENGER)
        for line, module in imported(path)
        if is_foreign(module)
    ]
    assert foreign == []


def test_messenger_loads_with_django_missing():
    """Every messenger module imports with ``django`` unimportable, and loads no other onesend module."""
    code = (
        "import importlib, pkgutil, sys\n"
        "sys.modules['django'] = None\n"
        "import onesend_plugin.messenger as messenger\n"
        "for info in pkgutil.iter_modules(messenger.__path__):\n"
        "    importlib.import_module('onesend_plugin.messenger.' + info.name)\n"
        "print(' '.join(sorted(name for name in sys.modules if name.startswith('onesend_plugin'))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "onesend_plugin.messenger.client" in loaded and "onesend_plugin.messenger.builders" in loaded
    others = [name for name in loaded if name != "onesend_plugin" and name.split(".")[1] != "messenger"]
    assert others == []


def dict_keys(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants used as keys: in a dict display, a subscript, or ``.get``/``.pop``/``.setdefault``."""
    keys: list[ast.expr | None] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys += node.keys
        elif isinstance(node, ast.Subscript):
            keys.append(node.slice)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "pop", "setdefault")
            and node.args
        ):
            keys.append(node.args[0])
    return [(k.lineno, k.value) for k in keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]


def test_no_module_outside_messenger_spells_a_graph_body():
    spelled = [
        f"{path.relative_to(PACKAGE)}:{line} {key!r}"
        for path in modules(PACKAGE)
        if MESSENGER not in path.parents
        for line, key in dict_keys(ast.parse(path.read_text(), str(path)))
        if key in GRAPH_KEYS
    ]
    assert spelled == [], "build it with onesend_plugin.messenger.builders, read it in messenger.responses"


def test_the_rule_sees_a_graph_body():
    """The walk finds keys in each form a body is spelled in (so an empty list above means something)."""
    tree = ast.parse('b = {"recipient": r}; m["quick_replies"] = q; p.get("template_type")')
    assert {key for _, key in dict_keys(tree)} == {"recipient", "quick_replies", "template_type"}
