"""Account scoping of onesend's admin views: one wrapper for every view of every onesend viewset."""

from __future__ import annotations

from django.http import Http404
from django.utils.functional import cached_property
from django.views import View
from wagtail.admin.views.mixins import SpreadsheetExportMixin
from wagtail.snippets.views.chooser import SnippetChooserViewSet

from ...accounts import scoping
from ..exports import SafeSpreadsheetExportMixin


def _action(view) -> str:
    """The action a view performs on its object: its ``permission_required``, else "view"."""
    required = getattr(view, "permission_required", None)
    return required if isinstance(required, str) else "view"


def _narrow(queryset, request):
    if queryset is not None and queryset.model in scoping.ACCOUNT_PATH:
        return scoping.narrow(queryset, request)
    return queryset  # not onesend's rows (log entries, revisions): found through a scoped object


_scoped_classes: dict[type, type] = {}

#: The methods through which a view lists onesend rows: listings, exports and choosers.
LISTING_METHODS = ("get_base_queryset", "get_object_list", "get_objects")


def _narrowed(view_class: type, name: str):
    """``view_class``'s listing method ``name``, narrowed to the user's accounts."""

    def narrowed(self, *args, **kwargs):
        return _narrow(getattr(view_class, name)(self, *args, **kwargs), self.request)

    narrowed.__name__ = name
    return narrowed


def _checked_get_object(view_class: type):
    """``get_object`` that lets through only an object the user's role allows the view's action on."""

    def get_object(self, *args, **kwargs):
        obj = view_class.get_object(self, *args, **kwargs)
        if obj is not None and type(obj) in scoping.ACCOUNT_PATH:
            scoping.check(self.request.user, obj, _action(self))
        return obj

    return get_object


def _scoped_get_form(view_class: type):
    """``get_form`` whose model choice fields offer only what the user may use for the action."""

    def get_form(self, *args, **kwargs):
        form = view_class.get_form(self, *args, **kwargs)
        scoping.scope_fields(form.fields, self.request.user, (_action(self),))
        return form

    return get_form


def _scoped_filters(view_class: type) -> cached_property:
    """``filters`` whose choices are the user's (and the switcher's account's) only."""

    def filters(self):
        filterset = view_class.filters.func(self)
        if filterset is not None:
            account = scoping.active_account(self.request)
            scoping.scope_fields(filterset.form.fields, self.request.user, account=account)
        return filterset

    return cached_property(filters)


def _scoped_attrs(view_class: type) -> dict:
    """The overrides ``view_class`` needs: only for the methods it has."""
    attrs: dict = {"onesend_scoped": True, "__module__": view_class.__module__, "__doc__": view_class.__doc__}
    for name in LISTING_METHODS:
        if hasattr(view_class, name):
            attrs[name] = _narrowed(view_class, name)
    if hasattr(view_class, "get_object"):
        attrs["get_object"] = _checked_get_object(view_class)
    if hasattr(view_class, "get_form"):
        attrs["get_form"] = _scoped_get_form(view_class)
    if isinstance(getattr(view_class, "filters", None), cached_property):
        attrs["filters"] = _scoped_filters(view_class)
    return attrs


def scoped_view_class(view_class: type) -> type:
    """``view_class`` with every way it reaches onesend rows going through ``scoping``:

    * listings, exports and choosers (``get_base_queryset``, ``get_object_list``,
      ``get_objects``): only the user's accounts (and the account switcher's choice);
    * the object of an object view (``get_object``: edit, inspect, delete, history, usage, copy,
      revisions, preview, lock, unlock, and onesend's own actions): :func:`scoping.check` —
      404 outside the user's accounts, permission denied when the role does not allow the view's
      ``permission_required``;
    * model choice fields of its forms and filters (Pages, Accounts, Meta apps): only what the
      user may use;
    * spreadsheet exports: every CSV cell :func:`~..exports.spreadsheet_safe`.
    """
    if getattr(view_class, "onesend_scoped", False):
        return view_class
    if view_class in _scoped_classes:
        return _scoped_classes[view_class]
    bases = (view_class,)
    if issubclass(view_class, SpreadsheetExportMixin):  # listing exports: no formulas in cells
        bases = (SafeSpreadsheetExportMixin, view_class)
    scoped = type(view_class.__name__, bases, _scoped_attrs(view_class))
    _scoped_classes[view_class] = scoped
    return scoped


class ScopedViewSetMixin:
    """For every onesend viewset: each view it constructs is :func:`scoped_view_class`."""

    def construct_view(self, view_class, **kwargs):
        return super().construct_view(scoped_view_class(view_class), **kwargs)

    def get_queryset(self, request):
        """Snippet listings' queryset (ModelViewSet listings are narrowed in the view)."""
        return scoping.narrow(self.model._default_manager.all(), request)


class ScopedSnippetChooserViewSet(ScopedViewSetMixin, SnippetChooserViewSet):
    """The campaign chooser: only the user's campaigns. Campaigns are created in their editor,
    never from a chooser (Wagtail would fail on a chooser without a creation form)."""

    @property
    def create_view(self):
        return self.construct_view(NoChooserCreationView)


class NoChooserCreationView(View):
    def dispatch(self, request, *args, **kwargs):
        raise Http404
