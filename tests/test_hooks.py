"""The plugin manager: plugins from settings, failures reported, not fatal."""

import sys
import types

import pytest

from onesend_plugin.hooks import hookimpl
from onesend_plugin.hooks.manager import Plugins


@pytest.fixture
def plugin_module(monkeypatch):
    module = types.ModuleType("acme_onesend_plugin")
    calls = []

    @hookimpl
    def webhook_event_processed(event, page):
        calls.append((event, page))

    module.webhook_event_processed = webhook_event_processed
    module.calls = calls
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def test_plugins_named_in_settings_are_registered_and_called(settings, plugin_module):
    settings.ONESEND = {**settings.ONESEND, "PLUGINS": ["acme_onesend_plugin"]}
    manager = Plugins()
    manager.load()
    assert manager.load_errors == []
    manager.webhook_event_processed(event="e", page="p")
    assert plugin_module.calls == [("e", "p")]


def test_loading_twice_registers_once(settings, plugin_module):
    settings.ONESEND = {**settings.ONESEND, "PLUGINS": ["acme_onesend_plugin"]}
    manager = Plugins()
    manager.load()
    manager.load()
    manager.webhook_event_processed(event="e", page="p")
    assert len(plugin_module.calls) == 1


def test_disabled_plugins_are_skipped(settings, plugin_module):
    settings.ONESEND = {
        **settings.ONESEND,
        "PLUGINS": ["acme_onesend_plugin"],
        "DISABLED_PLUGINS": ["acme_onesend_plugin"],
    }
    manager = Plugins()
    manager.load()
    manager.webhook_event_processed(event="e", page="p")
    assert plugin_module.calls == []


def test_a_plugin_that_fails_to_import_is_recorded_not_raised(settings):
    settings.ONESEND = {**settings.ONESEND, "PLUGINS": ["no_such_module_xyz", "os.path.no_such_attr"]}
    manager = Plugins()
    manager.load()
    assert len(manager.load_errors) == 2
    assert "no_such_module_xyz" in manager.load_errors[0]


def test_an_implementation_without_a_spec_is_reported(settings, monkeypatch):
    module = types.ModuleType("typo_plugin")

    @hookimpl
    def webhook_event_procesed(event, page):  # misspelt hook name
        pass

    module.webhook_event_procesed = webhook_event_procesed
    monkeypatch.setitem(sys.modules, "typo_plugin", module)
    settings.ONESEND = {**settings.ONESEND, "PLUGINS": ["typo_plugin"]}
    manager = Plugins()
    manager.load()
    assert any("webhook_event_procesed" in error for error in manager.load_errors)
