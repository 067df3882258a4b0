"""Wagtail hook registrations only; the logic lives in ``onesend_plugin.admin``."""

from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.log_actions import LogFormatter
from wagtail.permissions import register_permission_policy
from wagtail.snippets.models import register_snippet

from .admin.permissions import ReadOnlyPermissionPolicy, SubscriberPermissionPolicy
from .admin.viewsets import MessengerViewSetGroup
from .models import Subscriber, WebhookEvent

register_permission_policy(WebhookEvent, ReadOnlyPermissionPolicy(WebhookEvent))
register_permission_policy(Subscriber, SubscriberPermissionPolicy(Subscriber))

register_snippet(MessengerViewSetGroup)


@hooks.register("register_log_actions")
def register_log_actions(actions):
    actions.register_action(
        "onesend.unsubscribe", _("Unsubscribe"), _("Unsubscribed from marketing messages")
    )
    actions.register_action("onesend.erase", _("Erase subscriber"), _("Subscriber erased"))

    # Written by the broadcast engine (``onesend_plugin.broadcast``).
    actions.register_action("onesend.campaign.start", _("Start sending"), _("Sending started"))
    actions.register_action("onesend.campaign.schedule", _("Schedule"), _("Scheduled"))
    actions.register_action("onesend.campaign.resume", _("Resume"), _("Resumed"))
    actions.register_action("onesend.campaign.cancel", _("Cancel"), _("Cancelled"))

    @actions.register_action("onesend.campaign.pause")
    class PauseFormatter(LogFormatter):
        label = _("Pause")

        def format_message(self, log_entry):
            if reason := log_entry.data.get("reason"):
                return _("Paused: %(reason)s") % {"reason": reason}
            return _("Paused")

    @actions.register_action("onesend.campaign.retry_unknown")
    class RetryUnknownFormatter(LogFormatter):
        label = _("Retry unknown")

        def format_message(self, log_entry):
            return _("%(count)s messages of unknown fate queued again") % {
                "count": log_entry.data.get("count", 0)
            }

    @actions.register_action("onesend.campaign.send_test")
    class SendTestFormatter(LogFormatter):
        label = _("Send test")

        def format_message(self, log_entry):
            return _("Test sent to subscriber %(subscriber)s") % {
                "subscriber": log_entry.data.get("subscriber")
            }


# -- Reports and the dashboard panel (``onesend_plugin.admin.reports`` and ``.dashboard``) ------


@hooks.register("register_admin_urls")
def register_report_urls():
    from .admin import reports

    return reports.admin_urls()


@hooks.register("register_reports_menu_item")
def register_campaign_report_menu_item():
    from .admin import reports

    return reports.menu_item()


@hooks.register("construct_homepage_panels")
def add_messenger_dashboard_panel(request, panels):
    from .admin import dashboard

    dashboard.add_panel(request, panels)
