"""An A/B test in the admin: set up in the editor, previewed and tested per variant, confirmed
with its split, shown as "Testing" until the winner is picked, reported side by side."""

import csv
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.utils import timezone

from onesend_plugin import analytics, broadcast, messages
from onesend_plugin.models import Campaign, CampaignButton, Delivery, VariantButton

from .campaign_admin_helpers import URL, editor_with, form_data, messages_of, subscribed
from .factories import CampaignFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

A_TEXT, B_TEXT = "Summer sale: 30% off today only", "Last day: 30% off everything"


@pytest.fixture
def sender(django_user_model, client, page):
    return editor_with(django_user_model, client, page, "send_campaign")


@pytest.fixture
def campaign(page):
    test = CampaignFactory(page=page, name="Summer sale", text=A_TEXT, ab_test=True, variant_b_text=B_TEXT)
    CampaignButton.objects.create(campaign=test, title="Shop now", url="https://shop.example/a")
    VariantButton.objects.create(campaign=test, title="See it", url="https://shop.example/b")
    return test


def started(campaign, *, decided: bool = False) -> Campaign:
    """The campaign as the engine leaves it after its start (and its decision): 2 in the test,
    3 waiting for the winner."""
    now = timezone.now()
    message = {"body": messages.build(campaign), **broadcast.abtest.frozen(campaign, now)}
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.RUNNING, started_at=now, message=message, audience_size=5
    )
    people = SubscriberFactory.create_batch(5, page=campaign.page)
    for person, variant in zip(people, ["a", "b", "", "", ""], strict=True):
        Delivery.objects.create(
            campaign=campaign,
            subscriber=person,
            page=campaign.page,
            psid=person.psid,
            variant=variant,
            state=Delivery.State.SENT if variant else Delivery.State.PENDING,
            delivered_at=now if variant else None,
        )
    campaign.refresh_from_db()
    if decided:
        analytics.record_click(campaign.deliveries.get(variant="b"), 0)
        broadcast.abtest.decide(campaign)
    return campaign


def test_an_editor_sets_up_a_test_with_variant_b_s_own_buttons(admin_client, page):
    data = form_data(
        page=page.pk,
        buttons=[("Shop now", "https://shop.example/a")],
        b_buttons=[("See it", "https://shop.example/b")],
        ab_test="on",
        variant_b_text=B_TEXT,
        ab_test_share=30,
        ab_metric="conversions",
        ab_hours=6,
    )
    response = admin_client.post(f"{URL}add/", {**data, "action-publish": "action-publish"})
    assert response.status_code == 302, response.context["form"].errors
    campaign = Campaign.objects.get()
    assert (campaign.ab_test, campaign.ab_test_share, campaign.ab_metric, campaign.ab_hours) == (
        True,
        30,
        "conversions",
        6,
    )
    assert [b.title for b in campaign.buttons.all()] == ["Shop now"]
    assert [b.title for b in campaign.variant_b_buttons.all()] == ["See it"]


@pytest.mark.parametrize(
    ("fields", "b_buttons", "field", "error"),
    [
        ({"variant_b_text": ""}, [], "variant_b_text", "Write the message."),
        ({"variant_b_media": "image"}, [], "variant_b_image", "Choose the image."),
        ({"schedule": "local", "send_at": "2030-06-01 09:00"}, [], "ab_test", "one time for everyone"),
    ],
)
def test_variant_b_is_checked_as_the_message_is(admin_client, page, fields, b_buttons, field, error):
    data = form_data(page=page.pk, ab_test="on", b_buttons=b_buttons, **({"variant_b_text": B_TEXT} | fields))
    response = admin_client.post(f"{URL}add/", data)
    assert response.status_code == 200
    assert error in " ".join(response.context["form"].errors[field])


def test_a_b_button_link_must_be_a_web_address(admin_client, page):
    data = form_data(page=page.pk, ab_test="on", variant_b_text=B_TEXT, b_buttons=[("Go", "ftp://x.example")])
    response = admin_client.post(f"{URL}add/", data)
    assert response.status_code == 200
    [b_form] = response.context["form"].formsets["variant_b_buttons"].forms
    assert "web address" in " ".join(b_form.errors["url"])


def test_each_variant_has_its_preview(admin_client, campaign):
    url = f"{URL}preview/{campaign.pk}/"
    data = form_data(
        campaign, ab_test="on", variant_b_text=B_TEXT, b_buttons=[("See it", "https://shop.example/b")]
    )
    assert admin_client.post(url, data).json() == {"is_valid": True, "is_available": True}
    a, b = (admin_client.get(url, {"mode": mode}).content.decode() for mode in ("", "b"))
    assert A_TEXT in a and B_TEXT not in a
    assert B_TEXT in b and ">See it<" in b and A_TEXT not in b
    assert campaign.preview_modes == [("", "Variant A"), ("b", "Variant B")]


def test_a_test_send_of_variant_b(client, sender, campaign, monkeypatch):
    person = subscribed(campaign.page, 1, first_name="Ann", last_name="Lee")[0]
    sent = []
    monkeypatch.setattr(broadcast, "send_test", lambda c, s, *, user, variant: sent.append((s, variant)))
    soup = BeautifulSoup(client.get(f"{URL}inspect/{campaign.pk}/").content, "html.parser")
    assert [i["value"] for i in soup.select("input[name=variant]")] == ["a", "b"]
    response = client.post(
        f"{URL}send_test/{campaign.pk}/", {"subscriber": person.psid, "variant": "b"}, follow=True
    )
    assert sent == [(person, "b")]
    assert messages_of(response) == ["Test of variant B sent to Ann Lee."]


def test_the_confirmation_says_who_gets_a_b_and_the_winner(client, sender, campaign):
    subscribed(campaign.page, 10)
    soup = BeautifulSoup(client.get(f"{URL}send/{campaign.pk}/").content, "html.parser")
    assert " ".join(soup.select_one("[data-testid=ab-split]").get_text().split()) == (
        "1 get variant A and 1 get variant B, drawn at random. After 4 h the variant with the higher "
        "click rate wins (equal rates: A), and the other 8 get it then."
    )


def test_the_confirmation_draws_the_test_from_those_it_would_reach_now(client, sender, campaign):
    """Those in their frequency cap would be skipped: they are left out of the draw, and the
    split adds up with 'would receive it now' above it."""
    subscribed(campaign.page, 10)
    subscribed(campaign.page, 5, last_marketing_at=timezone.now())
    soup = BeautifulSoup(client.get(f"{URL}send/{campaign.pk}/").content, "html.parser")
    assert " ".join(soup.select_one("[data-testid=ab-split]").get_text().split()) == (
        "1 get variant A and 1 get variant B, drawn at random from the 10 who would receive it now. "
        "After 4 h the variant with the higher click rate wins (equal rates: A), and the other 13 get "
        "it then (5 of them only if their frequency cap is over by then)."
    )


def test_while_testing_the_list_and_the_progress_page_say_when_the_winner_is_picked(client, sender, campaign):
    campaign = started(campaign)
    state = campaign.get_phase_display()
    assert state.startswith("Testing — winner picked at ")
    listing = BeautifulSoup(client.get(URL).content, "html.parser")
    assert state in listing.get_text(" ", strip=True)
    page = BeautifulSoup(client.get(f"{URL}inspect/{campaign.pk}/").content, "html.parser")
    assert state in page.select_one(".onesend-state").get_text(" ", strip=True)
    assert client.get(f"{URL}progress/{campaign.pk}/").json()["phase_label"] == state


def test_the_report_shows_both_variants_and_why_one_won(admin_client, campaign):
    campaign = started(campaign, decided=True)
    soup = BeautifulSoup(
        admin_client.get(f"/admin/messenger/reports/campaign/{campaign.pk}/").content, "html.parser"
    )
    assert (
        soup.select_one("[data-testid=ab-decision]")
        .get_text(" ", strip=True)
        .startswith("B won: click rate 100.0% (1 of 1) against 0.0% (0 of 1) for A after 4 h.")
    )
    table = soup.select_one("[data-testid=ab-variants]")
    rows = {
        tr["data-row"]: [td.get_text(" ", strip=True) for td in tr.select("td")]
        for tr in table.select("tbody tr")
    }
    assert rows["words"] == [f"{A_TEXT} Buttons: Shop now", f"{B_TEXT} Buttons: See it"]
    assert rows["sent"] == ["1", "1"] and rows["delivered"] == ["1", "1"]
    assert rows["clicked"] == ["0", "1"] and rows["click_rate"] == ["0.0%", "100.0%"]
    assert "Winner" in table.select_one("th[data-variant=b]").get_text()
    # Clicks per button count both variants' first buttons: both titles are named.
    assert soup.select_one("[data-testid=buttons] tr[data-button='1'] td").get_text(strip=True) == (
        "1. Shop now / See it"
    )
    links = soup.select("[data-testid=buttons] tr[data-button='1'] td.onesend-report__url a")
    assert [link["href"] for link in links] == ["https://shop.example/a", "https://shop.example/b"]
    assert timezone.now() - campaign.ab_decided_at < timedelta(minutes=1)


def test_the_report_s_csv_has_both_variants_and_the_decision(admin_client, campaign):
    campaign = started(campaign, decided=True)
    response = admin_client.get(f"/admin/messenger/reports/campaign/{campaign.pk}/csv/")
    rows = list(csv.reader(response.content.decode().splitlines()))
    assert rows[-11:] == [
        ["Variant A: sent", "1", "", ""],
        ["Variant A: delivered", "1", "100.0", ""],
        ["Variant A: read", "0", "0.0", ""],
        ["Variant A: clicked (people)", "0", "0.0", ""],
        ["Variant A: converted", "0", "0.0", ""],
        ["Variant B: sent", "1", "", ""],
        ["Variant B: delivered", "1", "100.0", ""],
        ["Variant B: read", "0", "0.0", ""],
        ["Variant B: clicked (people)", "1", "100.0", ""],
        ["Variant B: converted", "0", "0.0", ""],
        ["A/B test", "B won: click rate 100.0% (1 of 1) against 0.0% (0 of 1) for A after 4 h.", "", ""],
    ]


def test_a_test_cancelled_before_its_winner_says_so_in_the_report_and_its_csv(admin_client, campaign):
    """The list and the progress page read Cancelled: the report must not still promise a winner."""
    campaign = started(campaign)
    broadcast.cancel(campaign)
    soup = BeautifulSoup(
        admin_client.get(f"/admin/messenger/reports/campaign/{campaign.pk}/").content, "html.parser"
    )
    cancelled = "Cancelled before the winner was picked: nobody outside the test got a message."
    assert soup.select_one("[data-testid=ab-decision]").get_text(" ", strip=True) == cancelled
    response = admin_client.get(f"/admin/messenger/reports/campaign/{campaign.pk}/csv/")
    assert list(csv.reader(response.content.decode().splitlines()))[-1] == ["A/B test", cancelled, "", ""]


def test_the_report_says_the_decision_s_figures_are_of_its_moment(admin_client, campaign):
    """B's late messages went out after the winner was picked: the sentence's '(0 of 1)' and the
    table's 2 sent must not read as a contradiction. A test of everyone gave nobody the winner."""
    campaign = started(campaign, decided=True)
    url = f"/admin/messenger/reports/campaign/{campaign.pk}/"
    decision = BeautifulSoup(admin_client.get(url).content, "html.parser").select_one(
        "[data-testid=ab-decision]"
    )
    assert "on the figures of that moment (the table counts all since); everyone not in the test got it." in (
        " ".join(decision.get_text().split())
    )
    campaign.deliveries.filter(variant="").update(variant="a")  # everyone was in the test
    decision = BeautifulSoup(admin_client.get(url).content, "html.parser").select_one(
        "[data-testid=ab-decision]"
    )
    assert " ".join(decision.get_text().split()).endswith("(the table counts all since).")
