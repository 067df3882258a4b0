"""System checks of how a site hosts onesend: its database shared with the worker, its public
address, its URLs; and, under ``manage.py check --deploy``, what a production site must not keep
from development (the simulator, plain HTTP, SQLite, the ORM broker for many workers).

Each trap here passed every other check and then failed at send time, in the worker's log.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import django
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from . import conf

#: What a SQLite database shared by the web process and the worker needs: writers queue for the
#: lock when their transaction starts (IMMEDIATE) instead of failing at their first write, readers
#: don't block the writer (WAL), and a writer waits up to 20 s for the lock (timeout).
SQLITE_OPTIONS = {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
#: Hosts that are only placeholders: Wagtail's project template sets WAGTAILADMIN_BASE_URL to one.
PLACEHOLDER_HOSTS = {"example.com", "www.example.com"}
ROUTE_HINT = (
    'Add path("onesend/", include("onesend_plugin.urls")) to your ROOT_URLCONF, before Wagtail\'s '
    'catch-all path("", include(wagtail_urls)).'
)


def _sqlite_databases() -> dict[str, dict]:
    return {
        alias: database
        for alias, database in settings.DATABASES.items()
        if database.get("ENGINE", "").endswith("sqlite3")
    }


def _sqlite_missing(options: dict) -> list[str]:
    """What of ``SQLITE_OPTIONS`` a database's OPTIONS lack."""
    missing = []
    if str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
        missing.append("IMMEDIATE transactions")
    if "journal_mode=wal" not in str(options.get("init_command", "")).lower().replace(" ", ""):
        missing.append("the WAL journal")
    if (options.get("timeout") or 5) < SQLITE_OPTIONS["timeout"]:  # sqlite3's default: 5 s
        missing.append(f"a timeout of at least {SQLITE_OPTIONS['timeout']} s")
    return missing


@register()
def check_sqlite(app_configs=None, **kwargs) -> list:
    """Wagtail's project template gives SQLite no options: the first time the worker writes while
    the web process does, one of them fails with "database is locked"."""
    warnings = []
    for alias, database in _sqlite_databases().items():
        missing = _sqlite_missing(database.get("OPTIONS") or {})
        if missing:
            warnings.append(
                Warning(
                    f"SQLite database '{alias}' runs without {', '.join(missing)}: the web process and "
                    'the onesend worker (qcluster) will fail with "database is locked".',
                    hint=f'Set DATABASES["{alias}"]["OPTIONS"] = {SQLITE_OPTIONS!r}, or use PostgreSQL.',
                    id="onesend.W005",
                )
            )
    return warnings


def public_base_url() -> str:
    """The base of tracked links and media in messages, as ``messages.public_url`` picks it."""
    return conf.get("PUBLIC_BASE_URL") or getattr(settings, "WAGTAILADMIN_BASE_URL", "") or ""


@register()
def check_public_url(app_configs=None, **kwargs) -> list:
    """Tracked links and images in messages are absolute URLs on the public site: a placeholder
    host or a relative base sends every person's click nowhere."""
    base = public_base_url()
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.hostname in PLACEHOLDER_HOSTS:
        source = "PUBLIC_BASE_URL" if conf.get("PUBLIC_BASE_URL") else "WAGTAILADMIN_BASE_URL"
        return [
            Error(
                f"Tracked links and images in messages would point at {base!r} ({source}), "
                "not at your public site.",
                hint='Set ONESEND["PUBLIC_BASE_URL"] to your site\'s public address, e.g. "https://www.example.org".',
                id="onesend.E009",
            )
        ]
    if not conf.get("PUBLIC_BASE_URL"):
        return [
            Warning(
                f'ONESEND["PUBLIC_BASE_URL"] is not set: tracked links and images in messages use '
                f"WAGTAILADMIN_BASE_URL ({base}), the admin's address.",
                hint='Set ONESEND["PUBLIC_BASE_URL"] to the address people open links on.',
                id="onesend.W006",
            )
        ]
    return []


@register(Tags.urls)
def check_urls(app_configs=None, **kwargs) -> list:
    """Meta's webhooks, subscription links and tracked clicks are onesend's URLs: not included,
    or included after a pattern that matches every path (Wagtail's), they all answer 404."""
    try:
        webhook = reverse("onesend:webhook", kwargs={"app_id": "0"})
    except NoReverseMatch:
        return [Error("onesend's URLs are not in your ROOT_URLCONF.", hint=ROUTE_HINT, id="onesend.E010")]
    try:
        served_by = resolve(webhook).view_name
    except Resolver404:
        served_by = "no view"
    if served_by == "onesend:webhook":
        return []
    return [
        Error(
            f"onesend's webhook URL {webhook} is served by {served_by}: an earlier pattern (Wagtail's "
            "catch-all?) takes every onesend URL.",
            hint=ROUTE_HINT,
            id="onesend.E011",
        )
    ]


@register(deploy=True)
def check_meta_urls(app_configs=None, **kwargs) -> list:
    """In production, every call must reach Meta: the simulator (or a stand-in) answers nobody."""
    return [
        Error(
            f'ONESEND["{name}"] is {conf.get(name)!r}, not Meta\'s {conf.DEFAULTS[name]!r} '
            "(the simulator?): nothing reaches Meta.",
            hint=f'Remove ONESEND["{name}"] from your production settings.',
            id="onesend.E012",
        )
        for name in conf.META_URL_SETTINGS
        if conf.get(name).rstrip("/") != conf.DEFAULTS[name]
    ]


@register(deploy=True)
def check_https(app_configs=None, **kwargs) -> list:
    """Links in messages over plain HTTP can be read and altered on the way, and browsers mark
    them unsafe."""
    base = public_base_url()
    if urlsplit(base).scheme == "https":
        return []
    return [
        Warning(
            f"onesend's public URL {base!r} is not HTTPS: tracked links in messages would go over plain HTTP.",
            hint='Serve the site over HTTPS and set ONESEND["PUBLIC_BASE_URL"] = "https://…".',
            id="onesend.W007",
        )
    ]


@register(deploy=True)
def check_broker(app_configs=None, **kwargs) -> list:
    """The ORM broker polls the task table from every cluster and takes each task with a write:
    with several workers, the database carries the queue's traffic beside the sends'."""
    cluster = getattr(settings, "Q_CLUSTER", None) or {}
    workers = cluster.get("workers") or os.cpu_count() or 1  # django-q2's default: the CPU count
    if not cluster.get("orm") or workers <= 1:
        return []
    return [
        Warning(
            f"Q_CLUSTER uses the database (ORM) broker with {workers} workers: the database carries "
            "the task queue beside the sends and webhooks.",
            hint='Use Redis: Q_CLUSTER["redis"] = "redis://…" in place of "orm" (pip install redis), '
            'and ONESEND["RATE_LIMIT_REDIS_URL"] for the shared rate limiter. See docs/deployment.md.',
            id="onesend.W008",
        )
    ]


@register(deploy=True)
def check_production_database(app_configs=None, **kwargs) -> list:
    """SQLite serialises every write: one campaign's ledger updates hold up webhooks and the admin."""
    return [
        Warning(
            f"Database '{alias}' is SQLite: writes from the web processes and workers queue behind each other.",
            hint="Use PostgreSQL in production (see docs/deployment.md).",
            id="onesend.W009",
        )
        for alias in _sqlite_databases()
    ]


@register(deploy=True)
def check_meta_apps_deploy(app_configs=None, databases=None, **kwargs) -> list:
    """``check --deploy`` also looks at the Meta apps (``onesend.E004``). Before Django 6.1 a check
    is given no databases without ``--database``, and the database check then runs only with it,
    so this one stays quiet when it is given some. From 6.1 every check is given the databases
    whether ``--database`` was passed or not, so this one always looks (``check --deploy
    --database`` then names an incomplete app twice rather than ``check --deploy`` never)."""
    from .checks import check_meta_apps

    if databases and django.VERSION < (6, 1):
        return []
    return check_meta_apps(databases=["default"])
