"""Tag names only from what the user may see.

Wagtail keeps every tag in one table (taggit's ``Tag``), and its tag autocomplete
(``/admin/tag-autocomplete/``, behind every tag field of the admin) suggests from all of it to
anyone with admin access. Subscriber tags are a client's own words about their audience, so every
other client could read them there. :func:`visible_tags` decides instead; for agency staff it is
Wagtail's behaviour, for everyone else:

- a tag used on onesend's objects (subscribers) counts only where it is used within the user's
  accounts (:func:`scoping.scope`): a user without a membership gets none of them;
- a tag used on images or documents counts where the user may use the image or document (their
  permission policies: collections), as their listings and choosers show them;
- a tag used on anything else (pages' tags, other apps' models) counts as in Wagtail, for anyone:
  onesend knows nothing private about it, and ordinary Wagtail editors keep their suggestions;
- an unused tag counts for nobody: nothing tells whose it was (a removed subscriber tag, an erased
  subscriber's tags leave their names behind).

The "popular tags" of the image and document listings (their tag filter) and of the image chooser
are Wagtail's top ten of all images' (documents') tags, counted without a user: :func:`popular_tags`
counts them by the same rule, over the media in the user's sight only.

Wagtail's URL patterns for the autocomplete come before any ``register_admin_urls`` pattern, and
its tag widget reverses their names, so a URL of onesend's own could not take their place:
:func:`admin_urls` (the ``register_admin_urls`` hook, called while Wagtail builds its admin
URLconf) gives those two patterns :func:`autocomplete` as their view, before Wagtail wraps every
admin view in its login and admin-access checks. The listings' patterns get views whose tag filter
reads :func:`popular_tags` the same way, and the image chooser's viewset its choose view, before
Wagtail builds the viewsets' URLs (so this hook comes first: ``order=-1``).
"""

from __future__ import annotations

import sys

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404, JsonResponse
from taggit.models import GenericTaggedItemBase, ItemBase, Tag, TagBase, TaggedItem
from wagtail.admin.models import popular_tags_for_model
from wagtail.admin.views import tags as wagtail_tags
from wagtail.documents import admin_urls as document_urls
from wagtail.documents.views import documents
from wagtail.images import admin_urls as image_urls
from wagtail.images.views import chooser as image_chooser
from wagtail.images.views import images
from wagtail.permissions import policy_registry

from ..accounts import scoping
from .media import AccountUploadMixin

#: Wagtail's URL names of the tag autocomplete (any tag model; one tag model).
WAGTAIL_URL_NAMES = ("wagtailadmin_tag_autocomplete", "wagtailadmin_tag_model_autocomplete")

#: What a user does with an image or document that makes its tags theirs to see.
MEDIA_ACTIONS = ["add", "change", "delete", "choose"]


def _media_models() -> list:
    """The installed image and document models (tagged through taggit's generic ``TaggedItem``)."""
    models = []
    if apps.is_installed("wagtail.images"):
        from wagtail.images import get_image_model

        models.append(get_image_model())
    if apps.is_installed("wagtail.documents"):
        from wagtail.documents import get_document_model

        models.append(get_document_model())
    return models


def _items_in_sight(through, user) -> QuerySet:
    """The rows of a tag through model whose tagged object the user may see (module docstring)."""
    items = through._default_manager.all()
    if issubclass(through, GenericTaggedItemBase):
        for model in _media_models():
            visible = policy_registry.get_by_type(model).instances_user_has_any_permission_for(
                user, MEDIA_ACTIONS
            )
            items = items.exclude(
                Q(content_type=ContentType.objects.get_for_model(model))
                & ~Q(object_id__in=visible.values("pk"))
            )
        return items
    tagged_model = through._meta.get_field("content_object").related_model
    if tagged_model in scoping.ACCOUNT_PATH:
        return items.filter(content_object__in=scoping.scope(tagged_model._default_manager.all(), user))
    return items


def visible_tags(tags: QuerySet, user) -> QuerySet:
    """The tags of ``tags`` (any taggit tag model) whose names the user may read."""
    if scoping.is_agency(user):
        return tags
    in_sight = Q(pk__in=[])
    for relation in tags.model._meta.related_objects:
        through = relation.related_model
        if issubclass(through, ItemBase):
            items = _items_in_sight(through, user).filter(**{relation.field.name: OuterRef("pk")})
            in_sight |= Q(Exists(items))
    return tags.filter(in_sight)


def popular_tags(model, user, count: int = 10) -> QuerySet:
    """The most used tags of an image or document model, as its listing and chooser offer them:
    Wagtail's for agency staff; for anyone else counted only over the media in their sight
    (:func:`_items_in_sight`, as :func:`visible_tags`), so that neither another client's tag names
    nor their counts show. An editor who may use every image gets Wagtail's tags."""
    if scoping.is_agency(user):
        return popular_tags_for_model(model, count)
    items = _items_in_sight(TaggedItem, user).filter(content_type=ContentType.objects.get_for_model(model))
    return (
        Tag.objects.filter(taggit_taggeditem_items__in=items)
        .annotate(item_count=Count("taggit_taggeditem_items"))
        .order_by("-item_count")[:count]
    )


class PopularTagsFilterSetMixin:
    """A media listing's filter set whose tag filter offers :func:`popular_tags` (Wagtail's
    ``BaseMediaFilterSet`` adds that filter only when there are tags to offer)."""

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        if "tag" in self.filters:
            names = [tag.name for tag in popular_tags(self._meta.model, request.user)]
            if names:
                self.filters["tag"].extra["choices"] = [(name, name) for name in names]
            else:
                del self.filters["tag"]


class ImagesFilterSet(PopularTagsFilterSetMixin, images.ImagesFilterSet):
    pass


class DocumentsFilterSet(PopularTagsFilterSetMixin, documents.DocumentsFilterSet):
    pass


class ImagesIndexView(images.IndexView):
    filterset_class = ImagesFilterSet


class DocumentsIndexView(documents.IndexView):
    filterset_class = DocumentsFilterSet


class ImageChooseView(AccountUploadMixin, image_chooser.ImageChooseView):
    """Popular tags in sight only; the Upload tab in the campaign's account collection."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["popular_tags"] = popular_tags(self.model, self.request.user)
        return context


#: Wagtail's listing views (of the "index" and "index_results" patterns) → onesend's.
LISTING_VIEWS = {images.IndexView: ImagesIndexView, documents.IndexView: DocumentsIndexView}


def autocomplete(request, app_name=None, model_name=None):
    """Wagtail's tag autocomplete (same URLs, same answers) from :func:`visible_tags` only."""
    tag_model = Tag
    if app_name and model_name:
        try:
            tag_model = ContentType.objects.get_by_natural_key(app_name, model_name).model_class()
        except ContentType.DoesNotExist as e:
            raise Http404 from e
        if tag_model is None or not issubclass(tag_model, TagBase):
            raise Http404
    term = request.GET.get("term")
    if not term:
        return JsonResponse([], safe=False)
    tags = visible_tags(tag_model._default_manager.filter(name__istartswith=term), request.user)
    names = tags.order_by("name").values_list("name", flat=True)[: wagtail_tags.TAGS_AUTOCOMPLETE_LIMIT]
    return JsonResponse(list(names), safe=False)


def admin_urls() -> list:
    """Give Wagtail's autocomplete patterns :func:`autocomplete` as their view, its media listings'
    patterns :data:`LISTING_VIEWS` and its image chooser :class:`ImageChooseView` (see the module
    docstring). Only undecorated views are replaced: called again later, this changes nothing."""
    wagtail_urls = sys.modules.get("wagtail.admin.urls")
    for pattern in getattr(wagtail_urls, "urlpatterns", []):
        if (
            getattr(pattern, "name", None) in WAGTAIL_URL_NAMES
            and pattern.callback is wagtail_tags.autocomplete
        ):
            pattern.callback = autocomplete
    for pattern in [*image_urls.urlpatterns, *document_urls.urlpatterns]:
        view = LISTING_VIEWS.get(getattr(pattern.callback, "view_class", None))
        if view:
            pattern.callback = view.as_view(**pattern.callback.view_initkwargs)
    image_chooser.viewset.choose_view_class = ImageChooseView
    return []
