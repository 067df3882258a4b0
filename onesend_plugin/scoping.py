"""Who may see what: the one place that decides which client accounts a user can reach.

Agency staff (superusers, or users with ``onesend.access_all_accounts``) see every account.
Everyone else sees only the accounts they are a member of, with that membership's role. Every
admin surface filters through :func:`scope` and checks objects with :func:`allows` — through
:class:`AccountScopedPermissionPolicy` for Wagtail's generic views — so a new view is isolated
by the same rule rather than by a special case of its own.
"""

from __future__ import annotations

from django.db.models import Model, QuerySet
from wagtail.permission_policies import ModelPermissionPolicy

from .models import (
    Account,
    Campaign,
    ConsentRecord,
    Conversion,
    Delivery,
    Membership,
    MessengerPage,
    MetaApp,
    StoreEvent,
    Subscriber,
    SubscriptionLink,
    WebhookEvent,
)

#: How each model reaches its account (a lookup path); None: agency staff only.
ACCOUNT_PATH: dict[type[Model], str | None] = {
    Account: "pk",
    MessengerPage: "account",
    SubscriptionLink: "page__account",
    Subscriber: "page__account",
    ConsentRecord: "page__account",
    Campaign: "page__account",
    Delivery: "page__account",
    WebhookEvent: "page__account",
    StoreEvent: "account",
    Conversion: "campaign__page__account",
    MetaApp: None,  # one app serves many clients: its secret is the agency's
}

#: What each role may do within its accounts (Wagtail action names plus onesend's own).
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Membership.Role.ADMIN: frozenset(
        {"view", "add", "change", "delete", "publish", "lock", "unlock", "send_campaign", "erase_subscriber"}
    ),
    Membership.Role.EDITOR: frozenset({"view", "add", "change", "publish", "lock", "unlock"}),
    Membership.Role.ANALYST: frozenset({"view"}),
}


def is_agency(user) -> bool:
    return bool(user.is_active and (user.is_superuser or user.has_perm("onesend.access_all_accounts")))


def roles(user) -> dict[int, str]:
    """Account id → role, for a client user (cached on the user object for the request)."""
    if not hasattr(user, "_onesend_roles"):
        memberships = (
            Membership.objects.filter(user=user) if user.is_authenticated else Membership.objects.none()
        )
        user._onesend_roles = dict(memberships.values_list("account_id", "role"))
    return user._onesend_roles


def accounts(user) -> QuerySet[Account]:
    return Account.objects.all() if is_agency(user) else Account.objects.filter(pk__in=roles(user))


def scope(queryset: QuerySet, user, actions=("view",)) -> QuerySet:
    """The rows of ``queryset`` the user may act on with any of ``actions``."""
    if is_agency(user):
        return queryset
    path = ACCOUNT_PATH.get(queryset.model)
    if path is None:
        return queryset.none()
    allowed = [account for account, role in roles(user).items() if ROLE_ACTIONS[role] & set(actions)]
    return queryset.filter(**{"pk__in" if path == "pk" else f"{path}__in": allowed})


def account_id_of(obj: Model) -> int | None:
    path = ACCOUNT_PATH.get(type(obj))
    if path is None:
        return None
    if path == "pk":
        return obj.pk
    for part in path.split("__")[:-1]:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return getattr(obj, f"{path.split('__')[-1]}_id", None)


def allows(user, obj: Model, action: str = "view") -> bool:
    """Whether the user may do ``action`` on this object, as far as accounts and roles go
    (Django permissions are checked separately, by the permission policy)."""
    if is_agency(user):
        return True
    role = roles(user).get(account_id_of(obj))
    return role is not None and action in ROLE_ACTIONS[role]


class AccountScopedPermissionPolicy(ModelPermissionPolicy):
    """Wagtail's model permissions, narrowed to the user's accounts and roles."""

    def user_has_permission_for_instance(self, user, action, instance):
        return allows(user, instance, action) and super().user_has_permission_for_instance(
            user, action, instance
        )

    def user_has_any_permission_for_instance(self, user, actions, instance):
        return any(self.user_has_permission_for_instance(user, action, instance) for action in actions)

    def instances_user_has_any_permission_for(self, user, actions):
        return scope(super().instances_user_has_any_permission_for(user, actions), user, actions)
