"""The "onesend clients" group: the Django permissions a client user needs to use onesend's admin
at all. Its members' Membership roles then narrow what they may do, account by account (see
``scoping.ROLE_ACTIONS``); the group alone shows them nothing."""

from __future__ import annotations

CLIENT_GROUP = "onesend clients"

#: (app label, codename) of every permission the group holds.
CLIENT_PERMISSIONS = [
    ("wagtailadmin", "access_admin"),
    ("onesend", "view_account"),
    ("onesend", "change_account"),  # client admins only: see scoping.MODEL_ROLE_ACTIONS
    ("onesend", "view_messengerpage"),
    ("onesend", "view_webhookevent"),
    ("onesend", "view_webhookdelivery"),  # agency staff only (scoping.ACCOUNT_PATH)
    ("onesend", "view_storeevent"),
    ("onesend", "view_subscriber"),
    ("onesend", "change_subscriber"),  # tags, unsubscribe
    ("onesend", "erase_subscriber"),
    ("onesend", "view_subscriptionlink"),
    ("onesend", "add_subscriptionlink"),
    ("onesend", "change_subscriptionlink"),
    ("onesend", "view_campaign"),
    ("onesend", "add_campaign"),
    ("onesend", "change_campaign"),
    ("onesend", "publish_campaign"),
    ("onesend", "lock_campaign"),
    ("onesend", "unlock_campaign"),
    ("onesend", "send_campaign"),
]


def ensure_client_group(**kwargs):
    """Create or complete the group (idempotent: a ``post_migrate`` handler). onesend's
    permissions are created first: Django's and Wagtail's own handlers (model permissions;
    publish/lock for snippets) may not have run yet for this app."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission
    from django.db.models import Q
    from wagtail.snippets.models import create_extra_permissions

    app_config = apps.get_app_config("onesend")
    create_permissions(app_config, verbosity=0)
    create_extra_permissions(app_config)

    group, _ = Group.objects.get_or_create(name=CLIENT_GROUP)
    wanted = Q(pk__in=[])
    for app_label, codename in CLIENT_PERMISSIONS:
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    group.permissions.add(*Permission.objects.filter(wanted))
    return group
