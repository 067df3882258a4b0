""" "Send this page to Messenger" in a real browser: from a page's editor (its action menu, and
the offer after publishing) to a draft campaign prefilled from the page, open in the campaign
editor, with nothing sent."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect
from wagtail.images.models import Image
from wagtail.images.tests.utils import get_test_image_file

from example_site.home.models import ContentPage
from onesend_plugin.models import Campaign

from .factories import default_site_root
from .fixtures.browser import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BASE = "https://shop.example"


@pytest.fixture
def article(page, settings) -> ContentPage:
    """A live article with an intro and an image on the default Site, which the Messenger Page's
    account owns. The image is coloured: Wagtail's test image is white, a blank on the page."""
    settings.ONESEND = {**settings.ONESEND, "PUBLIC_BASE_URL": BASE}
    home = default_site_root()
    home.get_site().onesend_accounts.add(page.account)
    image = Image.objects.create(
        title="Tulips", file=get_test_image_file(colour="#c2255c"), collection=page.account.collection
    )
    return home.add_child(
        instance=ContentPage(
            title="Spring tulips", slug="spring-tulips", intro="<p>Fresh from the field.</p>", image=image
        )
    )


@pytest.fixture
def editor(signed_in) -> Page:
    """A superuser signed in to the admin."""
    return signed_in(get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD))


def expect_prefilled_draft(editor: Page, article: ContentPage, page) -> None:
    """The campaign editor, open on a draft made from ``article`` for ``page``; nothing sent."""
    expect(editor.locator("input[name=name]")).to_have_value("Spring tulips")
    expect(editor.locator("textarea[name=text]")).to_have_value("Spring tulips")
    expect(editor.locator("input[name=subtitle]")).to_have_value("Fresh from the field.")
    expect(editor.locator("select[name=media]")).to_have_value("image")
    expect(editor.locator("select[name=page]")).to_have_value(str(page.pk))
    expect(editor.locator("input[name=buttons-0-title]")).to_have_value("Read more")
    expect(editor.locator("input[name=buttons-0-url]")).to_have_value(
        f"{BASE}/spring-tulips/?utm_source=messenger&utm_medium=onesend&utm_campaign=spring-tulips"
    )
    campaign = Campaign.objects.get()
    assert not campaign.live and campaign.status == Campaign.Status.DRAFT
    assert campaign.image == article.image and campaign.deliveries.count() == 0


def test_send_to_messenger_from_the_page_editor_opens_a_prefilled_draft(
    editor, article, page, live_server, shot
):
    editor.goto(f"{live_server.url}/admin/pages/{article.pk}/edit/")
    footer = editor.locator("footer")
    footer.get_by_role("button", name="More actions").click()
    footer.get_by_role("link", name="Send to Messenger subscribers").click()
    expect(editor.get_by_test_id("send-page-draft")).to_contain_text("Fresh from the field.")
    expect(editor.locator("main")).to_contain_text(page.name)
    thumbnail = editor.get_by_test_id("send-page-draft").locator("img").element_handle()
    editor.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail)  # it loaded
    shot(editor, "01-the-draft-to-make")
    assert not Campaign.objects.exists()
    editor.get_by_test_id("send-page-create").click()
    expect(editor.locator(".messages")).to_contain_text("nothing goes out before you confirm")
    expect_prefilled_draft(editor, article, page)
    shot(editor, "02-the-campaign-editor")


def test_publishing_an_article_offers_to_send_it(editor, article, page, live_server, shot):
    editor.goto(f"{live_server.url}/admin/pages/{article.pk}/edit/")
    editor.locator("footer").get_by_role("button", name="More actions").click()
    editor.locator("footer").get_by_role("button", name="Publish").click()
    offer = editor.locator(".messages").get_by_role("link", name="Send it to Messenger subscribers")
    expect(offer).to_be_visible()
    shot(editor, "01-the-offer")
    assert not Campaign.objects.exists()
    offer.click()
    editor.get_by_test_id("send-page-create").click()
    expect_prefilled_draft(editor, article, page)
