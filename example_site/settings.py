"""Settings of the example site: a small Wagtail site (pages + a tiny shop) using onesend.

Embedded default: SQLite and django-q2's ORM broker, so it runs on a bare machine.
Scaled set-up: ``DATABASE_URL=postgres://...`` and ``REDIS_URL=redis://...`` (Redis broker).
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("ONESEND_DATA_DIR", BASE_DIR.parent / ".demo"))
DATA_DIR.mkdir(parents=True, exist_ok=True)  # SQLite won't create the directory of its file

SECRET_KEY = os.environ.get("SECRET_KEY", "example-site-not-secret")
DEBUG = os.environ.get("DEBUG", "1") == "1"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "example_site.home",
    "example_site.shop",
    "onesend_plugin",
    "django_q",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.contrib.settings",
    "wagtail.embeds",
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
    "django.contrib.admin",
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
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "example_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "wagtail.contrib.settings.context_processors.settings",
            ],
        },
    },
]

WSGI_APPLICATION = "example_site.wsgi.application"

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # WAL + IMMEDIATE transactions keep the web process and the worker from tripping over
            # "database is locked".
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
        }
    }

Q_CLUSTER = {
    "name": "onesend",
    "workers": int(os.environ.get("Q_WORKERS", 2)),
    "timeout": 90,
    "retry": 180,
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": 0.2,
}
ONESEND = {
    "GRAPH_API_BASE_URL": os.environ.get("ONESEND_GRAPH_API_BASE_URL", "http://127.0.0.1:8765"),
    "MME_BASE_URL": os.environ.get("ONESEND_MME_BASE_URL", "http://127.0.0.1:8765/m.me"),
    # "Connect a Facebook Page" opens the simulator's login dialog instead of Facebook's.
    "OAUTH_DIALOG_BASE_URL": os.environ.get("ONESEND_OAUTH_DIALOG_BASE_URL", "http://127.0.0.1:8765"),
    "PLUGINS": ["example_site.shop.onesend_hooks"],
    # Coyote Outfitters' paid campaigns: Meta's spend asked for every minute, to watch it arrive.
    "PAID_INSIGHTS_MINUTES": 1,
    # ... and a campaign warming up asked again every 20 s (the demo's simulator warms up in 60 s).
    "PAID_WARM_UP_RETRY_SECONDS": 20,
    # An A/B test's hours, shortened by rundemo's --time-scale (60: an hour lasts a minute).
    "AB_TEST_HOUR_SECONDS": float(os.environ.get("ONESEND_AB_TEST_HOUR_SECONDS", 3600)),
    # Tracked links and images in messages: the site's own address (rundemo sets it to its port).
    "PUBLIC_BASE_URL": os.environ.get("WAGTAILADMIN_BASE_URL", "http://127.0.0.1:8000"),
}

if os.environ.get("REDIS_URL"):  # the scaled set-up: Redis brokers tasks and holds rate limits
    Q_CLUSTER["redis"] = os.environ["REDIS_URL"]
    ONESEND["RATE_LIMIT_REDIS_URL"] = os.environ["REDIS_URL"]
else:
    Q_CLUSTER["orm"] = "default"

AUTH_PASSWORD_VALIDATORS = []
# Invitations to client users are printed on the console (the web server's output) in the demo.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "onesend@localhost")
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"

WAGTAIL_SITE_NAME = "onesend example"
WAGTAILADMIN_BASE_URL = os.environ.get("WAGTAILADMIN_BASE_URL", "http://127.0.0.1:8000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"onesend_plugin": {"handlers": ["console"], "level": "INFO"}},
}
