"""System checks report misconfiguration clearly."""

import pytest
from django.core import checks

from onesend_plugin import checks as onesend_checks
from onesend_plugin.hooks import plugins
from onesend_plugin.hooks.manager import LoadError

from .factories import MetaAppFactory


def ids(messages):
    return sorted(message.id for message in messages)


@pytest.mark.django_db  # Django 6 runs the database checks too
def test_the_example_site_is_clean():
    assert [m for m in checks.run_checks() if m.id.startswith("onesend")] == []


def test_missing_django_q(monkeypatch):
    monkeypatch.setattr(onesend_checks.apps, "is_installed", lambda name: name != "django_q")
    assert "onesend.E001" in ids(onesend_checks.check_task_queue())


@pytest.mark.parametrize("cluster", [{}, {"timeout": 60, "retry": 120}, {"name": "x", "workers": 2}])
def test_cluster_without_broker_silently_means_redis(settings, cluster):
    settings.Q_CLUSTER = cluster
    assert "onesend.E002" in ids(onesend_checks.check_task_queue())


@pytest.mark.parametrize(
    "timing", [{"timeout": 60, "retry": 60}, {"timeout": 300, "retry": 120}, {"retry": 10}]
)
def test_retry_must_exceed_timeout(settings, timing):
    settings.Q_CLUSTER = {"orm": "default", **timing}
    assert ids(onesend_checks.check_task_queue()) == ["onesend.E003"]


def test_settings_are_validated(settings):
    settings.ONESEND = {"GRAPH_API_BASE_URL": "graph.facebook.com", "FREQUENCY_CAP_HOURS": 12, "TYPO": 1}
    assert ids(onesend_checks.check_settings()) == ["onesend.E006", "onesend.E007", "onesend.W001"]


def test_plugin_load_failures_are_reported(monkeypatch):
    monkeypatch.setattr(plugins, "failures", [LoadError("acme.plugin", "ImportError('no module')")])
    [error] = onesend_checks.check_plugins()
    assert error.id == "onesend.E005"
    assert "acme.plugin" in error.msg


@pytest.mark.django_db
def test_app_without_secret_is_reported_by_the_database_checks():
    MetaAppFactory(app_id="ok")
    MetaAppFactory(app_id="nosecret", app_secret="")
    assert onesend_checks.check_meta_apps() == []  # only with databases, as Django runs them
    [error] = onesend_checks.check_meta_apps(databases=["default"])
    assert error.id == "onesend.E004"
    assert "nosecret" in error.msg
