# make demo: run the example site with the simulator and a worker (Ctrl-C stops it).
# make test: every check CI runs (the example plugin package's tests too); stops at the first failure.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

VENV := .venv
VENV_DJ61 := .venv-dj61
POSTGRES_URL := postgres://postgres@127.0.0.1:5432/postgres
# Django 6.1 needs Python >= 3.12; without one, that run is skipped.
PYTHON312 := $(shell scripts/find_python312.sh)
# $(call PYTEST,<venv>)
PYTEST = $(1)/bin/python -m pytest -q -p no:cacheprovider

.PHONY: demo test

demo: $(VENV)/.installed
	$(VENV)/bin/python example_site/manage.py rundemo

# "env -u DATABASE_URL": a DATABASE_URL left in the environment must not turn the SQLite runs
# into PostgreSQL ones.
test: $(VENV)/.installed $(if $(PYTHON312),$(VENV_DJ61)/.installed)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	env -u DATABASE_URL $(call PYTEST,$(VENV))
	cd $(EXAMPLE_PLUGIN) && env -u DATABASE_URL $(call PYTEST,$(CURDIR)/$(VENV))
	env DATABASE_URL=$(POSTGRES_URL) $(call PYTEST,$(VENV))
ifeq ($(PYTHON312),)
	@echo "No Python >= 3.12 found: skipping the Django 6.1 run."
else
	env -u DATABASE_URL $(call PYTEST,$(VENV_DJ61))
endif
	scripts/check_wheel.sh

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
