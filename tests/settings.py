"""Test settings: the example site, with tasks run inline and a fast password hasher.

``DATABASE_URL`` selects PostgreSQL (the concurrency tests need it); SQLite otherwise.
"""

import os
import tempfile

from example_site.settings import *  # noqa: F403

if not os.environ.get("DATABASE_URL"):
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="onesend-test-media-")
ONESEND = {**ONESEND, "LOAD_ENTRYPOINTS": True}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False}
