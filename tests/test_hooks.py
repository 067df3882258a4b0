"""The plugin manager: plugins from settings, failures reported, not fatal. The hook specs:
called through ``plugins``, typed, and the source of the docs' hook reference."""

import inspect
import sys
import types
import typing
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from onesend_plugin.hooks import Message, hookimpl, reference
from onesend_plugin.hooks.manager import HOOKS, Plugins


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
    assert not manager.manager.has_plugin("typo_plugin")  # left out, as the docs say


def test_every_plugin_with_an_unknown_hook_is_left_out_and_reported(settings, monkeypatch):
    for name in ("typo_one", "typo_two"):
        module = types.ModuleType(name)
        module.order_plaecd = hookimpl(lambda **kwargs: None)
        monkeypatch.setitem(sys.modules, name, module)
    settings.ONESEND = {**settings.ONESEND, "PLUGINS": ["typo_one", "typo_two"]}
    manager = Plugins()
    manager.load()
    assert [error.plugin for error in manager.failures] == ["typo_one", "typo_two"]
    assert not manager.manager.has_plugin("typo_one") and not manager.manager.has_plugin("typo_two")


# -- The specs: written once, typed, and the docs' hook reference rendered from them -------------


def test_every_hook_of_the_specs_is_called_as_an_attribute_of_plugins():
    manager = Plugins()
    assert manager.webhook_event_processed is manager.manager.hook.webhook_event_processed
    with pytest.raises(AttributeError):
        manager.webhook_event_procesed  # noqa: B018 (a misspelt hook is no hook)
    with pytest.raises(AttributeError):
        manager.hookspec  # noqa: B018 (in specs.py, but not a hook)


def test_arguments_a_caller_leaves_out_reach_implementations_as_the_specs_defaults():
    manager = Plugins()
    received = []

    class Mirror:
        @hookimpl
        def customer_event(self, name, account, at, properties, idempotency_key):
            received.append((name, account, at, properties, idempotency_key))

    manager.builtin = ("mirror",)  # a store event's call reaches onesend's own implementations
    manager.manager.register(Mirror(), name="mirror")
    manager.customer_event(name="review_posted", customer_ref="c-1")
    assert received == [("review_posted", None, None, None, None)]


def test_a_store_event_call_reaches_onesends_own_implementations_only():
    """The other plugins are listeners: told once the event is processed (test_store_listeners)."""
    manager, called = Plugins(), []

    class Recorder:
        @hookimpl
        def order_placed(self, order_id):
            called.append(("recorder", order_id))

    class Listener:
        @hookimpl
        def order_placed(self, order_id):
            called.append(("listener", order_id))

    manager.builtin = ("recorder",)
    manager.manager.register(Recorder(), name="recorder")
    manager.manager.register(Listener(), name="listener")
    manager.order_placed(order_id="1", value="1", currency="EUR", customer_ref="c-1")
    assert called == [("recorder", "1")]
    assert [impl.plugin_name for impl in manager.listeners("order_placed")] == ["listener"]


def test_every_spec_is_typed_and_its_types_exist():
    """Annotations are strings at run time (the models can't be imported with the hooks), so
    resolve them here against the modules they name."""
    from django.db.models import QuerySet
    from django.http import HttpRequest
    from django.urls import URLPattern, URLResolver

    from onesend_plugin import models
    from onesend_plugin.hooks import specs
    from onesend_plugin.hooks import types as message_types
    from onesend_plugin.messenger import client, errors, events

    names = {
        **vars(models),
        **vars(client),
        **vars(errors),
        **vars(events),
        **vars(message_types),
        **vars(specs),
    }
    names.update(datetime=datetime, Decimal=Decimal, QuerySet=QuerySet, HttpRequest=HttpRequest)
    names.update(URLPattern=URLPattern, URLResolver=URLResolver)
    for name in HOOKS:
        spec = getattr(specs, name)
        parameters = inspect.signature(spec).parameters
        assert "return" in spec.__annotations__, name
        assert set(spec.__annotations__) == {*parameters, "return"}, name
        typing.get_type_hints(spec, globalns=names)


def test_the_hook_reference_of_the_docs_is_rendered_from_the_specs():
    page = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text()
    assert sorted(reference.documented(page)) == sorted(HOOKS), "each hook in exactly one block"
    assert page == reference.render(page), (
        "docs/plugins.md differs from the specs: python -m onesend_plugin.hooks.reference docs/plugins.md"
    )


def fits(value: object, hint: object) -> bool:
    """Whether ``value`` has the shape of the type ``hint`` (TypedDicts, lists, unions, literals)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if typing.get_origin(hint) is typing.Literal:
        return value in args
    if typing.get_origin(hint) is list:
        return isinstance(value, list) and all(fits(item, args[0]) for item in value)
    if typing.is_typeddict(hint):
        fields = typing.get_type_hints(hint)
        return (
            isinstance(value, dict)
            and hint.__required_keys__ <= value.keys() <= fields.keys()
            and all(fits(item, fields[key]) for key, item in value.items())
        )
    return isinstance(value, hint)


@pytest.mark.django_db
def test_the_messages_onesend_builds_have_the_shapes_plugins_are_told():
    from wagtail.documents.models import Document
    from wagtail.images.models import Image
    from wagtail.images.tests.utils import get_test_image_file
    from wagtail.models import Collection

    from onesend_plugin import messages
    from onesend_plugin.models import Campaign, CampaignButton

    from .factories import CampaignFactory

    if not Collection.get_first_root_node():
        Collection.add_root(name="Root")
    image = Image.objects.create(title="Sale", file=get_test_image_file())
    document = Document.objects.create(title="Terms", file=ContentFile(b"%PDF-1.4", name="terms.pdf"))
    text = CampaignFactory()
    buttons = CampaignFactory(unsubscribe_quick_reply=False)
    card = CampaignFactory(media=Campaign.Media.IMAGE, image=image, subtitle="Today only")
    video = CampaignFactory(media=Campaign.Media.VIDEO, video_url="https://cdn.example/v.mp4", text="")
    pdf = CampaignFactory(media=Campaign.Media.FILE, document=document, text="")
    for campaign in (buttons, card):
        CampaignButton.objects.create(campaign=campaign, title="Shop now", url="https://shop.example/")
    for campaign in (text, buttons, card, video, pdf):
        message = messages.build(campaign)
        assert fits(message, Message), message
    assert not fits({"text": "Hi", "quick_replies": [{"title": "Stop"}]}, Message)  # the check checks
