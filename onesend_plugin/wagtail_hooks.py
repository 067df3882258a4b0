"""Wagtail hook registrations only; the logic lives in ``onesend_plugin.admin``."""

from django.core.signals import request_started
from django.db import models
from wagtail import hooks
from wagtail.models import ModelLogEntry
from wagtail.snippets.models import register_snippet

from .accounts import scoping
from .admin import deleting, log_actions, media
from .admin.bulk_actions import bulk_actions
from .admin.menu import MessengerViewSetGroup
from .admin.permissions import register_policies
from .models import ScopedModelLogEntry

# Every onesend model in the admin gets an account-scoped policy, before the viewsets read it.
register_policies()
media.register_media_policies()

register_snippet(MessengerViewSetGroup)

# After Wagtail's own: they replace its bulk actions for campaigns, images, documents and pages.
for action_class in bulk_actions():
    hooks.register("register_bulk_action", action_class, order=100)


hooks.register("after_delete_snippet", deleting.after_delete_snippets)


# -- Account scoping outside onesend's own views ----------------------------------------------------


def forget_current_user(**kwargs):
    scoping.set_current_user(None)


request_started.connect(forget_current_user, dispatch_uid="onesend-forget-current-user")


@hooks.register("before_edit_page")
def remember_page_editor(request, page):
    """The subscribe block's Page choices (``blocks.messenger_page_choices``) are the editor's
    own, and those of the clients owning the page's Site."""
    scoping.set_current_user(request.user, page.get_site())


@hooks.register("before_create_page")
def remember_page_creator(request, parent_page, page_class):
    scoping.set_current_user(request.user, parent_page.get_site())


@hooks.register("construct_admin_api", order=100)  # after Wagtail's images and documents
def scope_admin_api(router):
    media.scope_admin_api(router)


@hooks.register("register_admin_urls", order=-1)  # before Wagtail's viewsets build their URLs
def scope_tag_autocomplete():
    """Wagtail's tag autocomplete, and the popular tags of its media listings and image chooser,
    offer only tag names the user may see (``admin.tags``)."""
    from .admin import tags

    return tags.admin_urls()


@hooks.register("register_admin_urls", order=-1)  # before Wagtail's viewsets build their URLs
def upload_media_into_account_collections():
    """The campaign's media choosers upload into its account's collection (``admin.media``)."""
    return media.chooser_urls()


@hooks.register("register_admin_urls")
def register_account_switch_urls():
    from .admin import switcher

    return switcher.admin_urls()


@hooks.register("register_admin_menu_item")
def register_account_switch_menu_item():
    from .admin import switcher

    return switcher.menu_item()


@hooks.register("register_admin_urls")
def register_agency_urls():
    from .admin import agency, members, plugins

    return agency.admin_urls() + members.admin_urls() + plugins.admin_urls()


@hooks.register("register_admin_menu_item")
def register_agency_menu_item():
    from .admin import agency

    return agency.menu_item()


@hooks.register("register_settings_menu_item")
def register_plugins_menu_item():
    from .admin import plugins

    return plugins.menu_item()


@hooks.register("register_log_actions", order=100)  # after Wagtail's own registrations
def register_scoped_log_model(actions):
    """Model changes are logged through ``ScopedModelLogEntry`` (the same table as Wagtail's
    ``ModelLogEntry``), so reports listing log entries show a client only their own accounts'."""
    actions.log_entry_models.discard(ModelLogEntry)
    actions.register_model(models.Model, ScopedModelLogEntry)


@hooks.register("register_log_actions")
def register_log_actions(actions):
    """onesend's own audit-log actions (``admin.log_actions``)."""
    log_actions.register(actions)


# -- "Send this page to Messenger" (``onesend_plugin.admin.from_page``) ---------------------------


@hooks.register("register_admin_urls")
def register_send_page_urls():
    from .admin import from_page

    return from_page.admin_urls()


@hooks.register("register_page_action_menu_item")
def register_send_page_menu_item():
    from .admin import from_page

    return from_page.SendPageMenuItem(order=90)


@hooks.register("register_page_header_buttons")
@hooks.register("register_page_listing_more_buttons")
def send_page_buttons(page, user, view_name=None, next_url=None):
    from .admin import from_page

    yield from from_page.page_buttons(page, user)


@hooks.register("after_publish_page")
def offer_campaign_after_publish(request, page):
    from .admin import from_page

    from_page.offer_after_publish(request, page)


# -- Reports and the dashboard panel (``onesend_plugin.admin.reports`` and ``.dashboard``) ------


@hooks.register("register_admin_urls")
def register_report_urls():
    from .admin.reports import urls

    return urls.admin_urls()


@hooks.register("register_reports_menu_item")
def register_campaign_report_menu_item():
    from .admin.reports import base

    return base.menu_item()


@hooks.register("construct_homepage_panels")
def add_messenger_dashboard_panel(request, panels):
    from .admin import dashboard

    dashboard.add_panel(request, panels)
