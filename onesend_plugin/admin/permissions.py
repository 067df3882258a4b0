"""Permission policies for onesend's admin surfaces: all of them are
:class:`~onesend_plugin.accounts.scoping.AccountScopedPermissionPolicy` (accounts and roles), some with
extra rules of their model."""

from __future__ import annotations

from django.db.models import Model
from wagtail.permissions import register_permission_policy

from ..accounts.scoping import AccountScopedPermissionPolicy
from ..models import (
    Account,
    Campaign,
    MessengerPage,
    MetaApp,
    StoreEvent,
    Subscriber,
    SubscriptionLink,
    WebhookDelivery,
    WebhookEvent,
)


class ReadOnlyPermissionPolicy(AccountScopedPermissionPolicy):
    """Rows only onesend itself writes (the webhook inbox, store events): staff may look, nobody
    may edit, not even superusers — an edited inbox would no longer be evidence of what was sent.
    Client users see only their Pages' events (an unknown Page's events: agency staff only)."""

    def user_has_permission(self, user, action):
        return action == "view" and super().user_has_permission(user, action)


class SubscriberPermissionPolicy(AccountScopedPermissionPolicy):
    """Subscribers come only from opt-ins and leave only through erasure, which keeps the
    consent trail: nobody adds or plainly deletes one, not even superusers. Erasing needs the
    custom ``erase`` action (``onesend.erase_subscriber``, and a role that may erase)."""

    forbidden_actions = frozenset({"add", "delete"})


class AccountPermissionPolicy(AccountScopedPermissionPolicy):
    """Clients see their own accounts; only agency staff create or delete accounts."""

    agency_only_actions = frozenset({"add", "delete"})


#: Every onesend model the admin shows, with its policy.
POLICIES: dict[type[Model], type[AccountScopedPermissionPolicy]] = {
    Account: AccountPermissionPolicy,
    MetaApp: AccountScopedPermissionPolicy,  # no account: agency staff only
    MessengerPage: AccountScopedPermissionPolicy,
    Subscriber: SubscriberPermissionPolicy,
    SubscriptionLink: AccountScopedPermissionPolicy,
    Campaign: AccountScopedPermissionPolicy,
    WebhookEvent: ReadOnlyPermissionPolicy,
    WebhookDelivery: ReadOnlyPermissionPolicy,  # no account: agency staff only
    StoreEvent: ReadOnlyPermissionPolicy,
}


def register_policies() -> None:
    for model, policy_class in POLICIES.items():
        register_permission_policy(model, policy_class(model))
