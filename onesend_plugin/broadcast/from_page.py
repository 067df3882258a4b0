"""A campaign draft made from a Wagtail page ("Send this page to Messenger").

The draft is only a starting point: it is created unpublished, opened in the campaign editor,
and goes out only through the usual test, review and confirm steps. What it takes from the page:

* **text**: the title, then the page's ``intro`` (rich text becomes plain text), else its search
  description; cut at Messenger's limit for a message with a button;
* **image**: the first image field of the page's type that is set. With an image the message is
  a card, whose title is the page's title and whose subtitle is the intro (both at most 80
  characters: Meta's generic template). The image is used only from the campaign's account's
  collection: one from elsewhere is copied there first (once: a copy with the same file hash is
  reused), as a campaign may send only its own account's media;
* **button**: "Read more", to the page's public address with the UTM parameters of tracked
  links (``UTM_PARAMETERS``) written out, so the editor sees and can change them (the campaign
  named by its title's slug, or by the page's slug when the title has none).

A page type opts in to being offered a campaign when it is published with the class attribute
:data:`OFFER_ATTRIBUTE` set to True: the editor then sees a link to this draft, never a send.
"""

from __future__ import annotations

from html import unescape

from django.core.files.base import ContentFile
from django.db.models import ForeignKey, QuerySet
from django.utils.html import strip_tags
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from wagtail.actions.create import CreateAction
from wagtail.images import get_image_model

from .. import messages
from ..analytics import with_utm
from ..models import (
    BUTTON_TEXT_MAX_LENGTH,
    CARD_TITLE_MAX_LENGTH,
    PAID_TEXT_MAX_LENGTH,
    Account,
    Campaign,
    CampaignButton,
    MessengerPage,
)

#: The class attribute of a page type that asks for "Send it to Messenger subscribers" after
#: each publish.
OFFER_ATTRIBUTE = "onesend_offer_campaign"
#: The button's title (at most 20 characters: Meta's URL button).
READ_MORE = "Read more"
#: The longest text of a message with one button, whichever channel sends it.
TEXT_LIMIT = min(BUTTON_TEXT_MAX_LENGTH, PAID_TEXT_MAX_LENGTH)


def offers_campaign(page) -> bool:
    """Whether the page's type asks to be offered a campaign when it is published."""
    return bool(getattr(page.specific_class, OFFER_ATTRIBUTE, False))


def messenger_pages(pages: QuerySet[MessengerPage], site) -> QuerySet[MessengerPage]:
    """Of ``pages`` (those the user may make campaigns for), the ones a campaign from a page of
    ``site`` may go to: the Pages of the accounts owning the site, when any account owns it."""
    if site is not None and site.onesend_accounts.exists():
        pages = pages.filter(account__sites=site)
    return pages.select_related("account").order_by("account__name", "name")


def page_url(page) -> str | None:
    """The page's public address: on ``PUBLIC_BASE_URL`` for the default site (the address
    people open the site on), on its own root URL for another site; None when it has none."""
    parts = page.get_url_parts()
    if parts is None:
        return None
    _site_id, root_url, path = parts
    site = page.get_site()
    if site is None or site.is_default_site:
        return messages.public_url(path)
    return root_url.rstrip("/") + path


def intro(page) -> str:
    """The page's introduction as plain text: its ``intro`` field, else its search description."""
    value = getattr(page, "intro", "") or page.search_description or ""
    return " ".join(unescape(strip_tags(str(value))).split())


def page_image(page):
    """The value of the first image field of the page's type that is set, or None."""
    image_model = get_image_model()
    for field in type(page)._meta.concrete_fields:
        if isinstance(field, ForeignKey) and issubclass(field.related_model, image_model):
            if (image := getattr(page, field.name)) is not None:
                return image
    return None


def account_image(image, account: Account, user):
    """``image`` if ``account`` may send it, else its copy in the account's collection."""
    if account.owns_media(image):
        return image
    collection = account.collection
    model = type(image)
    copy = model.objects.filter(collection=collection, file_hash=image.get_file_hash()).first()
    if copy is None:
        with image.open_file() as source:
            content = ContentFile(source.read(), name=image.filename)
        copy = model(title=image.title, file=content, collection=collection, uploaded_by_user=user)
        copy.save()
        copy.get_file_hash()  # stored, for the next draft's lookup above
    return copy


def build(page, messenger_page: MessengerPage) -> Campaign:
    """The unsaved draft of a campaign about ``page`` (a live Wagtail page) for ``messenger_page``,
    with the page's own image (:func:`create_draft` puts it in the account's collection)."""
    page = page.specific
    title, summary = page.title.strip(), intro(page)
    campaign = Campaign(name=page.title[:255], page=messenger_page, live=False)
    image = page_image(page)
    if image is not None:
        campaign.media = Campaign.Media.IMAGE
        campaign.image = image
        campaign.text = Truncator(title).chars(CARD_TITLE_MAX_LENGTH)
        campaign.subtitle = Truncator(summary).chars(CARD_TITLE_MAX_LENGTH)
    else:
        campaign.text = Truncator("\n\n".join(filter(None, [title, summary]))).chars(TEXT_LIMIT)
    url = page_url(page)
    if url is None:
        raise ValueError(_("This page has no address on a site: it cannot be linked to."))
    # Unsaved, the draft has no id: a title without a slug names it by the page's own slug.
    campaign.buttons = [CampaignButton(title=READ_MORE, url=with_utm(url, campaign, fallback=page.slug))]
    return campaign


def create_draft(page, messenger_page: MessengerPage, user) -> Campaign:
    """Save :func:`build`'s draft as Wagtail's snippet editor would (a first revision, logged as
    created by ``user``); ``CreatePermissionError``, before anything is written, if the user may
    not add campaigns. ``messenger_page`` must be one the user may make campaigns for."""
    campaign = build(page, messenger_page)
    action = CreateAction(campaign, user=user)
    action.check()
    if campaign.image is not None:
        campaign.image = account_image(campaign.image, messenger_page.account, user)
    action.execute(skip_permission_checks=True)
    return campaign
