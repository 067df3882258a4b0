"""The demo's US business, walked as the "done when"s of the paid channel and of a channel per
person say: its Page and people seeded in the simulator beside Acme's; a campaign to its mixed
audience shows the channel split on the confirm step, warms up, then each person gets it once
through the right channel (free in their 24 h window, else a paid message marked sponsored, or a
skip with the reason), and the report shows outcomes and cost per channel and the cost per
click. And Bloom's Page, whose earlier subscribers Meta holds: one press of Import brings them in."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone
from onesend_simulator.remote import wait_for

from example_site.home import demo
from example_site.home.management.commands import rundemo
from onesend_plugin import broadcast, conf, tasks
from onesend_plugin.broadcast import abtest, runner
from onesend_plugin.models import (
    Campaign,
    CampaignButton,
    MessengerPage,
    RateLimitState,
    Subscriber,
    TokenImport,
)
from onesend_plugin.subscribe import meta_import

from .factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded(simulator, live_server, settings):
    """``rundemo``'s seeding of Pages (``seed`` without its Wagtail pages, which need the tree a
    transactional test flushes) and of the simulator, against the test's simulator and site."""
    settings.ONESEND = {
        **settings.ONESEND,
        "GRAPH_API_BASE_URL": simulator.base_url,
        "MME_BASE_URL": f"{simulator.base_url}/m.me",
    }
    page = demo.ensure_messenger_page()
    demo.ensure_second_client(page.app)
    demo.ensure_us_client(page.app)
    simulator.configure(
        webhook_url=f"{live_server.url}/onesend/webhook/{page.app.app_id}/", app_secret=page.app.app_secret
    )
    demo.populate_simulator(simulator.base_url, page)
    return MessengerPage.objects.get(page_id=demo.US_PAGE["page_id"])


def test_the_us_page_is_seeded_beside_acmes_each_page_its_own(seeded, simulator):
    shown = {page["page_id"]: page["name"] for page in simulator.pages()}
    assert shown == dict(demo.seeded_pages())
    people = {p["name"] for p in simulator.people(seeded.page_id)}
    assert people == set(demo.US_PEOPLE) | {name for name, *_ in demo.US_EARLIER}
    subscribed = Subscriber.objects.filter(page=seeded, status=Subscriber.Status.SUBSCRIBED)
    total = len(demo.US_PEOPLE) + len(demo.US_EARLIER)
    wait_for(lambda: subscribed.count() == total, what="the US Page's subscribers")
    earlier = seeded.subscribers.filter(source_ref=demo.US_EARLIER_REF)
    assert sorted(earlier.values_list("first_name", flat=True)) == sorted(
        name for name, *_ in demo.US_EARLIER
    )
    [us] = [page for page in simulator.pages() if page["page_id"] == seeded.page_id]
    assert "marketing_message_clicks" in us["subscribed_fields"]
    assert simulator.config()["campaign_warmup_seconds"] == demo.DEMO_WARMUP_SECONDS


def test_rundemo_points_itself_at_the_simulator_it_starts(settings):
    """rundemo connects the Pages (their Get Started buttons) and seeds the people itself: on
    ports of its own it must talk to its simulator, as the web server and worker it starts do."""
    settings.ONESEND, settings.WAGTAILADMIN_BASE_URL = settings.ONESEND, settings.WAGTAILADMIN_BASE_URL
    env = rundemo.point_at("http://127.0.0.1:8420", "http://127.0.0.1:8785")
    assert env["ONESEND_GRAPH_API_BASE_URL"] == conf.get("GRAPH_API_BASE_URL") == "http://127.0.0.1:8785"
    assert env["ONESEND_MME_BASE_URL"] == conf.get("MME_BASE_URL") == "http://127.0.0.1:8785/m.me"
    assert env["WAGTAILADMIN_BASE_URL"] == conf.get("PUBLIC_BASE_URL") == "http://127.0.0.1:8420"


def test_rundemo_s_time_scale_shortens_an_a_b_test_s_hours(settings, db):
    """At --time-scale 60 an hour of a test lasts a minute: its winner is picked minutes after
    the start, as the demo's flows wait minutes, not days."""
    env = rundemo.time_scaled(60)
    assert env == {"ONESEND_AB_TEST_HOUR_SECONDS": "60"}
    settings.ONESEND = {
        **settings.ONESEND,
        "AB_TEST_HOUR_SECONDS": float(env["ONESEND_AB_TEST_HOUR_SECONDS"]),
    }
    campaign = CampaignFactory(text="A", ab_test=True, variant_b_text="B", ab_hours=4)
    started = timezone.now()
    decide_at = abtest.frozen(campaign, started)["ab"]["decide_at"]
    assert decide_at == (started + timedelta(minutes=4)).isoformat()


def test_every_id_the_demo_seeds_is_its_own(seeded, simulator):
    """Page ids, ad account ids, PSIDs, the app's and the owner's ids: one id names one thing
    across the whole seed (a Page sharing another's id shows its name to the other's people)."""
    ad_accounts = [a["account_id"].removeprefix("act_") for a in simulator.call("GET", "ad_accounts")["data"]]
    ids = {
        "Page": [page_id for page_id, _ in demo.seeded_pages()],
        "ad account": ad_accounts,
        "PSID": [person["psid"] for person in simulator.people()],
        "app": [demo.APP["app_id"]],
        "user": [user["user_id"] for user in simulator.users()],
    }
    named: dict[str, list[str]] = {}
    for kind, values in ids.items():
        for value in values:
            named.setdefault(value, []).append(kind)
    clashes = {value: kinds for value, kinds in named.items() if len(kinds) > 1}
    assert not clashes, f"ids naming more than one thing: {clashes}"
    assert sorted(page["page_id"] for page in simulator.pages()) == sorted(ids["Page"])
    assert len(ids["PSID"]) == len(demo.BLOOM_EARLIER_SUBSCRIBERS) * 5 + len(demo.SIMULATED_PEOPLE) + len(
        demo.US_PEOPLE
    ) + len(demo.US_EARLIER)
    assert ad_accounts == [demo.US_PAGE["ad_account_id"].removeprefix("act_")]
    stored = list(MessengerPage.objects.values_list("page_id", flat=True))
    assert set(stored) <= set(ids["Page"]), "each connected Page is the simulator's Page of that id"


def test_blooms_earlier_subscribers_held_at_meta_are_imported_in_one_action(seeded, simulator, admin_client):
    bloom = MessengerPage.objects.get(page_id=demo.SECOND_PAGE["page_id"])
    names = [name for _, group in demo.BLOOM_EARLIER_SUBSCRIBERS for name in group]
    held = simulator.people(bloom.page_id)
    assert len(names) == 25 and sorted(p["name"] for p in held) == sorted(names)
    assert not bloom.subscribers.exists(), "Meta holds them; onesend does not know them yet"

    response = admin_client.post(f"/admin/messenger/pages/import-tokens/{bloom.pk}/")
    assert response.status_code == 302
    assert "25 listed by Meta: 25 imported" in admin_client.get(response["Location"]).content.decode()
    run = bloom.token_imports.get()
    assert (run.state, run.listed, run.imported) == (TokenImport.State.DONE, 25, 25)
    imported = bloom.subscribers.filter(
        status=Subscriber.Status.SUBSCRIBED, source_ref=meta_import.SOURCE_REF
    )
    assert sorted(imported.values_list("psid", flat=True)) == sorted(p["psid"] for p in held)
    ago = sorted((timezone.now() - person.opted_in_at).days for person in imported)
    assert ago == sorted(days for days, group in demo.BLOOM_EARLIER_SUBSCRIBERS for _ in group)


def split_shown(admin_client, campaign) -> dict[str, str]:
    """The confirm step's channel split: each line's count by its test id."""
    response = admin_client.get(f"/admin/messenger/campaigns/send/{campaign.pk}/")
    html = BeautifulSoup(response.content, "html.parser")
    # Meta's estimate covers everyone it could reach by paid message: the page says so beside it.
    assert "not only those counted as paid" in html.select_one('[data-testid="estimate-scope"]').get_text()
    shown = html.select_one('[data-testid="channel-split"]')
    return {li["data-testid"]: li.strong.get_text(strip=True) for li in shown.select("li")}


def send_spring_sale(seeded, simulator, admin_client) -> Campaign:
    """Coyote's campaign to everyone, once the demo's people are in: its confirm step's channel
    split, then its sending: warming up (free messages go out), and, once Meta's new message
    campaign is ready, to its end."""
    active = seeded.subscribers.filter(tokens__status="active")
    wait_for(lambda: active.count() == len(demo.US_PEOPLE) + 4, what="the tokens")
    wait_for(
        lambda: (
            seeded.subscribers.filter(last_interaction_at__gt=timezone.now() - timedelta(hours=1)).count()
            == 3
        ),
        what="Ava's, Liam's and Mia's windows",
    )
    campaign = Campaign.objects.create(page=seeded, name="Spring sale", text="20 % off all boots", live=True)
    CampaignButton.objects.create(campaign=campaign, title="Shop", url="https://coyote.example.com/boots")
    assert split_shown(admin_client, campaign) == {
        "split-standard": "3",  # Ava, Liam, Mia: they just wrote
        "split-token": "0",  # a US business has no legacy token
        "split-marketing_api": "3",  # Noah, Sofia, and Oliver, whose timezone says nothing
        "split-skipped-recipient_region": "1",  # Emma, in Ireland
        "split-skipped-no_token": "1",  # Ethan
    }
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.phase == "warming_up" and "2300003" in campaign.last_error  # the free ones went out
    simulator.configure(campaign_warmup_seconds=0)  # a minute later
    RateLimitState.objects.all().delete()
    assert runner.run(campaign.pk) == "finished"
    campaign.refresh_from_db()
    assert "2300003" not in campaign.last_error  # warmed up: "not active yet" is no error of it now
    return campaign


def test_a_us_campaign_splits_per_person_warms_up_sends_once_each_and_reports_per_channel(
    seeded, simulator, admin_client, client
):
    campaign = send_spring_sale(seeded, simulator, admin_client)
    names = {p["psid"]: p["name"] for p in simulator.people(seeded.page_id)}
    received = sorted(
        (names[m["psid"]], m["via"])
        for m in simulator.messages(seeded.page_id)
        if m.get("type") != "optin" and "text" in m and "boots" in m["text"]
    )
    assert received == [
        ("Ava", "psid"),
        ("Liam", "psid"),
        ("Mia", "psid"),
        ("Noah", "marketing"),
        ("Sofia", "marketing"),
    ]
    assert all(m["sponsored"] for m in simulator.messages(seeded.page_id) if m.get("via") == "marketing")
    skipped = dict(campaign.deliveries.filter(state="skipped").values_list("subscriber__psid", "reason"))
    assert {names[psid]: reason for psid, reason in skipped.items()} == {
        "Emma": "recipient_region",
        "Oliver": "recipient_region",  # Meta refused him (2300032): remembered for the next one
        "Ethan": "no_token",
    }

    noah = next(psid for psid, name in names.items() if name == "Noah")
    [noah_message] = [
        m for m in simulator.messages(seeded.page_id) if m["psid"] == noah and m.get("via") == "marketing"
    ]
    client.get(urlsplit(noah_message["buttons"][0]["url"]).path)  # Noah taps Shop
    simulator.click_paid(noah)
    wait_for(lambda: campaign.deliveries.filter(clicked_at__isnull=False).exists(), what="Noah's click")
    wait_for(
        lambda: campaign.deliveries.filter(delivered_at__isnull=False).count() == 5,
        timeout=60,
        what="deliveries",
    )
    simulator.wait_webhooks_drained()
    tasks.tick()
    report = BeautifulSoup(
        admin_client.get(reverse("onesend_reports:campaign", args=[campaign.pk])).content, "html.parser"
    )
    spend = report.select_one('[data-testid="spend"]').get_text(strip=True)
    assert spend == "0.03 USD"  # 2 × 1.4 cents, in cents as Meta reports it
    clicked = [
        td.get_text(strip=True) for td in report.select('[data-testid="cost"] tr[data-cost="clicked"] td')
    ]
    assert clicked == ["1", "0.0300 USD", "1"]
    channels = {
        row["data-channel"]: [td.get_text(strip=True) for td in row.select("td")]
        for row in report.select('[data-testid="channels"] tr[data-channel]')
    }
    # sent, delivered, read, clicked, failed, refused by Meta, cost, per delivered
    assert channels == {
        "standard": ["3", "3", "0", "0", "0", "0", "0.00 USD", "0.00 USD"],
        "marketing_api": ["2", "2", "0", "1", "0", "1", spend, "0.0150 USD"],
    }
