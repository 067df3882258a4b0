from django.apps import AppConfig

#: onesend's own hook implementations, registered like any plugin (and blocked by this name).
BUILTIN_PLUGINS = ("onesend_plugin.store.builtin",)


class OnesendConfig(AppConfig):
    name = "onesend_plugin"
    label = "onesend"
    verbose_name = "Messenger (onesend)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing registers the system checks; loading plugins here makes a broken plugin
        # visible at start-up (reported by a system check) instead of at the first webhook.
        from django.db.models.signals import post_migrate

        from . import checks, site_checks  # noqa: F401
        from .accounts.groups import ensure_client_group
        from .accounts.scoping import log_entries
        from .hooks import plugins
        from .models import ScopedLogEntryManager

        ScopedLogEntryManager.narrow = log_entries

        plugins.load(BUILTIN_PLUGINS)
        post_migrate.connect(ensure_tick_schedule, sender=self)
        post_migrate.connect(ensure_client_group, sender=self)


def ensure_tick_schedule(**kwargs) -> None:
    """The one periodic task onesend needs: start due campaigns, recover after crashes."""
    from django.apps import apps

    if not apps.is_installed("django_q"):  # reported by the onesend.E001 check
        return
    from django_q.models import Schedule

    Schedule.objects.get_or_create(
        name="onesend-tick",
        defaults={"func": "onesend_plugin.tasks.tick", "schedule_type": Schedule.MINUTES, "minutes": 1},
    )
