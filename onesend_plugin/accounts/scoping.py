"""Who may see what: the one place that decides which client accounts a user can reach.

Agency staff (superusers, or users with ``onesend.access_all_accounts``) see every account.
Everyone else sees only the accounts they are a member of, with that membership's role. Every
admin surface filters through :func:`scope` and checks objects with :func:`allows` — through
:class:`AccountScopedPermissionPolicy` for Wagtail's generic views — so a new view is isolated
by the same rule rather than by a special case of its own.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import CharField, Model, Q, QuerySet
from django.db.models.functions import Cast
from django.http import Http404
from wagtail.permission_policies import ModelPermissionPolicy

from ..models import (
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
    WebhookDelivery,
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
    Conversion: "account",
    MetaApp: None,  # one app serves many clients: its secret is the agency's
    WebhookDelivery: None,  # one POST may carry several clients' events
}

#: What each role may do within its accounts (Wagtail action names plus onesend's own).
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Membership.Role.ADMIN: frozenset(
        {
            "view",
            "add",
            "change",
            "delete",
            "publish",
            "lock",
            "unlock",
            "send_test",
            "send_campaign",
            "erase_subscriber",
            "manage_account",  # the account's settings, members and invitations
        }
    ),
    Membership.Role.EDITOR: frozenset({"view", "add", "change", "publish", "lock", "unlock", "send_test"}),
    Membership.Role.ANALYST: frozenset({"view"}),
}

#: Wagtail action names (``permission_required`` of a view, the policy's ``action``) whose role
#: action is named after the Django permission they need.
ROLE_ACTION_OF = {"send": "send_campaign", "erase": "erase_subscriber"}

#: Actions that need more on some models than their name says: changing an account (its
#: settings) is the client admin's, not an editor's.
MODEL_ROLE_ACTIONS: dict[type[Model], dict[str, str]] = {Account: {"change": "manage_account"}}

#: Role actions guarded by another action's Django permission: a test send needs
#: ``onesend.send_campaign`` (the client group has it); the role then decides.
DJANGO_ACTION_OF = {"send_test": "send"}

#: The session key of the account switcher (an account id, or absent for "all my accounts").
SESSION_KEY = "onesend_account"


#: The user of the admin request being handled and the Wagtail Site of the page they edit, for
#: code that gets no request (a StreamField block's choices in the page editor). Set by the page
#: editor hooks, cleared at every request start.
_current_user: ContextVar = ContextVar("onesend_current_user", default=None)
_current_site: ContextVar = ContextVar("onesend_current_site", default=None)


def set_current_user(user, site=None) -> None:
    _current_user.set(user)
    _current_site.set(site)


def current_user():
    return _current_user.get()


def current_site():
    return _current_site.get()


def role_action(model: type[Model] | None, action: str) -> str:
    """The role action (``ROLE_ACTIONS``) that ``action`` on ``model`` needs."""
    return MODEL_ROLE_ACTIONS.get(model, {}).get(action) or ROLE_ACTION_OF.get(action, action)


def role_actions(actions, model: type[Model] | None = None) -> set[str]:
    return {role_action(model, action) for action in actions}


def is_agency(user) -> bool:
    return bool(user.is_active and (user.is_superuser or user.has_perm("onesend.access_all_accounts")))


def several_accounts() -> bool:
    """Whether a second account exists: until then the site is a single business's, and the
    agency's tools (the account switcher, the overview) would only get in its way."""
    return len(Account.objects.order_by().values_list("pk", flat=True)[:2]) > 1


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


def _account_filter(path: str, accounts) -> dict:
    return {"pk__in" if path == "pk" else f"{path}__in": accounts}


def scope(queryset: QuerySet, user, actions=("view",), account: int | None = None) -> QuerySet:
    """The rows of ``queryset`` the user may act on with any of ``actions`` (within ``account``
    only, when given: the account switcher's choice, still within the user's own)."""
    path = ACCOUNT_PATH.get(queryset.model)
    if not is_agency(user):
        if path is None:
            return queryset.none()
        wanted = role_actions(actions, queryset.model)
        allowed = [a for a, role in roles(user).items() if ROLE_ACTIONS[role] & wanted]
        queryset = queryset.filter(**_account_filter(path, allowed))
    if account is not None and path is not None:
        queryset = queryset.filter(**_account_filter(path, [account]))
    return queryset


def active_account(request) -> int | None:
    """The account chosen in the account switcher, if it is still one of the user's."""
    session = getattr(request, "session", None)
    account = session.get(SESSION_KEY) if session is not None else None
    if account is None:
        return None
    if is_agency(request.user) or account in roles(request.user):
        return account
    return None


def narrow(queryset: QuerySet, request, actions=("view",)) -> QuerySet:
    """:func:`scope` for a listing, report or export: the user's rows, in the active account."""
    return scope(queryset, request.user, actions, account=active_account(request))


def scope_fields(fields, user, actions=("view",), account: int | None = None) -> None:
    """Narrow a form's model choice fields (Pages, Accounts, ...) to the rows the user may use,
    for both the choices shown and the values accepted."""
    for field in fields.values():
        queryset = getattr(field, "queryset", None)
        if isinstance(queryset, QuerySet) and queryset.model in ACCOUNT_PATH:
            field.queryset = scope(queryset, user, actions, account=account)


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
    return role is not None and role_action(type(obj), action) in ROLE_ACTIONS[role]


def check(user, obj: Model, action: str = "view") -> Model:
    """404 for an object outside the user's accounts (nothing says it exists), 403 (Wagtail's
    "permission denied") when the user's role there does not allow ``action``."""
    if not allows(user, obj, "view"):
        raise Http404
    if not allows(user, obj, action):
        raise PermissionDenied
    return obj


def get_or_404(model_or_queryset, pk, user, action: str = "view") -> Model:
    """The object with this pk if the user may do ``action`` on it: every custom admin view
    fetches its object here."""
    queryset = (
        model_or_queryset
        if isinstance(model_or_queryset, QuerySet)
        else model_or_queryset._default_manager.all()
    )
    try:
        obj = scope(queryset, user).get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    return check(user, obj, action)


class AccountScopedPermissionPolicy(ModelPermissionPolicy):
    """Wagtail's model permissions, narrowed to the user's accounts and roles.

    Model level (menus, "Add" buttons, the views' ``permission_required``): the Django permission
    and, for a client user, a role in some account that allows the action. Instance level: the
    object's account and the user's role there. Models without an account (``ACCOUNT_PATH`` None:
    Meta apps) are for agency staff only. Subclasses narrow further with ``forbidden_actions``
    (nobody, not even superusers) and ``agency_only_actions``.
    """

    forbidden_actions: frozenset[str] = frozenset()
    agency_only_actions: frozenset[str] = frozenset()

    def user_has_permission(self, user, action):
        if action in self.forbidden_actions:
            return False
        if not super().user_has_permission(user, DJANGO_ACTION_OF.get(action, action)):
            return False
        if is_agency(user):
            return True
        if action in self.agency_only_actions or ACCOUNT_PATH.get(self.model) is None:
            return False
        wanted = role_action(self.model, action)
        return any(wanted in ROLE_ACTIONS[role] for role in roles(user).values())

    def user_has_any_permission(self, user, actions):
        return any(self.user_has_permission(user, action) for action in actions)

    def user_has_permission_for_instance(self, user, action, instance):
        return self.user_has_permission(user, action) and allows(user, instance, action)

    def user_has_any_permission_for_instance(self, user, actions, instance):
        return any(self.user_has_permission_for_instance(user, action, instance) for action in actions)

    def instances_user_has_any_permission_for(self, user, actions):
        actions = [action for action in actions if self.user_has_permission(user, action)]
        if not actions:
            return self.model._default_manager.none()
        return scope(self.model._default_manager.all(), user, actions)


#: The onesend models whose changes Wagtail's audit log records.
LOGGED_MODELS = (Account, MessengerPage, SubscriptionLink, Subscriber, Campaign)


def log_entries(entries: QuerySet, user) -> QuerySet:
    """Audit log entries (Wagtail's ``ModelLogEntry``) without those about other accounts'
    onesend objects: a client user's site history shows only their own accounts' changes."""
    if is_agency(user):
        return entries
    own = Q()
    for model in LOGGED_MODELS:
        ids = scope(model._default_manager.all(), user).annotate(key=Cast("pk", CharField())).values("key")
        own |= Q(content_type=ContentType.objects.get_for_model(model), object_id__in=ids)
    return entries.filter(~Q(content_type__app_label=Account._meta.app_label) | own)
