"""Bulk actions ("select several, then delete/move/tag them") that name only what the user may see.

Wagtail's confirmation page lists the selected objects the user may not act on by name
("items with no access"), whatever ids the URL carries: a hand-made id list made it name every
client's campaigns, images and pages, although nothing of theirs was acted on.

- onesend's snippets (campaigns): the selection is narrowed to the user's accounts
  (:func:`scoping.narrow`) before anything is listed or acted on; other clients' ids are ignored.
- Wagtail's images, documents and pages: their permission policies decide what a user may see
  (the collections they may use, the pages they may explore); selected objects outside that are
  left out of the list. They were never acted on, and nothing else changes.

The subclasses are registered after Wagtail's own (``order=100`` in ``wagtail_hooks``), which
replaces Wagtail's action of the same type for these models.
"""

from __future__ import annotations

from importlib import import_module

from django.apps import apps
from django.db.models import QuerySet
from django.shortcuts import get_list_or_404
from django.utils.functional import classproperty
from wagtail.snippets.bulk_actions.delete import DeleteBulkAction as SnippetDeleteBulkAction
from wagtail.snippets.models import get_snippet_models

from ..accounts import scoping


class ScopedSnippetDeleteBulkAction(SnippetDeleteBulkAction):
    """Deleting campaigns (and any onesend snippet): only the user's accounts' rows take part."""

    @classproperty
    def models(cls):
        return [model for model in get_snippet_models() if model in scoping.ACCOUNT_PATH]

    def get_queryset(self, model, object_ids):
        """The selected rows within the user's accounts (404 when none: nothing says the others exist)."""
        return get_list_or_404(scoping.narrow(model._default_manager.all(), self.request), pk__in=object_ids)


class HidesUnseenMixin:
    """Leaves out of "items with no access" the selected objects the user may not see at all."""

    def visible_instances(self) -> QuerySet:
        raise NotImplementedError

    def get_actionable_objects(self):
        objects, extra = super().get_actionable_objects()
        hidden = extra.get("items_with_no_access", [])
        if hidden:
            seen = set(
                self.visible_instances()
                .filter(pk__in=[obj.pk for obj in hidden])
                .values_list("pk", flat=True)
            )
            extra = {**extra, "items_with_no_access": [obj for obj in hidden if obj.pk in seen]}
        return objects, extra


class CollectionMemberMixin(HidesUnseenMixin):
    """Images and documents: those in a collection the user may use in any way."""

    def visible_instances(self) -> QuerySet:
        return self.permission_policy.instances_user_has_any_permission_for(
            self.request.user, ["add", "change", "delete", "choose"]
        )


class ExplorablePageMixin(HidesUnseenMixin):
    """Pages: those the user may reach in the page explorer."""

    def visible_instances(self) -> QuerySet:
        from wagtail.permission_policies.pages import PagePermissionPolicy

        return PagePermissionPolicy().explorable_instances(self.request.user)


def _wagtail_actions() -> list[tuple[type, type]]:
    """(mixin, Wagtail's action class) for the media and page bulk actions installed."""
    from wagtail.admin.views.pages import bulk_actions as pages

    pairs = [
        (ExplorablePageMixin, action)
        for action in (
            pages.DeleteBulkAction,
            pages.MoveBulkAction,
            pages.PublishBulkAction,
            pages.UnpublishBulkAction,
        )
    ]
    for app in ("images", "documents"):
        if apps.is_installed(f"wagtail.{app}"):
            module = import_module(f"wagtail.{app}.views.bulk_actions")
            for name in ("AddTagsBulkAction", "AddToCollectionBulkAction", "DeleteBulkAction"):
                pairs.append((CollectionMemberMixin, getattr(module, name)))
    return pairs


def bulk_actions() -> list[type]:
    """The action classes to register in place of Wagtail's."""
    return [ScopedSnippetDeleteBulkAction] + [
        type(f"Scoped{action.__module__.split('.')[1].title()}{action.__name__}", (mixin, action), {})
        for mixin, action in _wagtail_actions()
    ]
