"""Pages of the example site: a home page and free-form content pages."""

from django.db import models
from wagtail.admin.panels import FieldPanel
from wagtail.fields import RichTextField, StreamField
from wagtail.models import Page

from .blocks import BodyBlock


class BodyPage(Page):
    """An intro and a StreamField body; both page types are built the same way."""

    intro = RichTextField(blank=True)
    body = StreamField(BodyBlock(), blank=True)

    content_panels = Page.content_panels + [FieldPanel("intro"), FieldPanel("body")]

    class Meta:
        abstract = True


class HomePage(BodyPage):
    subpage_types = ["home.ContentPage"]
    max_count = 1


class ContentPage(BodyPage):
    """An article. Publishing one offers to send it to Messenger subscribers (onesend makes a
    draft campaign from its title, intro and image, for the editor to review and send)."""

    image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    content_panels = BodyPage.content_panels[:2] + [FieldPanel("image")] + BodyPage.content_panels[2:]
    parent_page_types = ["home.HomePage", "home.ContentPage"]
    onesend_offer_campaign = True
