"""The campaign snippet in the admin: editing within Meta's limits, the Messenger preview, the
live audience count, the send actions (guarded by ``send_campaign``) and live progress."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Permission
from django.utils import timezone
from wagtail import hooks
from wagtail.images.models import Image
from wagtail.images.tests.utils import get_test_image_file
from wagtail.models import ModelLogEntry
from wagtail.test.utils.form_data import inline_formset, nested_form_data

from onesend_plugin import broadcast
from onesend_plugin.messenger.errors import GraphError
from onesend_plugin.models import Campaign, Membership, Subscriber

from .factories import CampaignFactory, MarketingTokenFactory, MessengerPageFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

URL = "/admin/messenger/campaigns/"


@pytest.fixture
def campaign(page):
    return CampaignFactory(page=page, name="Summer sale")


def subscribed(page, n=1, **fields):
    """Subscribers the Page's marketing-token channel can reach (each holds an active token)."""
    people = SubscriberFactory.create_batch(n, page=page, **fields)
    for person in people:
        MarketingTokenFactory(subscriber=person)
    return people


def editor_with(django_user_model, client, page, *codenames):
    user = django_user_model.objects.create_user("editor", password="pw")
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["access_admin", "add_campaign", "change_campaign", "publish_campaign", *codenames]
        )
    )
    # A client admin of the Page's account: what they may do there is up to their permissions.
    Membership.objects.create(user=user, account=page.account, role=Membership.Role.ADMIN)
    client.force_login(user)
    return user


@pytest.fixture
def editor(django_user_model, client, page):
    """May write and publish campaigns, not send them."""
    return editor_with(django_user_model, client, page)


@pytest.fixture
def sender(django_user_model, client, page):
    return editor_with(django_user_model, client, page, "send_campaign")


def form_data(campaign=None, buttons=(), b_buttons=(), **fields):
    """The edit form's POST data; ``fields`` override the content (``b_buttons``: an A/B test's
    variant B's)."""
    data = {
        "name": "Summer sale",
        "page": campaign.page_id if campaign else "",
        "text": "Summer sale: 30% off today only",
        "media": "",
        "image": "",
        "subtitle": "",
        "document": "",
        "video_url": "",
        "unsubscribe_quick_reply": "on",
        "include_tags": "",
        "exclude_tags": "",
        "include_refs": "",
        "exclude_refs": "",
        "opted_in_after": "",
        "opted_in_before": "",
        "schedule": "now",
        "send_at": "",
        "quiet_hours_start": "",
        "quiet_hours_end": "",
        "expires_at": "",
        "ab_test_share": 20,
        "ab_metric": "clicks",
        "ab_hours": 4,
        **fields,
    }
    data["buttons"] = inline_formset([{"title": title, "url": url} for title, url in buttons])
    data["variant_b_buttons"] = inline_formset([{"title": title, "url": url} for title, url in b_buttons])
    return nested_form_data(data)


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


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


@pytest.fixture
def progress(monkeypatch):
    """``broadcast.progress`` answers these values (merged over an idle campaign's)."""
    values = {}

    def fake(campaign):
        idle = {"status": campaign.status, "audience": campaign.audience_size, "sent": 0, "percent": 0.0}
        return {
            **idle,
            "queued": 0,
            "delivered": 0,
            "read": 0,
            "failed": {},
            "skipped": {},
            "unknown": 0,
            "rate_per_second": 0.0,
            "throttled_until": None,
            "last_error": "",
            "eta_seconds": None,
            **values.get(campaign.pk, {}),
        }

    monkeypatch.setattr(broadcast, "progress", fake)
    return values


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
    data = form_data(page=page.pk, onesend_form_key=key)
    autosave = admin_client.post(f"{URL}add/", data, headers={"accept": "application/json"})
    assert autosave.json()["success"]
    published = {**data, "text": "Summer sale: 40% off", "action-publish": "action-publish"}
    assert admin_client.post(f"{URL}add/", published).status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.live and campaign.text == "Summer sale: 40% off" and str(campaign.form_key) == key


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


# -- Sending and progress page ------------------------------------------------------------------------------


@pytest.fixture
def engine(monkeypatch):
    """Records the engine actions the admin calls, with the user who asked."""
    calls = []

    def record(name, result=None, status=None):
        def action(campaign, *args, user=None, **kwargs):
            calls.append((name, campaign.pk, *args, user.username))
            if status:
                campaign.status = status
            return result

        monkeypatch.setattr(broadcast, name, action)

    record("start", status=Campaign.Status.RUNNING)
    for name in ("pause", "resume", "cancel"):
        record(name)
    record("retry_unknown", result=2)
    record("send_test", result="m_1")
    return calls


def test_progress_page_shows_actions_to_a_sender(client, sender, campaign):
    response = client.get(f"{URL}inspect/{campaign.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{URL}send/{campaign.pk}/"' in html and "Send now" in html
    assert f'action="{URL}send_test/{campaign.pk}/"' in html
    assert f'data-onesend-progress="{URL}progress/{campaign.pk}/"' in html
    assert 'id="onesend-progress-data"' in html and "campaign-progress.js" in html


def test_a_drafts_progress_page_counts_its_audience_as_the_confirmation_does(client, sender, campaign):
    subscribed(campaign.page, 6)
    soup = BeautifulSoup(client.get(f"{URL}inspect/{campaign.pk}/").content, "html.parser")
    assert soup.select_one("[data-testid=audience-now]").get_text(strip=True) == "6 would receive it now"
    assert not soup.select("[data-testid=report-link]"), "nothing to report before it is sent"
    settings = [dt.get_text(strip=True) for dt in soup.select("main dl:not(.onesend-counts) dt")]
    assert "Page" in settings and "Send at" not in settings and "Expires at" not in settings
    assert not soup.select(".help-critical:not([hidden])"), "nothing for 'Go to the first error' to find"


def test_a_sent_campaigns_page_links_to_its_report_and_shows_no_rate_once_finished(client, sender, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.FINISHED, started_at=timezone.now(), finished_at=timezone.now()
    )
    soup = BeautifulSoup(client.get(f"{URL}inspect/{campaign.pk}/").content, "html.parser")
    link = soup.select_one("[data-testid=report-link]")
    assert link["href"] == f"/admin/messenger/reports/campaign/{campaign.pk}/"
    assert "Campaign performance" in link.get_text()
    assert soup.select_one("[data-shown-if=rate_per_second]").has_attr("hidden")


def test_editor_without_send_permission_sees_no_actions_and_cannot_send(client, editor, campaign, engine):
    html = client.get(f"{URL}inspect/{campaign.pk}/").content.decode()
    assert f"{URL}send/" not in html and f"{URL}send_test/" not in html
    assert f'data-onesend-progress="{URL}progress/{campaign.pk}/"' in html  # progress is not a secret
    for name in ("send", "pause", "resume", "cancel", "retry_unknown", "send_test"):
        response = client.post(f"{URL}{name}/{campaign.pk}/")
        assert response["Location"] == "/admin/", name  # Wagtail's answer to PermissionDenied
    assert client.get(f"{URL}send/{campaign.pk}/")["Location"] == "/admin/"
    assert engine == []


def test_send_now_confirms_with_the_audience_then_starts(client, sender, campaign, engine):
    subscribed(campaign.page, 3)
    confirmation = client.get(f"{URL}send/{campaign.pk}/")
    html = confirmation.content.decode()
    assert f"3 subscribers of {campaign.page.name} would receive it now." in html
    assert "Now." in html and "Yes, send it now" in html
    assert engine == []  # nothing happens before confirming

    response = client.post(f"{URL}send/{campaign.pk}/", follow=True)
    assert response.redirect_chain[0][0] == f"{URL}inspect/{campaign.pk}/"
    assert engine == [("start", campaign.pk, "editor")]
    assert "Sending started." in messages_of(response)


def test_send_now_says_who_the_frequency_cap_skips_as_the_report_will(client, sender, campaign):
    """Someone messaged an hour ago is in the audience but is skipped when it goes out: the
    confirm step says so, in the report's words, rather than counting them as reached."""
    [recent, *_] = subscribed(campaign.page, 3)
    Subscriber.objects.filter(pk=recent.pk).update(last_marketing_at=timezone.now() - timedelta(hours=1))
    hours = round(campaign.page.cooldown.total_seconds() / 3600)
    html = BeautifulSoup(client.get(f"{URL}send/{campaign.pk}/").content, "html.parser")
    audience = html.find("dt", string="Audience").find_next("dd")
    assert " ".join(audience.text.split()) == (
        f"3 subscribers of {campaign.page.name} are in its audience: 1 of them — Skipped: Got a marketing "
        f"message too recently (one marketing message per person per {hours} h); 2 would receive it now."
    )
    Subscriber.objects.filter(pk=recent.pk).update(
        last_marketing_at=timezone.now() - timedelta(hours=hours + 1)
    )
    assert b'data-testid="in-cooldown"' not in client.get(f"{URL}send/{campaign.pk}/").content


def test_schedule_confirmation_states_the_time(client, sender, campaign):
    campaign.schedule, campaign.send_at = Campaign.Schedule.LOCAL, timezone.now() + timedelta(days=2)
    campaign.save()
    html = client.get(f"{URL}send/{campaign.pk}/").content.decode()
    assert "in each subscriber's own timezone." in html and "Yes, schedule it" in html


def test_a_time_already_past_confirms_as_send_now(client, sender, campaign, engine):
    subscribed(campaign.page)
    campaign.schedule, campaign.send_at = Campaign.Schedule.AT, timezone.now() - timedelta(hours=1)
    campaign.save()
    html = client.get(f"{URL}send/{campaign.pk}/").content.decode()
    assert "Yes, send it now" in html and "Yes, schedule it" not in html
    assert "has passed: it is sent now." in html and "<title>Send now" in html


def test_an_audience_all_in_its_frequency_cap_is_not_offered_the_send_button(client, sender, campaign):
    """'0 would receive it now' must not be followed by 'Yes, send it now': everyone is skipped."""
    subscribed(campaign.page, 3, last_marketing_at=timezone.now())
    html = client.get(f"{URL}send/{campaign.pk}/").content.decode()
    assert "Yes, send it now" not in html
    assert "Nobody would receive it now: each of them got a marketing message in the last 48 h." in html


def test_an_empty_audience_cannot_start_and_the_confirmation_says_why(client, sender, campaign, engine):
    html = client.get(f"{URL}send/{campaign.pk}/").content.decode()
    assert "Nobody would receive it" in html and "Yes, send it now" not in html
    campaign.schedule, campaign.send_at = Campaign.Schedule.AT, timezone.now() + timedelta(days=1)
    campaign.save()
    html = client.get(f"{URL}send/{campaign.pk}/").content.decode()
    assert "Yes, schedule it" in html, "a scheduled campaign's audience is counted when it starts"


def test_engine_refusals_are_shown_as_errors(client, sender, campaign, monkeypatch):
    def refuse(campaign, *, user=None):
        raise broadcast.CampaignError("Publish the campaign before sending it.")

    monkeypatch.setattr(broadcast, "start", refuse)
    response = client.post(f"{URL}send/{campaign.pk}/", follow=True)
    assert messages_of(response) == ["Publish the campaign before sending it."]


@pytest.mark.parametrize(
    "name, status, message",
    [
        ("pause", Campaign.Status.RUNNING, "Paused."),
        ("resume", Campaign.Status.PAUSED, "Resumed."),
        ("cancel", Campaign.Status.RUNNING, "Cancelled."),
        ("retry_unknown", Campaign.Status.FINISHED, "2 messages queued again."),
    ],
)
def test_actions_call_the_engine(client, sender, campaign, engine, name, status, message):
    campaign.status = status
    campaign.save()
    response = client.post(f"{URL}{name}/{campaign.pk}/", follow=True)
    assert engine == [(name, campaign.pk, "editor")]
    assert messages_of(response)[0].startswith(message)


def test_only_cancel_and_retry_have_confirmation_pages(client, sender, campaign):
    assert "Yes, cancel it" in client.get(f"{URL}cancel/{campaign.pk}/").content.decode()
    assert "Yes, retry them" in client.get(f"{URL}retry_unknown/{campaign.pk}/").content.decode()
    assert client.get(f"{URL}pause/{campaign.pk}/").status_code == 405


def test_buttons_follow_the_status(client, sender, campaign, progress):
    def actions():
        return [name for name, _url in client.get(f"{URL}inspect/{campaign.pk}/").context["actions"]]

    campaign.status = Campaign.Status.RUNNING
    campaign.save()
    assert actions() == ["pause", "cancel"]
    progress[campaign.pk] = {"unknown": 1}
    campaign.status = Campaign.Status.FINISHED
    campaign.save()
    assert actions() == ["retry_unknown"]
    progress[campaign.pk] = {}
    campaign.status, campaign.live = Campaign.Status.DRAFT, False
    campaign.save()
    assert actions() == []  # publish first


def test_real_engine_pause_and_cancel_are_in_the_history(client, sender, campaign):
    campaign.status = Campaign.Status.RUNNING
    campaign.save()
    client.post(f"{URL}pause/{campaign.pk}/")
    client.post(f"{URL}cancel/{campaign.pk}/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert list(ModelLogEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "onesend.campaign.pause",
        "onesend.campaign.cancel",
    ]
    history = client.get(f"{URL}history/{campaign.pk}/").content.decode()
    assert "Paused" in history and "Cancelled" in history


def test_send_test_to_a_subscriber_of_the_page(client, sender, campaign, engine):
    person = subscribed(campaign.page, 1, first_name="Ann", last_name="Lee")[0]
    unnamed = subscribed(campaign.page, 1, source_ref="poster")[0]
    soup = BeautifulSoup(client.get(f"{URL}send_test/{campaign.pk}/").content, "html.parser")
    offered = [option.get_text() for option in soup.select("select[name=subscriber] option")]
    assert sorted(offered[1:]) == sorted(["Ann Lee", unnamed.label]) and unnamed.label.startswith(
        "Subscriber via poster, "
    )
    assert person.psid not in soup.get_text(), "a PSID is a detail of the subscriber's own page"

    response = client.post(f"{URL}send_test/{campaign.pk}/", {"subscriber": person.psid}, follow=True)
    assert engine == [("send_test", campaign.pk, person, "editor")]
    assert messages_of(response) == ["Test sent to Ann Lee."]


def test_send_test_offers_no_subscriber_without_a_psid(client, sender, campaign):
    """People Meta matched from the shop's audience have no PSID: as a choice, their empty value
    would read as no choice at all."""
    subscribed(campaign.page, 1, psid="", source_ref="store-audience")
    soup = BeautifulSoup(client.get(f"{URL}send_test/{campaign.pk}/").content, "html.parser")
    assert [option["value"] for option in soup.select("select[name=subscriber] option")] == [""]


def test_send_test_rejects_strangers_and_shows_meta_errors(client, sender, campaign, monkeypatch):
    elsewhere = SubscriberFactory()  # another Page's subscriber
    response = client.post(f"{URL}send_test/{campaign.pk}/", {"subscriber": elsewhere.psid})
    assert response.status_code == 200
    assert "Choose a subscriber of this Page." in response.content.decode()

    def fail(campaign, subscriber, *, user=None, variant="a"):
        raise GraphError(code=10, message="This message is sent outside of allowed window.")

    monkeypatch.setattr(broadcast, "send_test", fail)
    person = subscribed(campaign.page, 1)[0]
    response = client.post(f"{URL}send_test/{campaign.pk}/", {"subscriber": person.psid}, follow=True)
    [message] = messages_of(response)
    assert message.startswith("The test was not sent:") and "outside of allowed window" in message


def test_progress_endpoint_returns_the_engines_progress(client, editor, campaign, progress):
    until = timezone.now() + timedelta(minutes=5)
    progress[campaign.pk] = {
        "sent": 3,
        "skipped": {"frequency_cap": 2},
        "throttled_until": until,
        "eta_seconds": 1.5,
    }
    data = client.get(f"{URL}progress/{campaign.pk}/").json()
    assert data == {
        **broadcast.progress(campaign),
        "throttled_until": until.isoformat().replace("+00:00", "Z")[:23] + "Z",
    }


def test_progress_endpoint_with_the_real_engine(client, editor, campaign):
    data = client.get(f"{URL}progress/{campaign.pk}/").json()
    assert (data["status"], data["sent"], data["percent"]) == ("draft", 0, 0.0)


def test_progress_endpoint_needs_admin_access(client, campaign):
    assert client.get(f"{URL}progress/{campaign.pk}/").status_code == 302  # to the login page


# -- Registrations ---------------------------------------------------------------------------------------------


def test_send_permission_is_offered_in_group_settings(db):
    registered = set()
    for fn in hooks.get_hooks("register_permissions"):
        registered.update(fn())
    assert Permission.objects.get(codename="send_campaign") in registered


def test_engine_log_actions_are_registered(campaign, admin_user):
    from wagtail.log_actions import log

    for action, data, message in [
        ("onesend.campaign.start", {}, "Sending started"),
        ("onesend.campaign.schedule", {}, "Scheduled"),
        ("onesend.campaign.pause", {"reason": "error rate"}, "Paused: error rate"),
        ("onesend.campaign.resume", {}, "Resumed"),
        ("onesend.campaign.cancel", {}, "Cancelled"),
        ("onesend.campaign.retry_unknown", {"count": 3}, "3 messages of unknown fate queued again"),
        ("onesend.campaign.send_test", {"subscriber": 7}, "Test sent to subscriber 7"),
    ]:
        entry = log(campaign, action, user=admin_user, data=data)
        assert entry.message == message


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
