"""A client's content editor in a real browser: a campaign with an image uploaded from the
editor's own chooser, sent to the Page's subscribers; the media fields that follow "Attach"; the
character counter's limit with buttons; and the confirmation of a time already past."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from onesend_simulator.remote import wait_for
from playwright.sync_api import Page, expect
from wagtail.images.models import Image
from wagtail.images.tests.utils import get_test_image_file
from wagtail.snippets.views import snippets

from onesend_plugin.accounts.groups import ensure_client_group
from onesend_plugin.models import Campaign, Membership

from .factories import CampaignFactory
from .fixtures.browser import PASSWORD, TIMEOUT_MS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ADD_URL = "/admin/messenger/campaigns/add/"


@pytest.fixture
def client_editor(signed_in, sim_page) -> Page:
    """A user of the Page's client (its admin, in the clients' group), signed in on a new
    campaign's form. The Page is ``sim_page`` (no webhooks back): ``make_subscribers`` writes
    its people itself. Wagtail's autosave is on, as on a real site."""
    user = get_user_model().objects.create_user("florist", "florist@example.com", PASSWORD)
    user.groups.add(ensure_client_group())
    Membership.objects.create(user=user, account=sim_page.account, role=Membership.Role.ADMIN)
    return signed_in(user, ADD_URL)


#: Marks when Wagtail's editor starts watching for edits (an autosave follows an edit after that).
WATCH_EDITS = (
    "document.addEventListener('w-unsaved:watch-edits', () => { window.onesendWatchingEdits = true; });"
)


def media_field(page: Page, name: str):
    return page.locator(f"label[for=id_{name}]").locator(
        "xpath=ancestor::div[contains(@class,'w-panel__wrapper')][1]"
    )


def test_the_media_fields_follow_attach(client_editor, shot):
    for name in ("image", "subtitle", "document", "video_url"):
        expect(media_field(client_editor, name)).to_be_hidden()
    attach = client_editor.locator("select[name=media]")
    for choice, shown in (("image", {"image", "subtitle"}), ("file", {"document"}), ("video", {"video_url"})):
        attach.select_option(choice)
        for name in ("image", "subtitle", "document", "video_url"):
            field = media_field(client_editor, name)
            expect(field).to_be_visible() if name in shown else expect(field).to_be_hidden()
    shot(client_editor, "01-attach-video")
    expect(client_editor.get_by_text("Link (https://…)")).to_have_count(0)  # no button yet
    client_editor.locator("#id_buttons-ADD").click()
    expect(client_editor.locator("label[for=id_buttons-0-url]")).to_contain_text("Link (https://…)")


def test_the_counter_takes_the_button_templates_limit_once_there_is_a_button(client_editor, sim_page):
    client_editor.locator("select[name=page]").select_option(str(sim_page.pk))
    client_editor.locator("textarea[name=text]").fill("x" * 700)
    counter = client_editor.locator("[data-onesend-counter=text]")
    expect(counter).to_have_text("700 / 1,999")
    client_editor.locator("#id_buttons-ADD").click()
    client_editor.locator("input[name=buttons-0-title]").fill("Shop")
    expect(counter).to_have_text("700 / 640")
    expect(counter).to_have_class("onesend-counter onesend-counter--over")
    client_editor.locator("textarea[name=text]").fill("x" * 640)
    expect(counter).to_have_text("640 / 640")
    expect(counter).to_have_class("onesend-counter")


def test_a_client_uploads_an_image_and_sends_a_campaign_with_it(
    client_editor, sim_page, make_subscribers, simulator, live_server, tmp_path, shot
):
    people = make_subscribers(sim_page, 2)
    editor = client_editor
    editor.locator("input[name=name]").fill("Spring bouquets")
    editor.locator("select[name=page]").select_option(str(sim_page.pk))
    editor.locator("textarea[name=text]").fill("Spring bouquets are in")
    editor.locator("select[name=media]").select_option("image")

    # The image chooser's Upload tab: the file goes into the client's own collection.
    picture = tmp_path / "bouquet.png"
    picture.write_bytes(get_test_image_file().file.getvalue())
    media_field(editor, "image").get_by_role("button", name="Choose an image").click()
    editor.get_by_role("tab", name="Upload").click()
    editor.locator("input[name=image-chooser-upload-file]").set_input_files(str(picture))
    editor.locator("input[name=image-chooser-upload-title]").fill("Bouquet")
    shot(editor, "01-upload")
    editor.locator("#tab-upload").get_by_role("button", name="Upload").click()
    expect(editor.locator("#id_image-title")).to_have_text("Bouquet")
    image = Image.objects.get(title="Bouquet")
    assert image.collection == sim_page.account.collection

    # Published, then sent from its Sending and progress page.
    editor.locator("[data-w-dropdown-target=toggle]").last.click()
    editor.get_by_role("button", name="Publish").click()
    campaign = wait_for(
        lambda: Campaign.objects.filter(name="Spring bouquets", live=True).first(),
        what="the campaign published",
    )
    editor.goto(f"{live_server.url}/admin/messenger/campaigns/inspect/{campaign.pk}/")
    editor.get_by_role("link", name="Send now").click()
    shot(editor, "02-confirm")
    editor.get_by_role("button", name="Yes, send it now").click()
    wait_for(
        lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.FINISHED, what="the broadcast"
    )
    cards = [m for m in simulator.messages(sim_page.page_id) if "images/bouquet" in str(m)]  # its card
    assert sorted(card["psid"] for card in cards) == sorted(person.psid for person in people)
    editor.reload()
    report_link = editor.get_by_test_id("report-link")
    expect(report_link).to_be_visible()
    assert report_link.locator("svg").bounding_box()["height"] <= 24  # an icon, not a 150 px picture
    shot(editor, "03-sent")


def test_publish_pressed_while_the_autosave_makes_the_campaign_makes_it_once(
    client_editor, sim_page, monkeypatch
):
    """Wagtail's autosave makes the campaign from the new form; here the server holds it until
    Publish, pressed meanwhile, has been answered (as a slow server would): one campaign."""
    arrived, release, answered = threading.Event(), threading.Event(), threading.Event()
    create = snippets.CreateView.post

    def held(view, request, *args, **kwargs):
        if not view.expects_json_response:
            return create(view, request, *args, **kwargs)
        arrived.set()
        release.wait(timeout=TIMEOUT_MS / 1000)
        try:
            return create(view, request, *args, **kwargs)
        finally:
            answered.set()

    monkeypatch.setattr(snippets.CreateView, "post", held)
    editor = client_editor
    # Wagtail's editor takes what the form holds 2 s after it opened as unchanged: type after that.
    editor.context.add_init_script(WATCH_EDITS)
    editor.reload()
    editor.wait_for_function("window.onesendWatchingEdits")
    editor.locator("select[name=page]").select_option(str(sim_page.pk))
    editor.locator("textarea[name=text]").fill("Spring bouquets are in")
    editor.locator("input[name=name]").fill("Spring bouquets")
    assert arrived.wait(timeout=TIMEOUT_MS / 1000), "no autosave came"
    editor.locator("[data-w-dropdown-target=toggle]").last.click()
    editor.get_by_role("button", name="Publish").click()
    expect(editor.get_by_text("'Spring bouquets' created and published")).to_be_visible()
    release.set()
    assert answered.wait(timeout=TIMEOUT_MS / 1000)
    assert [(c.name, c.live) for c in Campaign.objects.all()] == [("Spring bouquets", True)]


def test_a_time_already_past_confirms_as_send_now(client_editor, sim_page, make_subscribers, live_server):
    make_subscribers(sim_page, 1)
    campaign = CampaignFactory(
        page=sim_page, schedule=Campaign.Schedule.AT, send_at=timezone.now() - timedelta(hours=2)
    )
    client_editor.goto(f"{live_server.url}/admin/messenger/campaigns/send/{campaign.pk}/")
    expect(client_editor.get_by_role("button", name="Yes, send it now")).to_be_visible()
    expect(client_editor.get_by_test_id("time-passed")).to_contain_text("has passed: it is sent now")
    expect(client_editor.get_by_text("Yes, schedule it")).to_have_count(0)
