"""Wagtail hook registrations only; the logic lives in ``onesend_plugin.admin``."""

from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.permissions import register_permission_policy

from .admin.permissions import ReadOnlyPermissionPolicy, SubscriberPermissionPolicy
from .admin.viewsets import MessengerViewSetGroup
from .models import Subscriber, WebhookEvent

register_permission_policy(WebhookEvent, ReadOnlyPermissionPolicy(WebhookEvent))
register_permission_policy(Subscriber, SubscriberPermissionPolicy(Subscriber))


@hooks.register("register_admin_viewset")
def register_viewsets():
    return MessengerViewSetGroup()


@hooks.register("register_log_actions")
def register_log_actions(actions):
    actions.register_action(
        "onesend.unsubscribe", _("Unsubscribe"), _("Unsubscribed from marketing messages")
    )
    actions.register_action("onesend.erase", _("Erase subscriber"), _("Subscriber erased"))
    for action, label in CAMPAIGN_ACTIONS.items():
        actions.register_action(f"onesend.campaign.{action}", label, label)


CAMPAIGN_ACTIONS = {
    "start": _("Campaign started"),
    "schedule": _("Campaign scheduled"),
    "pause": _("Campaign paused"),
    "resume": _("Campaign resumed"),
    "cancel": _("Campaign cancelled"),
    "retry_unknown": _("Unknown deliveries queued again"),
    "send_test": _("Test message sent"),
}
