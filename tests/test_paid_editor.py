"""The campaign editor and lifecycle for Pages on Meta's paid Marketing Messages API, against the
simulator over HTTP: budgets in the ad account's currency, the 640-character text, the delivery
estimate on the confirm step, warming up, deleting, test sends and media sent by attachment."""

import pytest

from onesend_plugin import broadcast
from onesend_plugin.broadcast import runner
from onesend_plugin.messenger.errors import GraphError
from onesend_plugin.meta import client_for
from onesend_plugin.models import Campaign, MessengerPage, RateLimitState, Subscriber

from .campaign_admin_helpers import form_data
from .factories import CampaignFactory, MessengerPageFactory
from .test_paid_channel import AD_ACCOUNT, meta_campaign, paid_sends

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/messenger/campaigns/"


@pytest.fixture
def paid_page(paid_page):
    """The suite's paid Page (its ad account connected), paying in USD."""
    MessengerPage.objects.filter(pk=paid_page.pk).update(ad_account_currency="USD")
    paid_page.refresh_from_db()
    return paid_page


def publish(client, page, **fields) -> Campaign:
    """Create and publish a campaign of ``page`` through the editor; returns it."""
    data = {**form_data(page=page.pk, **fields), "action-publish": "action-publish"}
    response = client.post(f"{URL}add/", data)
    assert response.status_code == 302, response.context["form"].errors
    return Campaign.objects.get()


# -- Budget in the ad account's currency ----------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "amount", "period", "adset"),
    [
        ("USD", "25.00", "daily", {"daily_budget": "2500"}),
        ("USD", "30", "lifetime", {"lifetime_budget": "3000"}),
        ("JPY", "3000", "daily", {"daily_budget": "3000"}),
        ("", "12.5", "daily", {"daily_budget": "1250"}),  # currency not known yet: two decimals
    ],
)
def test_a_budget_is_entered_in_currency_units_and_sent_in_the_smallest(
    admin_client, simulator, paid_page, make_subscribers, currency, amount, period, adset
):
    MessengerPage.objects.filter(pk=paid_page.pk).update(ad_account_currency=currency)
    people = make_subscribers(paid_page, 2)
    campaign = publish(admin_client, paid_page, budget=amount, budget_period=period)
    assert campaign.budget == int(next(iter(adset.values())))
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED, campaign.last_error
    assert meta_campaign(simulator, paid_page, campaign)["adset"] == adset
    assert paid_sends(simulator, paid_page) == {p.psid: 1 for p in people}


def test_without_a_budget_none_is_sent(admin_client, simulator, paid_page, make_subscribers):
    make_subscribers(paid_page, 1)
    campaign = publish(admin_client, paid_page, budget="", budget_period="daily")
    assert campaign.budget is None
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert meta_campaign(simulator, paid_page, campaign)["adset"] == {}


def test_the_editor_shows_a_stored_budget_in_currency_units(admin_client, paid_page):
    campaign = CampaignFactory(page=paid_page, budget=2550)
    html = admin_client.get(f"{URL}edit/{campaign.pk}/").content.decode()
    assert 'name="budget" value="25.50"' in html and "data-onesend-currency" in html


@pytest.mark.parametrize(
    ("currency", "amount", "error"),
    [("JPY", "25.50", "JPY amounts have 0 decimal places."), ("USD", "0", "Give an amount above 0")],
)
def test_a_budget_the_currency_cannot_hold_is_refused(admin_client, paid_page, currency, amount, error):
    MessengerPage.objects.filter(pk=paid_page.pk).update(ad_account_currency=currency)
    data = {**form_data(page=paid_page.pk, budget=amount, budget_period="daily"), "action-publish": "1"}
    response = admin_client.post(f"{URL}add/", data)
    assert response.status_code == 200
    assert any(error in message for message in response.context["form"].errors["budget"])
    assert not Campaign.objects.exists()


# -- The 640 characters ---------------------------------------------------------------------------


def test_the_editor_refuses_a_text_over_640_characters_and_counts_live(admin_client, paid_page):
    html = admin_client.get(f"{URL}add/").content.decode()
    assert "data-onesend-counted" in html and "campaign-editor.js" in html
    assert f"&quot;{paid_page.pk}&quot;: {{&quot;text_limit&quot;: 640" in html
    data = form_data(page=paid_page.pk, text="x" * 641)
    response = admin_client.post(f"{URL}add/", data)
    assert response.status_code == 200
    [error] = response.context["form"].errors["text"]
    assert "at most 640 characters (now 641)" in error
    assert not Campaign.objects.exists()
    assert publish(admin_client, paid_page, text="x" * 640).text == "x" * 640


# -- The confirm step: budget and Meta's delivery estimate ----------------------------------------


def confirm_page(client, campaign) -> str:
    response = client.get(f"{URL}send/{campaign.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_confirm_step_shows_the_budget_and_metas_estimate_in_currency(
    admin_client, simulator, paid_page, make_subscribers
):
    make_subscribers(paid_page, 3)
    simulator.configure(paid_price_cents=150)  # 1.50 USD a message
    campaign = CampaignFactory(page=paid_page, budget=400, budget_period=Campaign.BudgetPeriod.LIFETIME)
    html = confirm_page(admin_client, campaign)
    assert "4.00 USD (for the whole campaign)" in html
    # The budget buys two messages: Meta estimates 1-2 people (its lower bound is 80 %), 1.50-3.00 USD.
    assert "1–2 people reached" in html and "costing 1.50 USD–3.00 USD." in html


def test_without_a_budget_the_estimate_is_for_the_whole_audience(
    admin_client, simulator, paid_page, make_subscribers
):
    make_subscribers(paid_page, 5)
    simulator.configure(paid_price_cents=100)
    html = confirm_page(admin_client, CampaignFactory(page=paid_page))
    assert "None: Meta sets its own daily cap." in html
    assert "4–5 people reached" in html and "costing 4.00 USD–5.00 USD." in html


def test_when_metas_estimate_is_below_our_count_the_confirm_says_why(
    admin_client, simulator, paid_page, make_subscribers
):
    """Meta leaves out of its estimate whom its own rules refuse: here everyone it took a paid
    message to less than 12 hours ago, whom our audience still counts."""
    make_subscribers(paid_page, 3)
    assert 'data-testid="estimate-fewer"' not in confirm_page(admin_client, CampaignFactory(page=paid_page))
    first = CampaignFactory(page=paid_page)
    broadcast.start(first)
    first.refresh_from_db()
    assert first.status == Campaign.Status.FINISHED, first.last_error
    html = confirm_page(admin_client, CampaignFactory(page=paid_page))
    assert "3 subscribers of" in html and "0–0 people reached" in html
    assert 'data-testid="estimate-fewer"' in html and "so fewer subscribers than counted above" in html


def test_when_meta_gives_no_estimate_the_confirm_says_so_and_still_sends(
    admin_client, simulator, paid_page, make_subscribers
):
    people = make_subscribers(paid_page, 2)
    simulator.configure(delivery_estimate_fails=True)
    campaign = CampaignFactory(page=paid_page)
    assert "Unavailable: Meta gave no estimate just now." in confirm_page(admin_client, campaign)
    response = admin_client.post(f"{URL}send/{campaign.pk}/")
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED, campaign.last_error
    assert paid_sends(simulator, paid_page) == {p.psid: 1 for p in people}


def test_a_legacy_page_confirm_has_no_estimate(admin_client, simulator, sim_page):
    html = confirm_page(admin_client, CampaignFactory(page=sim_page))
    assert "delivery estimate" not in html and 'data-testid="budget"' not in html


# -- Warming up -----------------------------------------------------------------------------------


def shown_status(client, campaign) -> tuple[str, str, str]:
    """The status as the listing, the campaign's page and its progress JSON show it."""
    listing = client.get(URL).content.decode()
    page = client.get(f"{URL}inspect/{campaign.pk}/").content.decode()
    progress = client.get(f"{URL}progress/{campaign.pk}/").json()
    row = listing[listing.index(campaign.name) :]
    status = row[row.index("onesend-status--") :].split('"')[0]
    return status, page, progress["phase_label"]


def test_a_new_paid_campaign_shows_warming_up_until_meta_takes_its_messages(
    admin_client, simulator, paid_page, make_subscribers
):
    people = make_subscribers(paid_page, 2)
    simulator.configure(campaign_warmup_seconds=3600)  # Meta: about an hour after creation
    campaign = CampaignFactory(page=paid_page, name="Spring launch")
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING and campaign.warming_up_since is not None
    status, page, label = shown_status(admin_client, campaign)
    assert status.startswith("onesend-status--warming_up") and label == "Warming up"
    assert "Warming up" in page and "about an hour after it is created" in page
    simulator.configure(campaign_warmup_seconds=0)  # an hour later
    RateLimitState.objects.all().delete()
    assert runner.run(campaign.pk) == "finished"
    campaign.refresh_from_db()
    assert campaign.warming_up_since is None
    assert paid_sends(simulator, paid_page) == {p.psid: 1 for p in people}
    assert shown_status(admin_client, campaign)[2] == "Finished"


def test_after_warming_up_a_campaign_still_sending_shows_sending(
    admin_client, simulator, paid_page, make_subscribers, monkeypatch
):
    make_subscribers(paid_page, 1)
    simulator.configure(campaign_warmup_seconds=3600)
    campaign = CampaignFactory(page=paid_page, name="Spring launch")
    broadcast.start(campaign)
    simulator.configure(campaign_warmup_seconds=0)
    RateLimitState.objects.all().delete()
    monkeypatch.setattr(runner, "conclude", lambda campaign_id: "others-working")  # more to send
    runner.run(campaign.pk)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.warming_up_since) == (Campaign.Status.RUNNING, None)
    status, page, label = shown_status(admin_client, campaign)
    assert status.startswith("onesend-status--running") and label == "Sending"


# -- Deleting -------------------------------------------------------------------------------------


def meta_holds(simulator, page, campaign_id) -> bool:
    headers = {"Authorization": f"Bearer {page.access_token}"}
    response = simulator.http.get(simulator.graph_url(campaign_id), headers=headers, timeout=10)
    return response.status_code == 200


def started_campaign(simulator, page, make_subscribers) -> tuple[Campaign, str]:
    make_subscribers(page, 1)
    campaign = CampaignFactory(page=page)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    meta_id = campaign.message["channel"]["marketing_message_id"]
    assert meta_holds(simulator, page, meta_id)
    return campaign, meta_id


def test_deleting_a_started_paid_campaign_deletes_it_at_meta(
    admin_client, simulator, paid_page, make_subscribers
):
    campaign, meta_id = started_campaign(simulator, paid_page, make_subscribers)
    response = admin_client.post(f"{URL}delete/{campaign.pk}/", follow=True)
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    assert not meta_holds(simulator, paid_page, meta_id)
    assert not any("Meta did not delete" in str(m) for m in response.context["messages"])


def test_when_meta_refuses_the_delete_ours_stands_and_the_editor_is_told(
    admin_client, simulator, paid_page, make_subscribers, caplog
):
    campaign, meta_id = started_campaign(simulator, paid_page, make_subscribers)
    headers = {"Authorization": f"Bearer {paid_page.access_token}"}  # deleted at Meta meanwhile
    simulator.http.delete(simulator.graph_url(meta_id), headers=headers, timeout=10).raise_for_status()
    response = admin_client.post(f"{URL}delete/{campaign.pk}/", follow=True)
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    [warning] = [str(m) for m in response.context["messages"] if "Meta did not delete" in str(m)]
    assert campaign.name in warning
    assert "not at Meta" in caplog.text


# -- Test sends -----------------------------------------------------------------------------------


def test_test_sends_share_one_message_campaign_that_warms_up_once(
    admin_client, simulator, paid_page, make_subscribers
):
    [colleague] = make_subscribers(paid_page, 1)
    Subscriber.objects.filter(pk=colleague.pk).update(last_interaction_at=None)  # window closed
    simulator.configure(campaign_warmup_seconds=3600)
    campaign = CampaignFactory(page=paid_page)
    data = {"subscriber": colleague.psid}
    for _ in range(2):  # Meta makes the test campaign ready about an hour after the first test
        response = admin_client.post(f"{URL}send_test/{campaign.pk}/", data, follow=True)
        [message] = [str(m) for m in response.context["messages"]]
        assert message.startswith("The test was not sent: Meta is still making") and "2300003" in message
    campaign.refresh_from_db()
    test_id = campaign.test_channel["marketing_message_id"]
    simulator.configure(campaign_warmup_seconds=0)  # an hour later
    response = admin_client.post(f"{URL}send_test/{campaign.pk}/", data, follow=True)
    assert [str(m) for m in response.context["messages"]] == [f"Test sent to {colleague.label}."]
    [sent] = [m for m in simulator.messages(paid_page.page_id) if m.get("via") == "marketing"]
    assert sent["campaign_id"] == test_id
    campaign.refresh_from_db()
    assert campaign.test_channel == {"marketing_message_id": test_id} and campaign.message is None
    admin_client.post(f"{URL}delete/{campaign.pk}/")
    assert not meta_holds(simulator, paid_page, test_id)  # deleted with the campaign


# -- Media: uploaded once, sent by attachment_id --------------------------------------------------


def test_a_video_is_uploaded_once_and_the_same_attachment_reaches_everyone(
    admin_client, simulator, paid_page, make_subscribers
):
    people = make_subscribers(paid_page, 3)
    buttons = [("Shop", "https://shop.example/"), ("Stores", "https://shop.example/stores")]
    video = "https://cdn.example/spring.mp4"
    campaign = publish(admin_client, paid_page, text="", media="video", video_url=video, buttons=buttons)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED, campaign.last_error
    assert simulator.stats()["attachments"] == 1
    sent = [m for m in simulator.messages(paid_page.page_id) if m.get("via") == "marketing"]
    assert {m["psid"] for m in sent} == {p.psid for p in people}
    [attachment_id] = {m["attachment_id"] for m in sent}
    assert attachment_id and {(m["type"], m["url"], len(m["buttons"])) for m in sent} == {("video", video, 2)}


def test_the_paid_editor_takes_a_video_with_buttons_but_no_text_and_no_file(admin_client, paid_page):
    video = {"media": "video", "video_url": "https://cdn.example/v.mp4"}
    response = admin_client.post(f"{URL}add/", form_data(page=paid_page.pk, text="Look", **video))
    assert "remove the text" in response.context["form"].errors["text"][0]
    response = admin_client.post(f"{URL}add/", form_data(page=paid_page.pk, text="", media="file"))
    assert "sends no files" in response.context["form"].errors["media"][0]


def test_meta_refuses_paid_media_by_a_foreign_url_or_another_pages_attachment(simulator, paid_page):
    client = client_for(paid_page)
    other = MessengerPageFactory()
    simulator.create_page(page_id=other.page_id, access_token=other.access_token)
    foreign = client_for(other).upload_attachment(
        page_id=other.page_id, attachment_type="video", url="https://cdn.example/v.mp4"
    )
    [person] = simulator.create_people(paid_page.page_id, 1)
    meta_id = client.create_marketing_campaign(
        ad_account_id=AD_ACCOUNT, name="Direct", page_id=paid_page.page_id
    )
    token = person["token"]
    for media, error in (
        ({"url": "https://cdn.example/v.mp4"}, "must be a Facebook URL"),
        ({"attachment_id": foreign}, "2300027"),
    ):
        message = {
            "attachment": {
                "type": "template",
                "payload": {"template_type": "media", "elements": [{"media_type": "video", **media}]},
            }
        }
        with pytest.raises(GraphError, match=error):
            client.send_marketing_message(
                ad_account_id=AD_ACCOUNT, message_id=meta_id, subscription_token=token, message=message
            )
