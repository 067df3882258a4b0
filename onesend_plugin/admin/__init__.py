"""Everything the Wagtail admin shows. Registered from ``onesend_plugin/wagtail_hooks.py``."""
