"""Test settings: the example site, with tasks run inline and a fast password hasher.

``DATABASE_URL`` selects PostgreSQL (the concurrency tests need it); SQLite otherwise.
"""

import os
import tempfile

from example_site.settings import *  # noqa: F403

if not os.environ.get("DATABASE_URL"):
    # The plugin test kit's SQLite file, which the live server's threads can share.
    from onesend_plugin.testing.settings import DATABASES

# Tasks run inline; django-q's per-task INFO lines (several per task, thousands per run) are noise.
Q_CLUSTER = {**Q_CLUSTER, "sync": True, "log_level": "WARNING"}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="onesend-test-media-")
# The example plugin package (examples/onesend-example-plugin), installed in the same venv, has a
# test suite of its own: its entry points would greet, segment and receive orders in this one.
EXAMPLE_PLUGINS = ["example_greeting", "example_segments", "example_orders"]
ONESEND = {**ONESEND, "LOAD_ENTRYPOINTS": True, "DISABLED_PLUGINS": EXAMPLE_PLUGINS}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False}

# Live-server threads must not keep connections open between requests: PostgreSQL would refuse to
# drop the test database at the end ("being accessed by other users").
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Tests need no durability: a commit need not wait for the disk (PostgreSQL's synchronous_commit,
# SQLite's synchronous pragma); transactional tests commit, and flush, a great deal.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"]["OPTIONS"],
        "init_command": DATABASES["default"]["OPTIONS"]["init_command"] + "PRAGMA synchronous=OFF;",
    }
else:
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"
