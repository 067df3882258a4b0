"""The campaign editor in a real browser: the character counter follows the chosen Page's limit
(640 on the paid Marketing Messages API) and the budget shows the Page's ad account currency."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from onesend_plugin.models import Channel

from .factories import MessengerPageFactory
from .fixtures.browser import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def editor(signed_in) -> Page:
    """A superuser signed in to the admin, on a new campaign's form."""
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)
    return signed_in(user, "/admin/messenger/campaigns/add/")


def test_the_counter_and_the_currency_follow_the_chosen_page(editor, shot):
    paid = MessengerPageFactory(
        name="US store", channel=Channel.MARKETING_API, ad_account_id="act_1", ad_account_currency="USD"
    )
    legacy = MessengerPageFactory(name="EU store")
    editor.reload()
    counter = editor.locator("[data-onesend-counter=text]")
    editor.locator("select[name=page]").select_option(str(paid.pk))
    editor.locator("textarea[name=text]").fill("x" * 641)
    expect(counter).to_have_text("641 / 640")
    expect(counter).to_have_class("onesend-counter onesend-counter--over")
    expect(editor.locator("[data-onesend-currency]")).to_have_text("USD")
    shot(editor, "01-over-the-paid-limit")
    editor.locator("select[name=page]").select_option(str(legacy.pk))
    expect(counter).to_have_text("641 / 1,999")
    expect(counter).to_have_class("onesend-counter")
    expect(editor.locator("[data-onesend-currency]")).to_have_text("")
