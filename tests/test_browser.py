"""The subscribe loop in a real browser (Debian's chromium, driven by Playwright's sync API).

A visitor clicks the "Subscribe on Messenger" block on an example-site page, lands on the
simulator's m.me page, opts in and gets the welcome message; an editor sees the subscriber and their
consent history in the Wagtail admin. Then STOP, typed in the thread, unsubscribes them.

Screenshots of every step go to ``test-artifacts/browser/<suite>/<test name>/<step>.png``.
Run only these: ``pytest -m e2e``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from onesend_simulator.remote import wait_for
from playwright.sync_api import Page, expect
from wagtail.coreutils import get_supported_content_language_variant
from wagtail.models import Locale, Site
from wagtail.models import Page as WagtailPage
from wagtail.rich_text import RichText

from example_site.home.models import ContentPage, HomePage
from onesend_plugin.models import Account, MessengerPage, MetaApp, Subscriber, SubscriptionLink
from onesend_plugin.subscribe import refs

from .fixtures.browser import PASSWORD

# ``browser``, ``new_context`` and ``shot``; harmless once tests/conftest.py lists the plugin too.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("hermetic_site"),
]

BUTTON_LABEL = "Get our deals on Messenger"
SOURCE, TAGS = "updates-page", "website, vip"
SUBSCRIBERS_URL = "/admin/messenger/subscribers/"


# -- Fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def visitor(new_context) -> Page:
    """The person: an anonymous visitor of the site, then a Messenger user in the simulator."""
    return new_context().new_page()


@pytest.fixture
def editor(signed_in) -> Page:
    """A superuser signed in to the Wagtail admin, in a browser context of their own, looking at
    the (still empty) subscribers listing."""
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)
    page = signed_in(user, SUBSCRIBERS_URL)
    expect(page.get_by_role("heading", name="Subscribers")).to_be_visible()
    return page


@pytest.fixture
def example_page(connected_page, live_server, settings) -> str:
    """An example-site ContentPage whose body has a subscribe block for ``connected_page``, served
    by the live server's Wagtail Site; returns its full URL.

    Transactional tests flush the database, Wagtail's root page and locale included, so whatever
    its migrations created is rebuilt here if missing."""
    locale, _ = Locale.objects.get_or_create(
        language_code=get_supported_content_language_variant(settings.LANGUAGE_CODE)
    )
    root = WagtailPage.get_first_root_node() or WagtailPage.add_root(
        instance=WagtailPage(title="Root", slug="root", locale=locale)
    )
    for welcome in root.get_children().exact_type(WagtailPage):  # Wagtail's "Welcome" page
        welcome.delete()
    home = HomePage.objects.first() or root.add_child(instance=HomePage(title="Acme Shop", slug="home"))
    server = urlsplit(live_server.url)
    Site.objects.exclude(root_page=home).delete()
    Site.objects.update_or_create(
        is_default_site=True,
        defaults={"hostname": server.hostname, "port": server.port, "root_page": home, "site_name": "Acme"},
    )
    content = home.add_child(
        instance=ContentPage(
            title="Updates on Messenger",
            slug="messenger-updates",
            intro="<p>Get our offers in Messenger. You choose to subscribe, and one tap stops them.</p>",
            body=[
                (
                    "subscribe",
                    {"page": str(connected_page.pk), "label": BUTTON_LABEL, "ref": SOURCE, "tags": TAGS},
                ),
                ("paragraph", RichText("<p>Reply <b>STOP</b> at any time.</p>")),
            ],
        )
    )
    url = content.full_url
    assert url == f"{live_server.url}/messenger-updates/", "the live server must resolve to the Site"
    return url


# -- Helpers ---------------------------------------------------------------------------------------


def page_messages(thread: Page, text: str):
    """The Page's text messages in the simulator's thread that contain ``text``."""
    return thread.locator("[data-testid=thread-message][data-direction=page][data-type=text]", has_text=text)


def subscriber_row(admin: Page, name: str):
    """The listing's row of a person, by the name Meta's profile gives them (waited for)."""
    wait_for(lambda: Subscriber.objects.filter(first_name=name.split()[0]).exists(), what=f"{name}'s profile")
    admin.reload()
    return admin.locator("table.listing tbody tr", has_text=name)


def subscribe_from_the_site(visitor: Page, shot, example_page: str, connected_page) -> str:
    """Grace Hopper's way from the site's subscribe button to the welcome in Messenger, each step
    checked as she sees it; returns her PSID."""
    # The site page with its subscribe button.
    visitor.goto(example_page)
    button = visitor.get_by_test_id("onesend-subscribe")
    expect(button).to_have_text(BUTTON_LABEL)
    expect(button).to_have_attribute("href", re.compile(r"^/onesend/s/[^/]+/$"))
    shot(visitor, "01-site-page")

    # The click is counted by the site and redirected to the simulator's m.me page.
    button.click()
    visitor.wait_for_url(re.compile(rf"/m\.me/{re.escape(connected_page.username)}\?ref="))
    expect(visitor.get_by_test_id("link-form")).to_be_visible()
    expect(visitor.get_by_test_id("person-new")).to_be_checked()
    assert SubscriptionLink.objects.get(page=connected_page, ref=SOURCE).clicks == 1
    visitor.get_by_test_id("person-name").fill("Grace Hopper")
    shot(visitor, "02-mme-link")
    visitor.get_by_test_id("continue").click()

    # A new thread opens on the Page's welcome screen with the Get Started button that connecting
    # the Page set; Meta tells the site about the link only when it is tapped.
    visitor.wait_for_url(re.compile(r"/_sim/ui/\d+$"))
    psid = visitor.get_by_test_id("thread").get_attribute("data-psid")
    expect(visitor.get_by_test_id("thread-person")).to_have_text("Grace Hopper")
    expect(visitor.get_by_test_id("welcome-screen")).to_be_visible()
    expect(visitor.get_by_test_id("message-input")).to_be_hidden()
    shot(visitor, "02b-get-started")
    visitor.get_by_test_id("get-started").click()

    # The thread: the site answered the Get Started postback (with the link's ref) with Meta's
    # opt-in request.
    expect(visitor.get_by_test_id("welcome-screen")).to_have_count(0)
    card = visitor.get_by_test_id("optin-card")
    expect(card).to_have_attribute("data-state", "pending")
    expect(visitor.get_by_test_id("optin-title")).to_have_text(connected_page.optin_title)
    shot(visitor, "03-optin-card")

    visitor.get_by_test_id("optin-accept").click()
    expect(card).to_have_attribute("data-state", "accepted")
    expect(page_messages(visitor, connected_page.welcome_message)).to_have_count(1)
    shot(visitor, "04-welcome")

    return psid


# -- Tests -----------------------------------------------------------------------------------------


def test_subscribe_from_the_site_and_see_it_in_the_admin(
    visitor, editor, shot, example_page, connected_page, live_server
):
    psid = subscribe_from_the_site(visitor, shot, example_page, connected_page)

    # The admin lists the new subscriber by name (never by PSID), with the block's source and tags.
    row = subscriber_row(editor, "Grace Hopper")
    expect(row).to_have_count(1)
    expect(row.locator(".w-status")).to_have_text("Subscribed")
    expect(row).to_contain_text(SOURCE)
    expect(row).to_contain_text("vip, website")
    shot(editor, "05-admin-subscribers")

    expect(row).not_to_contain_text(psid)
    # The person's page, from their name: the consent history in words, the tags beside it.
    row.get_by_role("link", name="Grace Hopper").click()
    subscriber = Subscriber.objects.get(page=connected_page, psid=psid)
    editor.wait_for_url(f"{live_server.url}{SUBSCRIBERS_URL}inspect/{subscriber.pk}/")
    heading = editor.get_by_role("heading", name="Consent history")
    history = heading.locator("xpath=following-sibling::table[1]")
    opted_in = history.locator("tbody tr", has_text="Opted in")
    expect(opted_in).to_have_count(1)
    expect(opted_in).to_contain_text(SOURCE)
    requested = history.locator("tbody tr", has_text="Opt-in request shown")
    expect(requested).to_contain_text(f"Topic “{connected_page.optin_title}”")
    expect(history).not_to_contain_text("{")  # no raw JSON
    expect(editor.get_by_test_id("tags-form").locator("input[name=tags]")).to_be_attached()
    heading.scroll_into_view_if_needed()  # the admin scrolls an inner pane: full_page can't reach it
    shot(editor, "06-admin-consent-history")


def test_stop_in_the_thread_unsubscribes(visitor, editor, shot, simulator, connected_page, live_server):
    psid = simulator.create_person(connected_page.page_id, "Alan Turing")["psid"]
    simulator.open_link(psid, ref=refs.encode(SOURCE, ("website",)))
    wait_for(
        lambda: any(item["type"] == "optin" for item in simulator.person(psid)["thread"]),
        timeout=10,
        what="the opt-in card",
    )
    simulator.accept_optin(psid)
    wait_for(
        lambda: Subscriber.objects.filter(psid=psid, status=Subscriber.Status.SUBSCRIBED).exists(),
        timeout=10,
        what="the subscription",
    )

    visitor.goto(f"{simulator.base_url}/_sim/ui/{psid}")
    expect(page_messages(visitor, connected_page.welcome_message)).to_have_count(1)
    visitor.get_by_test_id("message-input").fill("STOP")
    shot(visitor, "01-typing-stop")
    visitor.get_by_test_id("message-send").click()

    expect(
        visitor.locator("[data-testid=thread-message][data-direction=user]", has_text="STOP")
    ).to_have_count(1)
    expect(page_messages(visitor, f"You're unsubscribed from {connected_page.name}.")).to_have_count(1)
    shot(visitor, "02-unsubscribe-confirmation")

    row = subscriber_row(editor, "Alan Turing")
    expect(row.locator(".w-status")).to_have_text("Unsubscribed")
    shot(editor, "03-admin-unsubscribed")


def test_connect_a_facebook_page(editor, shot, simulator, live_server, settings):
    """The agency connects a client's Page: the admin sends them to (the simulator's) Facebook
    Login, they pick a Page there, and land on the Page with a healthy connection panel."""
    settings.ONESEND = {
        **settings.ONESEND,
        "GRAPH_API_BASE_URL": simulator.base_url,
        "OAUTH_DIALOG_BASE_URL": simulator.base_url,
    }
    app = MetaApp.objects.create(
        name="Agency app", app_id="880000000000077", app_secret="browser-secret", verify_token="v"
    )
    Account.objects.create(name="Corner Group", slug="corner-group")
    simulator.configure(app_secret=app.app_secret)
    for page_id, name in (("2000000000000001", "Corner Shop"), ("2000000000000002", "Corner Cafe")):
        simulator.create_page(page_id=page_id, name=name)
    simulator.create_user(name="Olga Owner", page_ids=["2000000000000001", "2000000000000002"])

    editor.goto(f"{live_server.url}/admin/messenger/pages/")
    editor.get_by_role("link", name="Connect a Facebook Page").click()
    editor.wait_for_url(f"{live_server.url}/admin/messenger/pages/connect/")
    editor.get_by_label("Client account").select_option(label="Corner Group")
    editor.get_by_label("Meta app").select_option(label=str(app))
    shot(editor, "01-connect")
    editor.get_by_test_id("connect-continue").click()

    # Facebook's dialog, played by the simulator: tick one Page, keep every permission.
    editor.wait_for_url(re.compile(rf"^{re.escape(simulator.base_url)}/v[\d.]+/dialog/oauth\?"))
    expect(editor.get_by_test_id("dialog-user")).to_have_text("Olga Owner")
    editor.get_by_label("Corner Cafe").check()
    shot(editor, "02-facebook-dialog")
    editor.get_by_test_id("dialog-continue").click()

    # Back in the admin: the Pages chosen on Facebook, ready to connect.
    editor.wait_for_url(re.compile(rf"^{re.escape(live_server.url)}/admin/messenger/pages/connect/callback/"))
    choice = editor.get_by_test_id("connect-choice")
    expect(choice).to_have_count(1)
    expect(choice).to_have_attribute("data-state", "new")
    shot(editor, "03-choose")
    editor.get_by_test_id("connect-pages").click()

    page = MessengerPage.objects.get(page_id="2000000000000002")
    editor.wait_for_url(f"{live_server.url}/admin/messenger/pages/inspect/{page.pk}/")
    expect(editor.get_by_text("Corner Cafe is connected and healthy.")).to_be_visible()
    expect(editor.get_by_test_id("page-health")).to_have_attribute("data-healthy", "true")
    expect(editor.locator("[data-testid=health-row][data-ok=no]")).to_have_count(0)
    shot(editor, "04-healthy-page")
