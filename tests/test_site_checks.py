"""System checks of how a site hosts onesend (``onesend_plugin.site_checks``): each trap a new
install fell into, and the ``check --deploy`` group."""

from types import ModuleType

import django
import pytest
from django.conf import settings as django_settings
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import include, path
from wagtail import urls as wagtail_urls

from onesend_plugin import site_checks

from .factories import MetaAppFactory

ONESEND_URLS = path("onesend/", include("onesend_plugin.urls"))
WAGTAIL_URLS = path("", include(wagtail_urls))
SQLITE = {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}


def urlconf(*patterns):
    module = ModuleType("site_urls")
    module.urlpatterns = list(patterns)
    return module


@pytest.fixture
def databases(monkeypatch):
    """Set DATABASES for the checks only (the test's connections keep theirs)."""
    return lambda value: monkeypatch.setattr(django_settings, "DATABASES", value)


def ids(messages):
    return sorted(message.id for message in messages)


@pytest.mark.parametrize(
    "options, missing",
    [
        ({}, ["IMMEDIATE transactions", "the WAL journal", "a timeout of at least 20 s"]),
        ({"transaction_mode": "IMMEDIATE", "timeout": 20}, ["the WAL journal"]),
        ({"init_command": "PRAGMA journal_mode = wal", "timeout": 30}, ["IMMEDIATE transactions"]),
        ({**site_checks.SQLITE_OPTIONS, "timeout": 5}, ["a timeout of at least 20 s"]),
    ],
)
def test_sqlite_without_the_options_the_worker_needs_is_reported_with_them(databases, options, missing):
    databases({"default": {**SQLITE, "OPTIONS": options}})
    [warning] = site_checks.check_sqlite()
    assert warning.id == "onesend.W005"
    assert f"runs without {', '.join(missing)}:" in warning.msg
    assert "database is locked" in warning.msg
    assert str(site_checks.SQLITE_OPTIONS) in warning.hint  # the exact settings, ready to paste


def test_sqlite_with_the_options_and_postgresql_are_clean(databases):
    databases(
        {
            "default": {**SQLITE, "OPTIONS": dict(site_checks.SQLITE_OPTIONS)},
            "pg": {"ENGINE": "django.db.backends.postgresql", "NAME": "x"},
        }
    )
    assert site_checks.check_sqlite() == []


@pytest.mark.parametrize(
    "public, admin, expected",
    [
        (None, "http://example.com", "onesend.E009"),  # Wagtail's project template
        (None, "", "onesend.E009"),
        ("/relative", "https://admin.example.org", "onesend.E009"),
        (None, "https://admin.example.org", "onesend.W006"),
    ],
)
def test_a_public_url_missing_or_a_placeholder_is_reported(settings, public, admin, expected):
    settings.ONESEND = {"PUBLIC_BASE_URL": public}
    settings.WAGTAILADMIN_BASE_URL = admin
    [message] = site_checks.check_public_url()
    assert message.id == expected
    assert "PUBLIC_BASE_URL" in message.hint


def test_the_wagtail_placeholder_is_named_in_the_error(settings):
    settings.ONESEND = {}
    settings.WAGTAILADMIN_BASE_URL = "http://example.com"
    [error] = site_checks.check_public_url()
    assert "'http://example.com' (WAGTAILADMIN_BASE_URL)" in error.msg


def test_a_public_url_set_is_clean(settings):
    settings.ONESEND = {"PUBLIC_BASE_URL": "https://www.shop.test"}
    assert site_checks.check_public_url() == []


def test_onesend_urls_not_routed_are_an_error(settings):
    settings.ROOT_URLCONF = urlconf(WAGTAIL_URLS)
    [error] = site_checks.check_urls()
    assert (error.id, 'path("onesend/", include("onesend_plugin.urls"))' in error.hint) == (
        "onesend.E010",
        True,
    )


def test_onesend_urls_after_wagtails_catch_all_are_an_error(settings):
    settings.ROOT_URLCONF = urlconf(WAGTAIL_URLS, ONESEND_URLS)
    [error] = site_checks.check_urls()
    assert error.id == "onesend.E011"
    assert "/onesend/webhook/0/ is served by wagtail_serve" in error.msg


def test_onesend_urls_before_wagtail_are_clean():
    assert site_checks.check_urls() == []


PRODUCTION = {
    "ONESEND": {"PUBLIC_BASE_URL": "https://www.shop.test"},
    "Q_CLUSTER": {"redis": "redis://cache:6379/0", "timeout": 60, "retry": 120, "workers": 4},
    "DATABASES": {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "shop"}},
}


@pytest.fixture
def deploy_ids(settings, databases):
    """The deploy checks' ids on PRODUCTION's settings with ``overrides``."""

    def run(**overrides):
        configured = {**PRODUCTION, **overrides}
        databases(configured.pop("DATABASES"))
        for name, value in configured.items():
            setattr(settings, name, value)
        return ids(message for check in DEPLOY_CHECKS for message in check())

    return run


DEPLOY_CHECKS = (
    site_checks.check_meta_urls,
    site_checks.check_https,
    site_checks.check_broker,
    site_checks.check_production_database,
)


def test_a_production_configuration_passes_the_deploy_checks(deploy_ids):
    assert deploy_ids() == []


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            {"ONESEND": {**PRODUCTION["ONESEND"], "GRAPH_API_BASE_URL": "http://127.0.0.1:8765"}},
            ["onesend.E012"],
        ),
        (
            {
                "ONESEND": {
                    **PRODUCTION["ONESEND"],
                    "MME_BASE_URL": "http://sim/m.me",
                    "OAUTH_DIALOG_BASE_URL": "x",
                }
            },
            ["onesend.E012", "onesend.E012"],
        ),
        ({"ONESEND": {"PUBLIC_BASE_URL": "http://www.shop.test"}}, ["onesend.W007"]),
        ({"Q_CLUSTER": {"orm": "default", "timeout": 60, "retry": 120, "workers": 2}}, ["onesend.W008"]),
        ({"Q_CLUSTER": {"orm": "default", "timeout": 60, "retry": 120, "workers": 1}}, []),
        ({"DATABASES": {"default": {**SQLITE, "OPTIONS": site_checks.SQLITE_OPTIONS}}}, ["onesend.W009"]),
    ],
)
def test_development_settings_left_in_production_are_reported(deploy_ids, overrides, expected):
    assert deploy_ids(**overrides) == expected


def test_the_simulator_url_is_named_with_metas(settings):
    settings.ONESEND = {"GRAPH_API_BASE_URL": "http://127.0.0.1:8765"}
    [error] = site_checks.check_meta_urls()
    assert "'http://127.0.0.1:8765', not Meta's 'https://graph.facebook.com'" in error.msg


@pytest.mark.django_db
def test_check_deploy_runs_the_group_and_looks_at_the_meta_apps(settings):
    """``check --deploy`` (Django's deploy tag) reports them; a plain ``check`` does not."""
    MetaAppFactory(app_id="nosecret", app_secret="")
    settings.ONESEND = {**settings.ONESEND, "PUBLIC_BASE_URL": "http://www.shop.test"}
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "orm": "default", "workers": 2}
    plain = {m.id for m in checks.run_checks() if m.id.startswith("onesend")}
    deploy = {m.id for m in checks.run_checks(include_deployment_checks=True) if m.id.startswith("onesend")}
    assert plain == set()
    assert {"onesend.E004", "onesend.E012", "onesend.W007", "onesend.W008"} <= deploy
    with pytest.raises(SystemCheckError, match="onesend.E012"):
        call_command("check", deploy=True)
    # With --database, the database check reports the app (once before Django 6.1, which gives
    # every check the databases, --database or not: see check_meta_apps_deploy).
    messages = checks.run_checks(include_deployment_checks=True, databases=["default"])
    assert [m.id for m in messages].count("onesend.E004") == (1 if django.VERSION < (6, 1) else 2)
