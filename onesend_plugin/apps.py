from django.apps import AppConfig


class OnesendConfig(AppConfig):
    name = "onesend_plugin"
    label = "onesend"
    verbose_name = "Messenger (onesend)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing registers the system checks; loading plugins here makes a broken plugin
        # visible at start-up (reported by a system check) instead of at the first webhook.
        from . import checks  # noqa: F401
        from .hooks import plugins

        plugins.load()
