"""Client accounts and the Meta apps their Pages connect through."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel, FieldRowPanel, MultiFieldPanel, ObjectList, TabbedInterface
from wagtail.admin.viewsets.model import ModelViewSet

from ...models import Account, MetaApp
from .. import views
from ..forms import AccountForm, MetaAppForm
from .scoped import ScopedViewSetMixin


class AccountViewSet(ScopedViewSetMixin, ModelViewSet):
    """Client accounts and their settings: agency staff create them; a client admin edits their
    own (editors and analysts only see them listed); the Sites field is agency-only."""

    name = "onesend_accounts"
    url_prefix = "messenger/accounts"
    model = Account
    icon = "group"
    index_view_class = views.AccountIndexView
    list_display = ["name", "slug", "timezone", "created_at"]
    edit_handler = TabbedInterface(
        [
            ObjectList(
                [
                    FieldPanel("name"),
                    FieldPanel("slug"),
                    FieldRowPanel([FieldPanel("timezone"), FieldPanel("business_country")]),
                    FieldPanel("sites"),
                ],
                heading=_("Account"),
            ),
            ObjectList(
                [
                    MultiFieldPanel(
                        [
                            FieldPanel("frequency_cap_hours"),
                            FieldRowPanel(
                                [FieldPanel("quiet_hours_start"), FieldPanel("quiet_hours_end")],
                                heading=_("Quiet hours of new campaigns"),
                            ),
                        ],
                        heading=_("Sending"),
                    ),
                    FieldRowPanel(
                        [FieldPanel("attribution_click_days"), FieldPanel("attribution_read_days")],
                        heading=_("Attribution windows"),
                    ),
                    MultiFieldPanel(
                        [
                            FieldPanel("optin_title"),
                            FieldRowPanel([FieldPanel("optin_cta"), FieldPanel("optin_image_url")]),
                            FieldPanel("welcome_message"),
                        ],
                        heading=_("Opt-in wording and branding of new Pages"),
                    ),
                ],
                heading=_("Defaults"),
            ),
            ObjectList(
                [FieldPanel("events_secret"), FieldPanel("shopify_secret")],
                heading=_("Store events"),
            ),
        ],
        base_form_class=AccountForm,
    )
    search_fields = ["name", "slug"]


class MetaAppViewSet(ScopedViewSetMixin, ModelViewSet):
    name = "onesend_apps"
    url_prefix = "messenger/apps"
    model = MetaApp
    icon = "key"
    menu_label = _("Meta apps")
    list_display = ["name", "app_id", "created_at"]  # never the secret
    search_fields = ["name", "app_id"]
    edit_handler = ObjectList(
        [FieldPanel("name"), FieldPanel("app_id"), FieldPanel("app_secret"), FieldPanel("verify_token")],
        base_form_class=MetaAppForm,
    )
