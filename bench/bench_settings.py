"""Settings for ``bench/broadcast.py`` and ``bench/webhooks.py``: the example site's, plus what
they do not read from the environment. ``example_site/settings.py`` builds ``ONESEND`` from
``ONESEND_GRAPH_API_BASE_URL`` and ``ONESEND_MME_BASE_URL`` only, so the rate limiter's Redis
(``ONESEND_RATE_LIMIT_REDIS_URL``) and the pace (``ONESEND_TEXT_RATE_LIMIT``, Meta's 300/s unless
set) are added here; the django-q queue gets a private name (``BENCH_Q_NAME``) so that a benchmark
never takes another cluster's tasks from a shared Redis, and DEBUG is off (as in production: with
DEBUG on, Django keeps every query in memory)."""

import os

from example_site.settings import *  # noqa: F403
from example_site.settings import DATABASES, ONESEND, Q_CLUSTER

DEBUG = False
ROOT_URLCONF = "bench_urls"  # the site's URLs and a bare view, the webhook benchmark's yardstick
ONESEND = {
    **ONESEND,
    "RATE_LIMIT_REDIS_URL": os.environ.get("ONESEND_RATE_LIMIT_REDIS_URL") or None,
    "RUNNERS_PER_CAMPAIGN": int(os.environ.get("ONESEND_RUNNERS_PER_CAMPAIGN", 1)),
    "RATE_LIMIT_HEADROOM": float(os.environ.get("ONESEND_RATE_LIMIT_HEADROOM", 0.97)),
    # The benchmarks measure the engine against Meta's Send API limit (300/s per Page), not the
    # default pace of 40/s (README, "Sending pace").
    "TEXT_RATE_LIMIT": int(os.environ.get("ONESEND_TEXT_RATE_LIMIT", 300)),
}
Q_CLUSTER = {**Q_CLUSTER, "name": os.environ.get("BENCH_Q_NAME", Q_CLUSTER["name"]), "log_level": "WARNING"}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # several worker processes share the file
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "onesend_plugin": {"handlers": ["console"], "level": "WARNING"},
        "django_q": {"handlers": ["console"], "level": "WARNING"},
    },
}
