"""StreamField blocks for site pages.

Add ``SubscribeBlock()`` to any ``StreamBlock`` or ``StreamField``; render streams with
``{% include_block %}`` so the block gets the request (for the shop's customer reference).

This module stays at the package's top level, outside ``subscribe/``: sites' migrations name
``onesend_plugin.blocks.SubscribeBlock`` and ``onesend_plugin.blocks.messenger_page_choices``.
"""

from __future__ import annotations

from django.core.validators import validate_slug
from django.utils.translation import gettext_lazy as _
from wagtail import blocks
from wagtail.images.blocks import ImageChooserBlock

from .accounts import scoping
from .models import MessengerPage
from .subscribe import links

DEFAULT_LABEL = "Get our deals on Messenger"
TEMPLATE = "onesend_plugin/blocks/subscribe.html"


def messenger_page_choices() -> list[tuple[str, str]]:
    """The Pages editors can pick: in the page editor, only the editing user's own (their
    accounts'), and on a Site owned by client accounts only those clients' Pages. The same list
    validates the saved value, so a crafted POST cannot pick another Page. A callable, so the
    database is read when the form is shown or validated, never at import or migration time."""
    pages = MessengerPage.objects.all()
    if (user := scoping.current_user()) is not None:
        pages = scoping.scope(pages, user)
    site = scoping.current_site()
    if site is not None and site.onesend_accounts.exists():
        pages = pages.filter(account__sites=site)
    return [(str(pk), name) for pk, name in pages.values_list("pk", "name")]


def button_context(page, *, request, source, tags, label, intro="", image=None, style="blue", align="center"):
    """What ``TEMPLATE`` renders, for the block and the template tag alike."""
    return {
        "subscribe_url": links.button_url(page, source, tags, request=request),
        "label": label,
        "intro": intro,
        "image": image,
        "style": style,
        "align": align,
    }


class SubscribeBlock(blocks.StructBlock):
    """A "Subscribe on Messenger" button, optionally with an intro and an image."""

    page = blocks.ChoiceBlock(choices=messenger_page_choices, label=_("Messenger Page"))
    label = blocks.CharBlock(default=DEFAULT_LABEL, max_length=60, label=_("Button label"))
    intro = blocks.RichTextBlock(required=False, features=["bold", "italic", "link"])
    image = ImageChooserBlock(required=False)
    ref = blocks.CharBlock(
        default="website",
        max_length=50,
        validators=[validate_slug],
        label=_("Source"),
        help_text=_("Recorded on subscribers to tell this button from other ways in, e.g. 'footer'."),
    )
    tags = blocks.CharBlock(
        required=False, help_text=_("Comma-separated tags given to people who subscribe here.")
    )
    style = blocks.ChoiceBlock(
        choices=[("blue", _("Messenger blue")), ("outline", _("Outline")), ("dark", _("Dark"))],
        default="blue",
    )
    align = blocks.ChoiceBlock(
        choices=[("left", _("Left")), ("center", _("Centre")), ("right", _("Right"))],
        default="center",
        label=_("Alignment"),
    )

    class Meta:
        template = TEMPLATE
        icon = "comment"
        label = _("Subscribe on Messenger")

    def get_context(self, value, parent_context=None):
        context = super().get_context(value, parent_context)
        page = MessengerPage.objects.filter(pk=value["page"]).first() if value["page"] else None
        context.update(
            button_context(
                page,
                request=(parent_context or {}).get("request"),
                source=value["ref"],
                tags=links.split_tags(value["tags"]),
                label=value["label"],
                intro=value["intro"],
                image=value["image"],
                style=value["style"],
                align=value["align"],
            )
        )
        return context
