"""The campaign snippet in the admin: the menu, the listing and its export, editing within Meta's
limits, the Messenger preview and the live audience count. Sending is in
``tests/test_campaign_sending.py``."""

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Permission
from django.utils import timezone
from wagtail.images.models import Image
from wagtail.images.tests.utils import get_test_image_file

from onesend_plugin.models import Campaign

from .campaign_admin_helpers import URL, form_data, subscribed
from .factories import CampaignFactory, MessengerPageFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


# -- Admin menu, listing, export ---------------------------------------------------------------------


def test_campaigns_are_in_the_one_messenger_menu(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert html.count('"Messenger"') == 1
    assert f'"{URL}"' in html


def test_flows_have_their_menu_item_next_to_the_campaigns(admin_client, client, django_user_model):
    html = admin_client.get("/admin/").content.decode()
    assert html.index(f'"{URL}"') < html.index('"Flows"') < html.index(f'"{URL}flows/"')
    assert html.index(f'"{URL}flows/"') < html.index('"/admin/messenger/pages/"')
    assert '"icon_name": "rotate"' in html  # one of Wagtail's icons (an unknown name draws nothing)
    reader = django_user_model.objects.create_user("reader", password="pw")
    reader.user_permissions.add(Permission.objects.get(codename="access_admin"))
    client.force_login(reader)
    assert f'"{URL}flows/"' not in client.get("/admin/").content.decode()


def test_listing_shows_status_and_the_engines_progress(admin_client, campaign, page, progress):
    campaign.status, campaign.audience_size, campaign.started_at = Campaign.Status.RUNNING, 4, timezone.now()
    campaign.save()
    progress[campaign.pk] = {"sent": 2, "percent": 75.0}
    CampaignFactory(page=page, name="Winter draft")

    response = admin_client.get(URL)
    assert response.status_code == 200
    rows = {row.instance.name: row.instance for row in response.context["table"].rows}
    assert rows["Summer sale"].progress["sent"] == 2
    html = response.content.decode()
    assert "onesend-status--running" in html and "Sending" in html and "75%" in html
    assert "campaign-admin.css" in html

    running = admin_client.get(URL, {"status": "running"})
    assert [row.instance.name for row in running.context["table"].rows] == ["Summer sale"]
    found = admin_client.get(URL, {"q": "winter"})
    assert [row.instance.name for row in found.context["table"].rows] == ["Winter draft"]


def test_csv_export_has_the_progress(admin_client, campaign, progress):
    progress[campaign.pk] = {"audience": 10, "sent": 4, "percent": 40.0}
    response = admin_client.get(URL, {"export": "csv"})
    assert response.status_code == 200
    header, row = b"".join(response.streaming_content).decode().strip().splitlines()
    assert header == "Name,Page,Status,Audience,Sent,Progress (%),Started at,Finished at"
    assert row == f"Summer sale,{campaign.page.name},draft,10,4,40.0,,"


# -- Creating and editing ------------------------------------------------------------------------------


def test_create_and_publish_a_campaign_with_buttons(admin_client, page):
    data = form_data(
        buttons=[("Shop now", "https://shop.example/sale"), ("Stores", "https://shop.example/stores")],
        page=page.pk,
        include_tags="vip, newsletter",
        schedule="at",
        send_at="2030-06-01 09:00",
        quiet_hours_start="21:00",
        quiet_hours_end="08:00",
    )
    response = admin_client.post(f"{URL}add/", {**data, "action-publish": "action-publish"})
    assert response.status_code == 302, response.context["form"].errors
    campaign = Campaign.objects.get()
    assert campaign.live and campaign.include_tags == "vip, newsletter"
    assert [button.title for button in campaign.buttons.all()] == ["Shop now", "Stores"]
    assert campaign.send_at.year == 2030 and campaign.status == Campaign.Status.DRAFT


def test_a_form_saved_again_before_it_learned_of_its_campaign_edits_that_campaign(admin_client, page):
    """Wagtail's autosave made the campaign; Publish, pressed before the autosave's answer came,
    posts the same form to the add view again: it publishes that campaign, with what it says."""
    key = "5b6a3c4e-0d1f-4a2b-9c8d-7e6f5a4b3c2d"
    buttons = [("Shop now", "https://shop.example/sale")]
    data = form_data(page=page.pk, onesend_form_key=key, buttons=buttons, b_buttons=buttons)
    autosave = admin_client.post(f"{URL}add/", data, headers={"accept": "application/json"})
    assert autosave.json()["success"]
    published = {**data, "text": "Summer sale: 40% off", "action-publish": "action-publish"}
    assert admin_client.post(f"{URL}add/", published).status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.live and campaign.text == "Summer sale: 40% off" and str(campaign.form_key) == key
    # The form's buttons have no ids yet (the autosave's answer brings them): they are not added twice.
    assert (
        [b.title for b in campaign.buttons.all()]
        == [b.title for b in campaign.variant_b_buttons.all()]
        == ["Shop now"]
    )


def test_an_autosave_answering_after_its_form_was_saved_makes_no_second_campaign(admin_client, page):
    key = "5b6a3c4e-0d1f-4a2b-9c8d-7e6f5a4b3c2d"
    data = form_data(page=page.pk, onesend_form_key=key)
    admin_client.post(f"{URL}add/", {**data, "action-publish": "action-publish"})
    late = admin_client.post(f"{URL}add/", {**data, "text": "older"}, headers={"accept": "application/json"})
    assert late.json()["error_code"] == "invalid_revision"
    assert Campaign.objects.get().text == "Summer sale: 30% off today only"


def test_a_user_with_one_page_finds_it_chosen_on_a_new_campaign(client, editor, page, admin_client):
    def chosen(client):
        html = BeautifulSoup(client.get(f"{URL}add/").content, "html.parser")
        return html.select_one("select[name=page] option[selected]")

    assert chosen(client)["value"] == str(page.pk)
    MessengerPageFactory()  # the agency's admin has two Pages to choose from
    assert chosen(admin_client)["value"] == ""


def test_the_new_campaign_form_carries_a_key_of_its_own(admin_client):
    keys = [
        BeautifulSoup(admin_client.get(f"{URL}add/").content, "html.parser").find(
            "input", {"name": "onesend_form_key"}
        )["value"]
        for _ in range(2)
    ]
    assert keys[0] != keys[1]


def test_editing_saves_a_draft_revision(admin_client, campaign):
    response = admin_client.post(f"{URL}edit/{campaign.pk}/", form_data(campaign, text="New draft text"))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.text != "New draft text"  # the live row keeps what goes out
    assert campaign.get_latest_revision_as_object().text == "New draft text"


def test_publishing_a_draft_while_sending_keeps_the_broadcast_state(admin_client, campaign):
    admin_client.post(f"{URL}edit/{campaign.pk}/", form_data(campaign, text="Draft saved before sending"))
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING, audience_size=10)
    data = {**form_data(campaign, text="Published while sending"), "action-publish": "action-publish"}
    assert admin_client.post(f"{URL}edit/{campaign.pk}/", data).status_code == 302
    campaign.refresh_from_db()
    assert campaign.text == "Published while sending"
    assert (campaign.status, campaign.audience_size) == ("running", 10)


@pytest.mark.parametrize(
    "fields, buttons, field, error",
    [
        ({"text": "x" * 2000}, [], "text", "at most 1999 characters in a text message (now 2000)"),
        ({"text": "x" * 641}, [("Shop", "https://x.example")], "text", "at most 640 characters with buttons"),
        ({"text": "Hi"}, [("B", "https://x.example")] * 4, "text", "at most 3 buttons"),
        ({"media": "image", "text": "x" * 81}, [], "text", "at most 80 characters (now 81)"),
        ({"media": "image", "text": "Card"}, [], "image", "Choose the image."),
        ({"media": "video", "video_url": "https://cdn.example/v.mp4"}, [], "text", "on its own"),
        ({"media": "video", "text": ""}, [], "video_url", "Give the video's URL."),
        ({"schedule": "at"}, [], "send_at", "Choose when to send it."),
        (
            {"schedule": "at", "send_at": "2030-06-02 09:00", "expires_at": "2030-06-01 09:00"},
            [],
            "expires_at",
            "Must be after the send time.",
        ),
        ({"quiet_hours_start": "21:00"}, [], "quiet_hours_end", "Set both or neither."),
        (
            {"opted_in_after": "2025-02-01 00:00", "opted_in_before": "2025-01-01 00:00"},
            [],
            "opted_in_before",
            "Must be after",
        ),
    ],
)
def test_meta_limits_and_schedule_are_errors_on_their_field(
    admin_client, campaign, fields, buttons, field, error
):
    response = admin_client.post(f"{URL}edit/{campaign.pk}/", form_data(campaign, buttons=buttons, **fields))
    assert response.status_code == 200
    assert any(error in message for message in response.context["form"].errors[field])
    assert error.replace("'", "&#x27;") in response.content.decode()


def test_button_title_over_20_characters_is_an_error_on_the_button(admin_client, campaign):
    data = form_data(campaign, buttons=[("A title far too long for Meta", "https://x.example")])
    response = admin_client.post(f"{URL}edit/{campaign.pk}/", data)
    assert response.status_code == 200
    [button] = response.context["form"].formsets["buttons"].forms
    assert "at most 20 characters" in button.errors["title"][0]


@pytest.mark.parametrize("url", ["ftp://files.example/sale.pdf", "ftps://files.example/sale.pdf"])
def test_a_button_link_must_be_a_web_address(admin_client, campaign, url):
    data = form_data(campaign, buttons=[("Sale", url)])
    response = admin_client.post(f"{URL}edit/{campaign.pk}/", data)
    assert response.status_code == 200
    [button] = response.context["form"].formsets["buttons"].forms
    assert button.errors["url"] == [
        "A button's link must be a web address starting with https:// (or http://)."
    ]
    data = form_data(campaign, buttons=[("Sale", "https://shop.example/sale")])
    assert admin_client.post(f"{URL}edit/{campaign.pk}/", data).status_code == 302


def test_image_card_within_limits_is_accepted(admin_client, campaign):
    image = Image.objects.create(
        title="Sale", file=get_test_image_file(), collection=campaign.page.account.collection
    )
    data = form_data(campaign, media="image", image=image.pk, text="Summer sale", subtitle="30% off today")
    assert admin_client.post(f"{URL}edit/{campaign.pk}/", data).status_code == 302


# -- Preview -----------------------------------------------------------------------------------------------


def preview(client, campaign, **fields):
    url = f"{URL}preview/{campaign.pk}/"
    data = form_data(campaign, **fields)
    assert client.post(url, data).json() == {"is_valid": True, "is_available": True}
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_preview_shows_a_messenger_text_bubble_with_quick_reply(admin_client, campaign):
    html = preview(admin_client, campaign, text="Hello <b>you</b>")
    assert 'class="bubble"' in html and "Hello &lt;b&gt;you&lt;/b&gt;" in html
    assert 'class="quick-replies__chip">Unsubscribe<' in html
    assert campaign.page.name in html and "campaign-preview.css" in html


def test_preview_shows_buttons_under_the_text(admin_client, campaign):
    html = preview(admin_client, campaign, buttons=[("Shop now", "https://shop.example/sale")])
    assert "bubble--template" in html
    assert 'href="https://shop.example/sale"' in html and ">Shop now<" in html


def test_preview_shows_an_image_card(admin_client, campaign):
    image = Image.objects.create(
        title="Sale", file=get_test_image_file(), collection=campaign.page.account.collection
    )
    html = preview(
        admin_client, campaign, media="image", image=image.pk, text="Summer sale", subtitle="30% off today"
    )
    assert 'class="card"' in html and 'class="card__image"' in html
    assert ">Summer sale<" in html and ">30% off today<" in html


def test_preview_shows_a_video_without_quick_replies(admin_client, campaign):
    html = preview(
        admin_client,
        campaign,
        media="video",
        text="",
        video_url="https://cdn.example/v.mp4",
        unsubscribe_quick_reply="",
    )
    assert '<video class="attachment attachment--video" src="https://cdn.example/v.mp4"' in html
    assert "quick-replies__chip" not in html


# -- Live audience count -----------------------------------------------------------------------------------


def test_audience_panel_and_endpoint_count_who_would_receive_it(admin_client, campaign, page):
    subscribed(page, 2)
    vip = subscribed(page, 1)[0]
    vip.tags.add("vip")
    SubscriberFactory(page=page, status="unsubscribed")

    form = admin_client.get(f"{URL}edit/{campaign.pk}/").content.decode()
    assert f'data-onesend-audience="{URL}audience/{campaign.pk}/"' in form
    assert "<strong data-onesend-audience-count>3</strong>" in form
    assert "campaign-audience.js" in form

    url = f"{URL}audience/{campaign.pk}/"
    assert admin_client.get(url, {"page": page.pk}).json() == {"count": 3, "error": ""}
    assert admin_client.get(url, {"page": page.pk, "include_tags": "vip"}).json() == {"count": 1, "error": ""}
    assert admin_client.get(url, {"page": page.pk, "exclude_tags": "vip"}).json() == {"count": 2, "error": ""}
    create_form = admin_client.get(f"{URL}audience/", {"page": page.pk})
    assert create_form.json() == {"count": 3, "error": ""}
    assert admin_client.get(url, {"page": page.pk, "opted_in_after": "not a date"}).status_code == 400


def test_audience_endpoint_needs_campaign_rights(client, django_user_model, campaign):
    client.force_login(django_user_model.objects.create_user("nobody", password="pw"))
    assert client.get(f"{URL}audience/", {"page": campaign.page_id}).status_code == 302


# -- Flows ----------------------------------------------------------------------------------------


def test_flows_have_their_own_list_and_are_active_or_paused(admin_client, page):
    broadcast_ = CampaignFactory(page=page, name="Summer sale", status=Campaign.Status.RUNNING)
    active = CampaignFactory(page=page, name="Cart reminder", trigger_event="cart_abandoned")
    paused = CampaignFactory(page=page, name="Thank you", trigger_event="order_placed")
    Campaign.objects.filter(pk=active.pk).update(status=Campaign.Status.RUNNING)
    Campaign.objects.filter(pk=paused.pk).update(status=Campaign.Status.PAUSED)

    broadcasts = BeautifulSoup(admin_client.get(URL).content, "html.parser")
    assert [a.get_text(strip=True) for a in broadcasts.select("tbody td.title .title-wrapper a")] == [
        broadcast_.name
    ]
    assert broadcasts.select_one(f'a[href="{URL}flows/"]').get_text(strip=True) == "Flows"

    flows = BeautifulSoup(admin_client.get(f"{URL}flows/").content, "html.parser")
    rows = {
        row.select_one("td.title .title-wrapper a").get_text(strip=True): [
            td.get_text(" ", strip=True) for td in row.select("td")
        ]
        for row in flows.select("tbody tr")
    }
    assert set(rows) == {"Cart reminder", "Thank you"}
    assert "cart_abandoned" in rows["Cart reminder"] and "Active" in rows["Cart reminder"]
    assert "Paused" in rows["Thank you"] and not any("Sending" in cell for cell in rows["Cart reminder"])
    assert flows.select_one(f'a[href="{URL}"]').get_text(strip=True) == "Broadcasts"
    results = admin_client.get(f"{URL}flows/results/", {"q": "Cart"}).content.decode()
    assert "Cart reminder" in results and "Thank you" not in results


def test_listing_shows_the_audience_once_started_never_0_for_a_draft(admin_client, campaign, page):
    """A draft's audience is counted when it starts (its page says how many would receive it now):
    the listing shows "—" for it, not a 0 that contradicts that page."""
    subscribed(page, 3)
    CampaignFactory(page=page, name="Started", started_at=timezone.now(), audience_size=3)
    table = admin_client.get(URL).context["table"]
    column = next(column for column in table.columns.values() if column.name == "audience")
    audience = {row.instance.name: column.get_value(row.instance) for row in table.rows}
    assert audience == {"Summer sale": "—", "Started": 3}
