"""Django settings for a plugin package's test suite: ``DJANGO_SETTINGS_MODULE =
"onesend_plugin.testing.settings"`` in its pytest configuration is all it needs.

Wagtail and onesend on SQLite, with django-q2 running tasks inline (``sync``), so a broadcast
or a store event is processed before the call that queued it returns. Entry points are loaded,
as on a site, so the package's own ``onesend`` entry points are what the tests exercise.
A suite that needs more imports this module and adds to it.
"""

import os
import tempfile

SECRET_KEY = "onesend-testing-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "onesend_plugin",
    "django_q",
    "wagtail.contrib.settings",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "onesend_plugin.testing.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# A file, not ":memory:": the live server and the simulator's webhooks use other threads, which
# need connections of their own to the same database.
_DB = os.path.join(tempfile.mkdtemp(prefix="onesend-plugin-tests-"), "test.sqlite3")
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _DB,
        "TEST": {"NAME": _DB},
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;",
        },
    }
}

# "log_level": django-q2's INFO lines would flood every failing test's output.
Q_CLUSTER = {
    "name": "onesend-tests",
    "orm": "default",
    "sync": True,
    "timeout": 60,
    "retry": 120,
    "log_level": "WARNING",
}
# The fixtures point the Graph API at the simulator.
ONESEND = {"LOAD_ENTRYPOINTS": True, "PUBLIC_BASE_URL": "http://testserver"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
MEDIA_ROOT = tempfile.mkdtemp(prefix="onesend-plugin-media-")
WAGTAIL_SITE_NAME = "onesend plugin tests"
WAGTAILADMIN_BASE_URL = "http://testserver"
