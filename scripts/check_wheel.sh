#!/usr/bin/env bash
# Packaging check: build the wheel and install it into a brand-new Wagtail project, the way a
# user would. The editable install the tests use can't see files the wheel leaves out
# (migrations, templates, static files), so only this catches them. Then the same for the
# simulator's own distribution (simulator/): alone in a clean venv, its pytest plugin must load.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build_python=${BUILD_PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { echo "==> check_wheel: $*"; }

step "building the wheel"
# From a copy of what git would commit: a stale onesend_plugin.egg-info or build/ in the checkout
# would put files in the wheel that package-data leaves out, hiding the very mistake checked here.
mkdir "$work/src"
git -C "$repo" ls-files -z --cached --others --exclude-standard \
  | tar -C "$repo" --null --ignore-failed-read -T - -cf - | tar -C "$work/src" -xf -
"$build_python" -m pip wheel --no-deps -q -w "$work/dist" "$work/src"
wheel=$(echo "$work"/dist/onesend_plugin-*.whl)

step "comparing the wheel with the source tree"
"$build_python" - "$wheel" "$work/src" <<'EOF'
import sys
import zipfile
from pathlib import Path

wheel, source = sys.argv[1], Path(sys.argv[2])
in_wheel = set(zipfile.ZipFile(wheel).namelist())
package = source / "onesend_plugin"
expected = list((package / "migrations").glob("[0-9]*.py"))
if not expected:
    sys.exit("No migrations found in the source tree.")
for folder in ("templates", "static"):
    expected += [path for path in (package / folder).rglob("*") if path.is_file()]
names = {str(path.relative_to(source)) for path in expected}
missing = sorted(names - in_wheel)
if missing:
    sys.exit("Missing from the wheel (check [tool.setuptools.package-data]):\n  " + "\n  ".join(missing))
print(f"All {len(expected)} migration, template and static files are in the wheel.")
kit = "onesend_plugin/testing/pytest_plugin.py"
entry_points = next(name for name in in_wheel if name.endswith(".dist-info/entry_points.txt"))
if kit not in in_wheel or "onesend = onesend_plugin.testing.pytest_plugin" not in zipfile.ZipFile(
    wheel
).read(entry_points).decode():
    sys.exit("The test kit (onesend_plugin.testing) or its pytest11 entry point is not in the wheel.")
if not any(name.endswith(".dist-info/licenses/LICENSE") for name in in_wheel):
    sys.exit("The LICENSE file is not in the wheel.")
simulator = sorted(name for name in in_wheel if "simulator" in name)
if simulator:
    sys.exit("The simulator is a distribution of its own, yet the wheel has:\n  " + "\n  ".join(simulator))
EOF

step "creating a throwaway venv with the wheel"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$wheel"

step "starting a foreign Wagtail project, set up as the README says"
cd "$work"
"$work/venv/bin/wagtail" start mysite
cd mysite
"$build_python" "$repo/scripts/readme_install.py" .

python="$work/venv/bin/python"
step "checking that onesend_plugin comes from the wheel"
"$python" -c 'import onesend_plugin, sys; sys.exit("site-packages" not in onesend_plugin.__file__)'
step "migrate"
"$python" manage.py migrate --noinput -v0
step "check"
"$python" manage.py check --fail-level WARNING
step "migrations match the models"
"$python" manage.py makemigrations --check --dry-run onesend
step "templates, static files and URLs are found at run time"
"$python" manage.py shell -v0 <<'EOF'
import sys
from pathlib import Path

from django.contrib.staticfiles import finders
from django.template.loader import get_template
from django.test import Client

import onesend_plugin

package = Path(onesend_plugin.__file__).parent
for path in (package / "templates").rglob("*"):
    if path.is_file():
        get_template(str(path.relative_to(package / "templates")))
for path in (package / "static").rglob("*"):
    if path.is_file() and not finders.find(str(path.relative_to(package / "static"))):
        sys.exit(f"Static file not found: {path}")
if Client().get("/onesend/webhook/no-such-app/").status_code != 404:
    sys.exit("The onesend webhook URL is not routed.")
EOF

step "building the simulator's wheel"
"$build_python" -m pip wheel --no-deps -q -w "$work/sim-dist" "$work/src/simulator"
sim_wheel=$(echo "$work"/sim-dist/onesend_simulator-*.whl)
"$build_python" - "$sim_wheel" "$work/src/simulator" <<'EOF'
import sys
import zipfile
from pathlib import Path

in_wheel, source = set(zipfile.ZipFile(sys.argv[1]).namelist()), Path(sys.argv[2])
package = source / "onesend_simulator"
expected = {str(path.relative_to(source)) for path in package.rglob("*") if path.is_file()}
missing = sorted(name for name in expected - in_wheel if "__pycache__" not in name)
if not any(name.endswith(".dist-info/licenses/LICENSE") for name in in_wheel):
    missing.append("LICENSE")
if missing:
    sys.exit("Missing from the simulator's wheel:\n  " + "\n  ".join(missing))
EOF

step "installing the simulator alone in a clean venv"
python3 -m venv "$work/sim-venv"
sim_python="$work/sim-venv/bin/python"
"$sim_python" -m pip install -q "$sim_wheel" pytest
"$sim_python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("onesend_plugin") is not None)'
"$work/sim-venv/bin/onesend-simulator" --help >/dev/null

step "the simulator's pytest plugin loads and serves its fixtures"
mkdir "$work/plugin-test"
cat > "$work/plugin-test/test_plugin.py" <<'EOF'
def test_people_subscribe_through_the_real_flow(simulator, simulator_page, simulator_subscribers):
    people = simulator_subscribers(simulator_page["page_id"], 2)
    assert all(person["token"] for person in people)
    sent = simulator.messages(simulator_page["page_id"])
    assert [(m["psid"], m["type"]) for m in sent] == [(p["psid"], "optin") for p in people]
EOF
(cd "$work/plugin-test" && "$sim_python" -m pytest -q -p no:cacheprovider test_plugin.py)
echo "check_wheel: OK"
