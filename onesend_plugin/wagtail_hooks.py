"""Wagtail hook registrations only; the logic lives in ``onesend_plugin.admin``."""

from wagtail import hooks
from wagtail.permissions import register_permission_policy

from .admin.permissions import ReadOnlyPermissionPolicy
from .admin.viewsets import MessengerViewSetGroup
from .models import WebhookEvent

register_permission_policy(WebhookEvent, ReadOnlyPermissionPolicy(WebhookEvent))


@hooks.register("register_admin_viewset")
def register_viewsets():
    return MessengerViewSetGroup()
