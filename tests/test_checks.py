"""System checks report misconfiguration clearly."""

from datetime import timedelta

import pytest
from django.core import checks
from django.utils import timezone

from onesend_plugin import checks as onesend_checks
from onesend_plugin import conf
from onesend_plugin.hooks import plugins
from onesend_plugin.hooks.manager import LoadError
from onesend_plugin.models import Channel

from .factories import AccountFactory, MessengerPageFactory, MetaAppFactory


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


@pytest.mark.parametrize(
    "timing, http_timeout, warned",
    [((60, 120), (3.05, 20), True), ((90, 180), (3.05, 20), False), ((60, 120), (3, 10), False)],
)
def test_a_timeout_that_would_stop_workers_mid_batch_is_warned(settings, timing, http_timeout, warned):
    """60 s was the advice once: a rate-limiter wait and two Graph calls at their timeouts outlast it."""
    timeout, retry = timing
    settings.Q_CLUSTER = {"orm": "default", "timeout": timeout, "retry": retry}
    settings.ONESEND = {"HTTP_TIMEOUT": http_timeout}
    assert ids(onesend_checks.check_task_queue()) == (["onesend.W011"] if warned else [])


def test_settings_are_validated(settings):
    settings.ONESEND = {"GRAPH_API_BASE_URL": "graph.facebook.com", "FREQUENCY_CAP_HOURS": 12, "TYPO": 1}
    assert ids(onesend_checks.check_settings()) == ["onesend.E006", "onesend.E007", "onesend.W001"]


@pytest.mark.parametrize("name", conf.META_URL_SETTINGS)
def test_each_of_metas_addresses_must_be_a_url(settings, name):
    settings.ONESEND = {name: "www.facebook.com"}
    assert ids(onesend_checks.check_settings()) == ["onesend.E007"]


def test_the_default_cap_and_pace_are_metas(settings):
    """48 h: Meta's cooldown of marketing-message tokens; 40/s: its high-volume note."""
    settings.ONESEND = {}
    assert onesend_checks.check_settings() == []
    assert (onesend_checks.conf.get("FREQUENCY_CAP_HOURS"), onesend_checks.conf.get("TEXT_RATE_LIMIT")) == (
        48,
        40,
    )
    settings.ONESEND = {"FREQUENCY_CAP_HOURS": 24}
    [warning] = onesend_checks.check_settings()
    assert (warning.id, "48 h" in warning.msg) == ("onesend.W001", True)


@pytest.mark.parametrize(
    "pace",
    [{"TEXT_RATE_LIMIT": 301}, {"TEXT_RATE_LIMIT": 0}, {"MEDIA_RATE_LIMIT": 11}, {"TEXT_RATE_LIMIT": "40"}],
)
def test_a_pace_above_metas_limit_is_an_error(settings, pace):
    settings.ONESEND = pace
    assert ids(onesend_checks.check_settings()) == ["onesend.E008"]


def test_metas_limit_is_an_allowed_pace(settings):
    settings.ONESEND = {"TEXT_RATE_LIMIT": 300, "MEDIA_RATE_LIMIT": 10}
    assert onesend_checks.check_settings() == []


@pytest.mark.django_db
def test_a_page_capped_below_its_channels_rule_is_reported(settings):
    """The cap a Page really uses (its own, its account's, the site's) against Meta's rule for
    its channel: 48 h for marketing-message tokens, 12 h for the paid API, none for standard."""
    settings.ONESEND = {"FREQUENCY_CAP_HOURS": 24}
    legacy = MessengerPageFactory(name="Legacy")  # the site's 24 h, below 48
    MessengerPageFactory(channel=Channel.MARKETING_API)  # 24 h >= 12 h
    MessengerPageFactory(channel=Channel.STANDARD)
    paid = MessengerPageFactory(name="Paid", channel=Channel.MARKETING_API, frequency_cap_hours=6)
    strict = AccountFactory(frequency_cap_hours=72)
    MessengerPageFactory(account=strict)  # the account's 72 h
    lax = MessengerPageFactory(name="Lax", account=AccountFactory(frequency_cap_hours=47))
    assert onesend_checks.check_page_caps() == []  # only with databases, as Django runs them
    warnings = {w.obj.name: w for w in onesend_checks.check_page_caps(databases=["default"])}
    assert set(warnings) == {legacy.name, paid.name, lax.name}
    assert {w.id for w in warnings.values()} == {"onesend.W003"}
    assert "24 h (FREQUENCY_CAP_HOURS), below Meta's 48 h" in warnings["Legacy"].msg
    assert "6 h (set on the Page), below Meta's 12 h" in warnings["Paid"].msg
    assert "47 h (set on its account)" in warnings["Lax"].msg


@pytest.mark.django_db
def test_a_per_person_page_without_a_business_country_is_reported():
    """Without a country, routing uses no legacy token: token holders go paid, or are skipped."""
    per_person = {"channel": Channel.PER_PERSON}
    MessengerPageFactory(name="Account says", account=AccountFactory(business_country="FR"), **per_person)
    MessengerPageFactory(name="Page says", business_country="US", ad_account_id="act_1", **per_person)
    MessengerPageFactory(name="Token only")  # its channel is the legacy token, whatever the country
    MessengerPageFactory(name="Skips", **per_person)
    MessengerPageFactory(name="Goes paid", ad_account_id="act_2", **per_person)
    assert onesend_checks.check_per_person_countries() == []  # only with databases, as Django runs them
    warnings = {w.obj.name: w for w in onesend_checks.check_per_person_countries(databases=["default"])}
    assert set(warnings) == {"Skips", "Goes paid"}
    assert {w.id for w in warnings.values()} == {"onesend.W010"}
    assert "are skipped (no_channel)" in warnings["Skips"].msg
    assert "are sent a paid message" in warnings["Goes paid"].msg
    assert "Business country" in warnings["Skips"].hint


@pytest.mark.django_db
def test_a_paid_token_expiring_within_a_week_or_expired_is_reported():
    """A Flow 2 token lives about 60 days; a week before its end, and after, the check says so."""
    now = timezone.now()

    def paid(name, token="t", expires=None):
        return MessengerPageFactory(
            name=name, channel=Channel.MARKETING_API, paid_access_token=token, paid_token_expires_at=expires
        )

    paid("Never")  # a system-user token: "Expiration: Never"
    paid("Later", expires=now + timedelta(days=30))
    soon = paid("Soon", expires=now + timedelta(days=6))
    gone = paid("Gone", expires=now - timedelta(days=1))
    paid("Disconnected", token="", expires=now - timedelta(days=1))
    assert onesend_checks.check_paid_tokens() == []  # only with databases, as Django runs them
    warnings = {w.obj.name: w for w in onesend_checks.check_paid_tokens(databases=["default"])}
    assert set(warnings) == {soon.name, gone.name}
    assert {w.id for w in warnings.values()} == {"onesend.W004"}
    assert "token expires on" in warnings["Soon"].msg and "has expired on" in warnings["Gone"].msg
    assert "Reconnect the ad account" in warnings["Gone"].hint


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
