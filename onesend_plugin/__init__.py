"""onesend: consent-first Facebook Messenger marketing for Wagtail sites."""

__version__ = "0.1.0"
