"""The campaign editor in a real browser: the character counter follows the chosen Page's limit
(640 on the paid Marketing Messages API) and the budget shows the Page's ad account currency."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from playwright.sync_api import Page, expect

from onesend_plugin.models import Channel

from .factories import MessengerPageFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def editor(new_context, live_server, monkeypatch) -> Page:
    """A superuser signed in to the admin, on a new campaign's form (live-server threads close
    their connections, see ``test_browser.hermetic_site``)."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    page = new_context().new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/messenger/campaigns/add/")
    page.locator("input[name=username]").fill("admin")
    page.locator("input[name=password]").fill("pw")
    page.locator("form button[type=submit]").click()
    page.wait_for_url("**/admin/messenger/campaigns/add/")
    return page


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
