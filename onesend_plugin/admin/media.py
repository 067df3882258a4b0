"""Client media: each account's images and documents live in the account's own Wagtail
collection (``Account.collection``), and a client user reaches only their accounts' collections —
in the image and document listings, choosers and upload forms (all read Wagtail's permission
policy, replaced here) and in the admin API (which reads no policy: scoped endpoints below).

The permissions inside an account's collection come from the user's role there
(``scoping.ROLE_ACTIONS``), not from group rows: the "onesend clients" group is shared by every
client, so a collection permission given to it would be every client's. Agency staff get them in
every account's collection, on top of their own groups'. Wagtail users who are not client users
(no membership) keep Wagtail's rules unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from wagtail.documents import get_document_model
from wagtail.documents.api.admin.views import DocumentsAdminAPIViewSet
from wagtail.documents.views import chooser as document_chooser
from wagtail.images import get_image_model
from wagtail.images.api.admin.views import ImagesAdminAPIViewSet
from wagtail.models import Collection
from wagtail.permission_policies.collections import CollectionOwnershipPermissionPolicy
from wagtail.permissions import policy_registry, register_permission_policy

from ..accounts import scoping
from ..models import Account, Membership, MessengerPage

#: Wagtail's media action (its permission codename's prefix) → the role action it needs.
ROLE_ACTION_OF_MEDIA = {"add": "add", "change": "change", "choose": "view"}

#: The permission models of Wagtail's images and documents (custom models keep these).
AUTH_MODELS = {"wagtailimages": "image", "wagtaildocs": "document"}

#: The media choosers' URL parameter naming the campaign's Page (the campaign form's image and
#: document choosers send it, Wagtail's ``linked_fields``): their Upload tab starts in the
#: collection of that Page's account, not in Root.
PAGE_PARAM = "onesend_page"


def media_permissions() -> list[Permission]:
    wanted = Q(pk__in=[])
    for app_label, model in AUTH_MODELS.items():
        codenames = [f"{action}_{model}" for action in ROLE_ACTION_OF_MEDIA]
        wanted |= Q(content_type__app_label=app_label, codename__in=codenames)
    return list(Permission.objects.filter(wanted))


class RolePermission(NamedTuple):
    """A collection permission from a role, read by Wagtail like a ``GroupCollectionPermission``
    row (hashable: Wagtail puts them in sets)."""

    collection: Collection
    permission: Permission

    @property
    def collection_id(self) -> int:
        return self.collection.pk


def account_permissions(user) -> list[RolePermission]:
    """What the user's roles allow in their accounts' collections, as collection permissions;
    agency staff act as client admins in every account."""
    role_of = roles_in_accounts(user)
    accounts = Account.objects.filter(pk__in=role_of, collection__isnull=False).select_related("collection")
    permissions = media_permissions()
    return [
        RolePermission(account.collection, permission)
        for account in accounts
        for permission in permissions
        if ROLE_ACTION_OF_MEDIA[permission.codename.split("_")[0]]
        in scoping.ROLE_ACTIONS[role_of[account.pk]]
    ]


def roles_in_accounts(user) -> dict[int, str]:
    if scoping.is_agency(user):
        return dict.fromkeys(Account.objects.values_list("pk", flat=True), Membership.Role.ADMIN)
    return scoping.roles(user)


def is_client(user) -> bool:
    """A client user: a member of some account, and not agency staff."""
    return bool(user.is_authenticated and not scoping.is_agency(user) and scoping.roles(user))


class AccountMediaPermissionPolicy(CollectionOwnershipPermissionPolicy):
    """Wagtail's collection-based policy for images and documents, with the collection
    permissions of client users replaced by those of their roles in their accounts' collections.
    Its own cache name: Wagtail's other collection policies cache the plain group rows."""

    permission_cache_name = "_onesend_media_permission_cache"

    def get_all_permissions_for_user(self, user):
        if not user.is_active or user.is_anonymous or user.is_superuser:
            return super().get_all_permissions_for_user(user)
        if is_client(user):
            return account_permissions(user)
        if scoping.is_agency(user):
            return [*super().get_all_permissions_for_user(user), *account_permissions(user)]
        return list(super().get_all_permissions_for_user(user))


def register_media_policies() -> None:
    """Replace Wagtail's image and document policies. ``exact_class``: those of Wagtail's apps,
    registered in their ``ready`` (which may run after this: onesend is listed first), are
    looked up only when no exact one is registered."""
    for model, auth_model in (
        (get_image_model(), "wagtailimages.Image"),
        (get_document_model(), "wagtaildocs.Document"),
    ):
        policy = AccountMediaPermissionPolicy(
            model, auth_model=auth_model, owner_field_name="uploaded_by_user"
        )
        register_permission_policy(model, policy, exact_class=True)


def visible_media(queryset: QuerySet, user) -> QuerySet:
    """The media the admin API shows the user: a client user's accounts' only; other users
    everything but the media of accounts' collections they may not use."""
    if user.is_superuser or scoping.is_agency(user):
        return queryset
    policy = policy_registry.get_by_type(queryset.model)
    usable = policy.collections_user_has_any_permission_for(user, ["choose", "change"])
    if is_client(user):
        return queryset.filter(collection__in=usable)
    client_collections = Q(pk__in=[])
    for path in Collection.objects.filter(onesend_account__isnull=False).values_list("path", flat=True):
        client_collections |= Q(collection__path__startswith=path)
    return queryset.filter(~client_collections | Q(collection__in=usable))


class ScopedMediaAPIMixin:
    """An admin API endpoint listing (and finding, and showing) only :func:`visible_media`."""

    def get_queryset(self):
        return visible_media(super().get_queryset(), self.request.user)


class ScopedImagesAdminAPIViewSet(ScopedMediaAPIMixin, ImagesAdminAPIViewSet):
    pass


class ScopedDocumentsAdminAPIViewSet(ScopedMediaAPIMixin, DocumentsAdminAPIViewSet):
    pass


def scope_admin_api(router) -> None:
    router.register_endpoint("images", ScopedImagesAdminAPIViewSet)
    router.register_endpoint("documents", ScopedDocumentsAdminAPIViewSet)


#: A campaign's image and document fields (an A/B test's variant B has its own).
CAMPAIGN_MEDIA_FIELDS = ("image", "document", "variant_b_image", "variant_b_document")


def check_campaign_media(form, campaign, cleaned) -> None:
    """A campaign may send only its own account's image or document: one chosen by id from
    another collection (another client's) is refused on its field."""
    account = campaign.page.account if campaign.page_id else None
    for field in CAMPAIGN_MEDIA_FIELDS:
        media = cleaned.get(field)
        if media is None or account is None:
            continue
        if not account.owns_media(media):
            form.add_error(
                field,
                _("Choose one from the collection of %(account)s.") % {"account": campaign.page.account},
            )


def upload_collection(request) -> Collection | None:
    """The collection of the account of the Page named by :data:`PAGE_PARAM`, if the user may
    see that Page."""
    page_pk = request.GET.get(PAGE_PARAM, "")
    if not page_pk.isdigit():
        return None
    pages = scoping.scope(MessengerPage.objects.select_related("account__collection"), request.user)
    page = pages.filter(pk=page_pk).first()
    return page.account.collection if page else None


class AccountUploadMixin:
    """A media chooser whose Upload tab starts in :func:`upload_collection` (a user with a
    single collection has no choice to make: Wagtail hides the field)."""

    def get_creation_form_kwargs(self):
        kwargs = super().get_creation_form_kwargs()
        if self.request.method == "GET" and (collection := upload_collection(self.request)):
            kwargs["initial"] = {"collection": collection.pk}
        return kwargs


class DocumentChooseView(AccountUploadMixin, document_chooser.DocumentChooseView):
    pass


def chooser_urls() -> list:
    """Give Wagtail's document chooser :class:`DocumentChooseView` before its viewset builds its
    URLs (the image chooser's view, ``tags.ImageChooseView``, includes the mixin too)."""
    document_chooser.viewset.choose_view_class = DocumentChooseView
    return []


def link_choosers_to_page(form) -> None:
    """The campaign form's image and document choosers send the chosen Page (:data:`PAGE_PARAM`)."""
    for name in CAMPAIGN_MEDIA_FIELDS:
        if name in form.fields and "page" in form.fields:
            form.fields[name].widget.linked_fields = {PAGE_PARAM: f"#{form['page'].auto_id}"}
