"""Wagtail hook registrations only; the logic lives in ``onesend_plugin.admin``."""

from wagtail import hooks

from .admin.viewsets import MessengerViewSetGroup


@hooks.register("register_admin_viewset")
def register_viewsets():
    return MessengerViewSetGroup()
