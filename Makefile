# make demo: run the example site with the simulator and a worker (Ctrl-C stops it).
# make test-fast: the SQLite suite alone, the one to run while working.
# make test: ruff (lint and format), lint-imports, the suite on SQLite and on PostgreSQL (its
#   tests that use a database), and the example plugin package's tests: what to run before pushing.
# make ci (or make test with CI=true, which is what CI runs: .ci/run): make test's stages, plus
#   the suite on Django 6.1 (if a Python >= 3.12 is found) and the packaging check.
# The stages of make test and make ci run at once, each one's output printed whole when it ends,
# with its time; a failed stage fails the run. The suites run on pytest-xdist workers, one
# database each.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

VENV := .venv
VENV_DJ61 := .venv-dj61
POSTGRES_URL := postgres://postgres@127.0.0.1:5432/postgres
# Django 6.1 needs Python >= 3.12; without one, that run is skipped.
PYTHON312 := $(shell scripts/find_python312.sh)
# pytest-xdist workers of each suite.
WORKERS ?= 2
# $(call PYTEST,<venv>)
PYTEST = $(1)/bin/python -m pytest -q -p no:cacheprovider
XDIST = -n $(WORKERS)
STAGE := scripts/stage.sh
STAGES := test-lint test-postgres test-sqlite test-example-plugin
CI_STAGES := $(STAGES) test-wheel $(if $(PYTHON312),test-django61)

.PHONY: demo test test-fast ci $(CI_STAGES)

demo: $(VENV)/.installed
	$(VENV)/bin/python example_site/manage.py rundemo

# $(call RUN_STAGES,<stages>): -O prints each stage's output whole when it ends, not interleaved.
RUN_STAGES = start=$$(date +%s); status=0; \
	$(MAKE) --no-print-directory -O -j$(words $(1)) $(1) || status=$$?; \
	echo "make $@: $$( ((status == 0)) && echo passed || echo FAILED ) in $$(($$(date +%s) - start)) s"; \
	exit $$status

test: $(VENV)/.installed $(if $(CI),$(if $(PYTHON312),$(VENV_DJ61)/.installed))
	@$(if $(CI),$(if $(PYTHON312),,echo "No Python >= 3.12 found: the Django 6.1 run is skipped."))
	@$(call RUN_STAGES,$(if $(CI),$(CI_STAGES),$(STAGES)))

ci:
	@$(MAKE) --no-print-directory test CI=true

test-fast: $(VENV)/.installed test-sqlite

test-lint:
	$(STAGE) ruff $(VENV)/bin/ruff check .
	$(STAGE) ruff-format $(VENV)/bin/ruff format --check .
	$(STAGE) lint-imports $(VENV)/bin/lint-imports

# "env -u DATABASE_URL": a DATABASE_URL left in the environment must not turn the SQLite runs
# into PostgreSQL ones.
test-sqlite:
	$(STAGE) sqlite env -u DATABASE_URL $(call PYTEST,$(VENV)) $(XDIST)

# The browser tests (-m e2e) drive pages whose server is the same on both engines: make test runs
# them once, on SQLite; CI runs them on PostgreSQL too.
POSTGRES_MARKS := $(if $(CI),,-m "not e2e")

test-postgres:
	$(STAGE) postgres env DATABASE_URL=$(POSTGRES_URL) $(call PYTEST,$(VENV)) $(XDIST) $(POSTGRES_MARKS)

test-django61:
	$(STAGE) django-6.1 env -u DATABASE_URL $(call PYTEST,$(VENV_DJ61)) $(XDIST)

# Eight tests: workers would cost more than they save.
test-example-plugin:
	cd $(EXAMPLE_PLUGIN) && $(CURDIR)/$(STAGE) example-plugin env -u DATABASE_URL $(call PYTEST,$(CURDIR)/$(VENV))

test-wheel:
	$(STAGE) wheel scripts/check_wheel.sh

# The distributions of this repository: the add-on, the simulator (simulator/) and the example
# plugin package, whose own test suite uses onesend's test kit.
EXAMPLE_PLUGIN := examples/onesend-example-plugin
INSTALL = -e ".[test]" -e ./simulator -e ./$(EXAMPLE_PLUGIN)

# Stamp files: pip runs again only when a pyproject.toml has changed.
$(VENV)/.installed: pyproject.toml simulator/pyproject.toml $(EXAMPLE_PLUGIN)/pyproject.toml
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q $(INSTALL)
	touch $@

$(VENV_DJ61)/.installed: pyproject.toml simulator/pyproject.toml $(EXAMPLE_PLUGIN)/pyproject.toml
	test -x $(VENV_DJ61)/bin/python || $(PYTHON312) -m venv $(VENV_DJ61)
	$(VENV_DJ61)/bin/python -m pip install -q $(INSTALL) "Django>=6.1,<6.2"
	touch $@
