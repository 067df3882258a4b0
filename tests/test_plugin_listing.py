"""What is loaded, seen by a site's operator: ``manage.py onesend_plugins`` (a table, or JSON)
and the agency's "Messenger plugins" settings page list each plugin with its source,
distribution, version and hooks, and each plugin that failed to load with its error."""

import json
from io import StringIO

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse

import onesend_plugin.hooks
from onesend_plugin.accounts.groups import ensure_client_group
from onesend_plugin.hooks import loaded as describe
from onesend_plugin.models import Membership

from .factories import MessengerPageFactory
from .fixtures.tenants import client_user
from .test_plugins_entrypoints import ACME_PLUGIN, BROKEN_PLUGIN, install, loaded  # noqa: F401

URL = "/admin/messenger/plugins/"

TYPO_PLUGIN = """
from onesend_plugin.hooks import hookimpl


@hookimpl
def webhook_event_procesed(event, page):
    pass
"""


@pytest.fixture
def site_plugins(settings, install, monkeypatch):  # noqa: F811 (the fixture imported above)
    """The site's plugins as loaded at start-up with two packages installed: ``acme`` (version
    1.0, two hooks) and ``broken``, whose import fails."""
    install("acme_onesend", "acme_onesend_plugin", ACME_PLUGIN, "acme")
    install("acme_broken", "acme_broken_plugin", BROKEN_PLUGIN, "broken")
    manager = loaded(settings)
    monkeypatch.setattr(onesend_plugin.hooks, "plugins", manager)
    return manager


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("onesend_plugins", *args, stdout=out, stderr=err)  # raises on a non-zero exit
    return out.getvalue(), err.getvalue()


# -- The description ------------------------------------------------------------------------------


def test_each_plugin_is_described_with_its_source_version_and_hooks(site_plugins):
    found = describe()
    plugins = {plugin.name: plugin for plugin in found.plugins}
    acme = plugins["acme"]
    assert (acme.source, acme.distribution, acme.version) == ("entry point", "acme_onesend", "1.0")
    assert acme.hooks == ("resolve_subscriber", "trigger_types")
    builtin = plugins["onesend_plugin.store.builtin"]
    assert (builtin.source, builtin.distribution) == ("built-in", "onesend-plugin")
    assert builtin.hooks == ("cart_abandoned", "customer_event", "order_fulfilled", "order_placed")
    assert plugins["example_site.shop.onesend_hooks"].source == "setting"
    [error] = found.errors
    assert (error.plugin, error.distribution) == ("broken", "acme_broken")
    assert "libacme" in error.error


def test_a_plugin_registered_by_code_is_listed_as_such(register_plugin):
    class Greeter:
        @onesend_plugin.hooks.hookimpl
        def build_message(self, campaign, subscriber, message):
            return None

    register_plugin(Greeter(), name="greeter")
    [greeter] = [plugin for plugin in describe().plugins if plugin.name == "greeter"]
    assert (greeter.source, greeter.distribution, greeter.hooks) == ("code", "", ("build_message",))


def test_a_hook_name_typo_is_an_error_naming_its_plugin(settings, install):  # noqa: F811
    install("acme_typo", "acme_typo_plugin", TYPO_PLUGIN, "typo")
    [error] = describe(loaded(settings)).errors
    assert error.plugin == "typo" and "webhook_event_procesed" in error.error


# -- The command ----------------------------------------------------------------------------------


def test_the_command_prints_a_table_and_the_load_errors_on_stderr(site_plugins):
    out, err = run()
    header, *rows = out.splitlines()
    assert header.split() == ["Plugin", "Source", "Distribution", "Version", "Hooks"]
    [acme] = [row for row in rows if row.startswith("acme ")]
    assert " ".join(acme.split()) == "acme entry point acme_onesend 1.0 resolve_subscriber, trigger_types"
    [builtin] = [row for row in rows if row.startswith("onesend_plugin.store.builtin")]
    assert "built-in" in builtin and "order_placed" in builtin
    assert "broken" not in out
    assert err.startswith("Failed to load entry point broken (acme_broken): ImportError(")
    assert "libacme" in err


def test_the_command_prints_json(site_plugins):
    out, err = run("--json")
    found = json.loads(out)
    plugins = {plugin["name"]: plugin for plugin in found["plugins"]}
    assert plugins["acme"] == {
        "name": "acme",
        "source": "entry point",
        "distribution": "acme_onesend",
        "version": "1.0",
        "hooks": ["resolve_subscriber", "trigger_types"],
    }
    assert plugins["onesend_plugin.store.builtin"]["source"] == "built-in"
    [error] = found["errors"]
    assert (error["plugin"], error["distribution"]) == ("broken", "acme_broken")
    assert "libacme" in error["error"] and "libacme" in err


def test_without_errors_stderr_stays_empty():
    out, err = run()
    assert "onesend_plugin.store.builtin" in out and err == ""


# -- The admin page -------------------------------------------------------------------------------


@pytest.fixture
def agency_client(client, django_user_model, db):
    user = django_user_model.objects.create_user("agency", password="pw")
    user.groups.add(ensure_client_group())
    user.user_permissions.add(Permission.objects.get(codename="access_all_accounts"))
    client.force_login(user)
    return client


@pytest.fixture
def client_client(client, django_user_model, db):
    account = MessengerPageFactory().account
    client.force_login(
        client_user(django_user_model, ensure_client_group(), [(account, Membership.Role.ADMIN)])
    )
    return client


def test_the_agency_sees_each_plugin_and_each_load_error(agency_client, site_plugins):
    response = agency_client.get(reverse("onesend_plugins"))
    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "html.parser")
    acme = soup.select_one('tr[data-plugin="acme"]')
    cells = {cell["data-value"]: cell.get_text(" ", strip=True) for cell in acme.select("td")}
    assert cells == {
        "source": "entry point",
        "distribution": "acme_onesend",
        "version": "1.0",
        "hooks": "resolve_subscriber , trigger_types",
    }
    builtin = soup.select_one('tr[data-plugin="onesend_plugin.store.builtin"]')
    assert builtin.select_one('[data-value="source"]').get_text(strip=True) == "built-in"
    error = soup.select_one('[data-load-error="broken"]').get_text(" ", strip=True)
    assert "acme_broken" in error and "libacme" in error


def test_the_settings_menu_offers_the_page_to_the_agency(agency_client):
    assert URL in agency_client.get("/admin/").content.decode()


def test_a_client_user_gets_403_and_no_menu_item(client_client):
    assert client_client.get(URL).status_code == 403
    home = client_client.get("/admin/")
    assert home.status_code == 200
    assert URL not in home.content.decode()
