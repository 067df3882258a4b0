"""Demo data for ``manage.py rundemo``. Every function is idempotent: running the demo again
finds what it created the first time instead of adding copies."""

import time
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from wagtail.models import Page, Site
from wagtail.rich_text import RichText

from example_site.shop.models import Product
from onesend_plugin import broadcast
from onesend_plugin.accounts.groups import ensure_client_group
from onesend_plugin.models import (
    Account,
    Campaign,
    CampaignButton,
    Channel,
    MarketingToken,
    Membership,
    MessengerPage,
    MetaApp,
    PaidLoginFlow,
    Subscriber,
)
from onesend_plugin.subscribe import profiles

from .models import ContentPage, HomePage

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "changeme"

APP = {
    "app_id": "880000000000001",
    "name": "Demo app",
    "app_secret": "demo-app-secret",
    "verify_token": "demo-verify-token",
}
PAGE = {
    "page_id": "1000000000000001",
    "name": "Acme Shop",
    "username": "acmeshop",
    "access_token": "demo-page-token",
}

# A second client of the agency, with a user of its own who sees only that client.
SECOND_CLIENT = {"slug": "bloom-florists", "name": "Bloom Florists", "timezone": "Europe/Paris"}
SECOND_PAGE = {
    "page_id": "1000000000000002",
    "name": "Bloom Florists",
    "username": "bloomflorists",
    "access_token": "demo-bloom-page-token",
}
CLIENT_USERNAME = "bloom"
CLIENT_PASSWORD = "changeme"
#: Bloom's customers who subscribed on Messenger through the tool Bloom used before onesend: Meta
#: holds their tokens (``notification_message_tokens``), onesend does not until "Import existing
#: subscribers from Meta" brings them in. (days ago they subscribed, their names)
BLOOM_IMPORTED_TOPIC = "Fresh flowers and offers"
BLOOM_EARLIER_SUBSCRIBERS = [
    (420, ["Camille", "Louis", "Manon", "Jules", "Inès"]),
    (300, ["Gabriel", "Léa", "Arthur", "Lucas", "Raphaël"]),
    (180, ["Jade", "Hugo", "Louise", "Adam", "Alice"]),
    (90, ["Nathan", "Rose", "Paul", "Zoé", "Victor"]),
    (30, ["Lina", "Théo", "Anna", "Maël", "Juliette"]),
]

# A business in the United States, where the legacy tokens no longer work (only in AU, the EU,
# JP, KR and the UK): its Page sends per person, free to people who wrote to it in the last 24 h,
# else through its ad account on Meta's paid Marketing Messages API (per delivered message, USD).
US_CLIENT = {
    "slug": "coyote-outfitters",
    "name": "Coyote Outfitters",
    "timezone": "America/Phoenix",
    "business_country": "US",
}
US_PAGE = {
    "page_id": "1000000000000005",
    "name": "Coyote Outfitters",
    "username": "coyoteoutfitters",
    "access_token": "demo-coyote-page-token",
    "channel": Channel.PER_PERSON,
    "ad_account_id": "act_2000000000000001",
    "ad_account_currency": "USD",
}
US_PEOPLE = ["Ava", "Liam", "Mia"]  # subscribe while the demo starts: their 24 h window is open
#: Coyote's earlier subscribers, whose window closed long ago: (name, opt-in timezone, where Meta
#: places them, token still active). A campaign's confirm step shows how they split: Noah and
#: Sofia go paid; Emma's timezone is in Ireland, where Meta sends no paid message (skipped
#: without a call); Oliver's says nothing, so Meta is asked and refuses him (2300032: skipped,
#: and remembered); Ethan's token has expired (skipped: no token).
US_EARLIER = [
    ("Noah", "America/Denver", "US", True),
    ("Sofia", "America/Los_Angeles", "US", True),
    ("Emma", "Europe/Dublin", "IE", True),
    ("Oliver", "UTC", "GB", True),
    ("Ethan", "America/Phoenix", "US", False),
]
US_EARLIER_DAYS = 60
US_EARLIER_REF = "earlier-subscribers"
#: Meta asks to wait about an hour after creating a message campaign; the demo's simulator a minute.
DEMO_WARMUP_SECONDS = 60

CONTENT_PAGES = [
    (
        "about",
        "About us",
        "Acme has sold sturdy things to careful people since 1949.",
        [("heading", "Our story"), ("paragraph", "<p>We make a few things, and we make them to last.</p>")],
    ),
    (
        "messenger-updates",
        "Updates on Messenger",
        "Get our offers in Messenger. You choose to subscribe, and one tap stops them.",
        [
            ("subscribe", "updates-page"),
            ("heading", "How it works"),
            (
                "paragraph",
                "<p>Open our Messenger link, accept the request for updates, and we send you at most "
                "one message a day. Reply <b>STOP</b> at any time.</p>",
            ),
        ],
    ),
    (
        "delivery",
        "Delivery and returns",
        "Free delivery in three working days; returns within 30 days.",
        [("paragraph", "<p>Parcels leave our warehouse every weekday at noon.</p>")],
    ),
]

#: The business owner who logs in to the simulator's Facebook dialog ("Connect a Facebook Page"):
#: they manage the demo's Page and two more that are not connected yet.
OWNER = {"user_id": "700000000000001", "name": "Dana Owner"}
UNCONNECTED_PAGES = [("1000000000000004", "Acme Outlet"), ("1000000000000003", "Roadrunner Café")]

SIMULATED_PEOPLE = ["Ann", "Ben", "Chloé", "Dev", "Emma"]
SUBSCRIBED_PEOPLE = 3

PRODUCTS = [
    ("anvil", "Anvil", "49.00", "A classic, 25 kg of forged steel."),
    ("rocket-skates", "Rocket skates", "129.00", "Fast. Possibly too fast."),
    ("bird-seed", "Bird seed", "4.50", "Premium mix, 1 kg bag."),
]

# Automated flows (campaigns with a trigger event): the shop's events send these. Delays are in
# minutes; ``rundemo --time-scale N`` divides them so days can be watched in minutes.
FLOWS = [
    {
        "name": "Thank you + 10 % off next order",
        "trigger_event": "order_placed",
        "delay_minutes": 3 * 24 * 60,
        "text": "Thanks for your order! Here is 10 % off your next one: use code THANKS10 at checkout.",
        "button": ("Shop again", ""),
    },
    {
        "name": "You left something in your cart",
        "trigger_event": "cart_abandoned",
        "delay_minutes": 60,
        "exit_events": "order_placed",
        "text": "You left something in your cart. It's still there, waiting for you.",
        "button": ("Back to my cart", "cart/"),
    },
]


@transaction.atomic
def seed() -> MessengerPage:
    """Create everything the demo shows; return the Messenger Page."""
    ensure_superuser()
    page = ensure_messenger_page()
    ensure_second_client(page.app)
    ensure_us_client(page.app)
    home = ensure_home_page()
    Site.objects.get(is_default_site=True).onesend_accounts.add(page.account)  # Acme's site
    for slug, title, intro, body in CONTENT_PAGES:
        ensure_content_page(home, slug, title, intro, body)
    for slug, name, price, description in PRODUCTS:
        Product.objects.get_or_create(
            slug=slug, defaults={"name": name, "price": Decimal(price), "description": description}
        )
    return page


def scaled(minutes: int, time_scale: float) -> int:
    """A delay divided by the time scale, in whole minutes (at least 1 if there was a delay)."""
    return max(1, round(minutes / time_scale)) if minutes else 0


@transaction.atomic
def seed_flows(page: MessengerPage, *, shop_url: str, time_scale: float = 1) -> list[str]:
    """Create the demo's flows, published and active, with their delays divided by
    ``time_scale``; on a later run, set the delays for this run's scale. Returns what was done."""
    if time_scale <= 0:
        raise ValueError("The time scale must be positive.")
    done = []
    for spec in FLOWS:
        delay = scaled(spec["delay_minutes"], time_scale)
        flow = Campaign.objects.filter(page=page, name=spec["name"]).first()
        if flow is None:
            flow = Campaign.objects.create(
                page=page,
                name=spec["name"],
                text=spec["text"],
                trigger_event=spec["trigger_event"],
                delay_minutes=delay,
                exit_events=spec.get("exit_events", ""),
                live=True,
            )
            title, path = spec["button"]
            CampaignButton.objects.create(campaign=flow, title=title, url=shop_url.rstrip("/") + "/" + path)
        elif flow.delay_minutes != delay:
            Campaign.objects.filter(pk=flow.pk).update(delay_minutes=delay)
        problem = ""
        if flow.status == Campaign.Status.DRAFT:
            try:
                broadcast.start(flow)
            except broadcast.CampaignError as exc:  # e.g. the Page was paused
                problem = f": not started ({exc})"
        flow.refresh_from_db()
        line = f"{flow.name!r} on {flow.trigger_event}: {_duration(spec['delay_minutes'])} after the event"
        if time_scale != 1:
            minimum = delay == 1 and spec["delay_minutes"] / time_scale < 0.5
            line += f", shown as {_duration(delay)}{' (the minimum)' if minimum else ''} at time scale {time_scale:g}"
        if flow.exit_events:
            line += f", cancelled by {flow.exit_events}"
        done.append(f"{line} [{flow.get_status_display().lower()}{problem}]")
    return done


def _duration(minutes: int) -> str:
    if minutes and minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{minutes} min"


def ensure_superuser() -> None:
    User = get_user_model()
    if not User.objects.filter(username=ADMIN_USERNAME).exists():
        User.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)


def ensure_home_page() -> HomePage:
    """Replace Wagtail's "Welcome" page (created by its migrations) with our home page."""
    home = HomePage.objects.first()
    if home:
        return home
    welcome = Page.objects.filter(depth=2, slug="home").exact_type(Page).first()
    if welcome:
        welcome.delete()  # the default Site goes with it (on_delete=CASCADE)
    home = Page.get_first_root_node().add_child(
        instance=HomePage(
            title="Acme Shop",
            slug="home",
            intro="<p>Sturdy things for careful people, now with updates on Messenger.</p>",
        )
    )
    Site.objects.update_or_create(
        is_default_site=True, defaults={"hostname": "localhost", "root_page": home, "site_name": "Acme Shop"}
    )
    return home


def ensure_content_page(home: HomePage, slug, title, intro, body) -> None:
    if home.get_children().filter(slug=slug).exists():
        return
    blocks = [_block(home, kind, value) for kind, value in body]
    home.add_child(
        instance=ContentPage(title=title, slug=slug, intro=f"<p>{intro}</p>", body=blocks, show_in_menus=True)
    )


def _block(home: HomePage, kind: str, value):
    if kind == "paragraph":
        return kind, RichText(value)
    if kind == "subscribe":  # a "Subscribe on Messenger" button for the demo's Page
        page = MessengerPage.objects.get(page_id=PAGE["page_id"])
        return kind, {
            "page": str(page.pk),
            "label": "Get our deals on Messenger",
            "ref": value,
            "tags": "website",
        }
    return kind, value


def ensure_messenger_page() -> MessengerPage:
    account, _ = Account.objects.get_or_create(slug="acme-shop", defaults={"name": "Acme Shop"})
    app, _ = MetaApp.objects.get_or_create(app_id=APP["app_id"], defaults=APP)
    page, _ = MessengerPage.objects.get_or_create(
        page_id=PAGE["page_id"], defaults={**PAGE, "account": account, "app": app}
    )
    return page


def ensure_second_client(app: MetaApp) -> MessengerPage:
    """The agency's second client, its Page (served by the same Meta app) and a client admin."""
    account, _ = Account.objects.get_or_create(slug=SECOND_CLIENT["slug"], defaults=SECOND_CLIENT)
    page, _ = MessengerPage.objects.get_or_create(
        page_id=SECOND_PAGE["page_id"], defaults={**SECOND_PAGE, "account": account, "app": app}
    )
    User = get_user_model()
    if not User.objects.filter(username=CLIENT_USERNAME).exists():
        user = User.objects.create_user(CLIENT_USERNAME, "owner@bloom.example", CLIENT_PASSWORD)
        user.groups.add(ensure_client_group())
        Membership.objects.create(user=user, account=account, role=Membership.Role.ADMIN)
    return page


def ensure_us_client(app: MetaApp) -> MessengerPage:
    """The US business and its Page sending per person (served by the same Meta app)."""
    account, _ = Account.objects.get_or_create(slug=US_CLIENT["slug"], defaults=US_CLIENT)
    if not account.business_country:  # a demo database seeded before regions existed
        Account.objects.filter(pk=account.pk).update(business_country=US_CLIENT["business_country"])
    page, _ = MessengerPage.objects.get_or_create(
        page_id=US_PAGE["page_id"], defaults={**US_PAGE, "account": account, "app": app}
    )
    return page


def seeded_pages() -> list[tuple[str, str]]:
    """Every Page the demo puts in the simulator, (id, name): the connected ones, then those
    its business owner can still connect. Each id is one Page's."""
    connected = [(spec["page_id"], spec["name"]) for spec in (PAGE, SECOND_PAGE, US_PAGE)]
    return connected + UNCONNECTED_PAGES


def populate_simulator(simulator_url: str, page: MessengerPage) -> None:
    """Register the Pages in the simulator and give Acme's and the US Page a few people, who
    subscribe the way real people do: they open a subscription link, the site sends Meta's opt-in
    request, they accept. Bloom's Page gets the people whose tokens Meta held before Bloom came
    to onesend, for "Import existing subscribers from Meta". The simulator keeps its state in a
    file between runs, so this happens only once. Also its business owner, with two Pages still
    to connect through "Connect a Facebook Page", and a short warm-up of new paid campaigns."""
    # Imported here: onesend-simulator is a distribution of its own (simulator/), for the demo.
    from onesend_simulator.remote import SimulatorRemote

    from onesend_plugin.accounts.onboarding import check_health, webhook_fields

    remote = SimulatorRemote(simulator_url)
    remote.configure(campaign_warmup_seconds=DEMO_WARMUP_SECONDS)
    bloom = MessengerPage.objects.get(page_id=SECOND_PAGE["page_id"])
    us_page = MessengerPage.objects.get(page_id=US_PAGE["page_id"])
    connected = (page, bloom, us_page)
    for known in connected:
        remote.create_page(
            page_id=known.page_id,
            name=known.name,
            username=known.username,
            access_token=known.access_token,
            app_id=known.app.app_id,
            subscribed_fields=webhook_fields(known),
        )
    remote.create_page(page_id=us_page.page_id, business_country=US_CLIENT["business_country"])
    _connect_ad_account(remote, us_page)
    for known in connected:  # the connection check: it also gives the Page its Get Started button
        known.refresh_from_db()
        check_health(known)
    for page_id, name in UNCONNECTED_PAGES:
        remote.create_page(page_id=page_id, name=name)
    remote.create_user(**OWNER, page_ids=[page.page_id, *(page_id for page_id, _ in UNCONNECTED_PAGES)])
    _subscribe_people(
        remote, page, SIMULATED_PEOPLE[:SUBSCRIBED_PEOPLE], SIMULATED_PEOPLE[SUBSCRIBED_PEOPLE:]
    )
    _subscribe_people(remote, us_page, US_PEOPLE)
    _earlier_us_subscribers(remote, us_page)
    _tokens_held_at_meta(remote, bloom)


def _earlier_us_subscribers(remote, page: MessengerPage) -> None:
    """Coyote's earlier subscribers (``US_EARLIER``, unless they are there already), as Meta
    and onesend hold them: subscribed ``US_EARLIER_DAYS`` ago, not heard from since."""
    if page.subscribers.filter(source_ref=US_EARLIER_REF).exists():
        return
    since = timezone.now() - timedelta(days=US_EARLIER_DAYS)
    for name, zone, country, active in US_EARLIER:
        [made] = remote.create_people(
            page.page_id,
            1,
            names=[name],
            timezone=zone,
            country=country,
            at_ms=round(since.timestamp() * 1000),
        )
        person = Subscriber.objects.create(
            page=page,
            psid=made["psid"],
            status=Subscriber.Status.SUBSCRIBED,
            timezone=zone,
            opted_in_at=since,
            last_interaction_at=since,
            source_ref=US_EARLIER_REF,
        )
        status = MarketingToken.Status.ACTIVE if active else MarketingToken.Status.EXPIRED
        if not active:  # Meta no longer holds it
            remote.drop_tokens(page.page_id, tokens=[made["token"]])
        MarketingToken.objects.create(
            subscriber=person, token=made["token"], topic=page.optin_title, status=status
        )
        profiles.ask_profile(person.pk)  # their name in the admin, as their opt-in would have asked


def _tokens_held_at_meta(remote, page: MessengerPage) -> None:
    """Bloom's earlier subscribers (unless the Page has people already), as Meta holds them: each
    token dated the day they subscribed through Bloom's former tool, none of them known here."""
    if remote.people(page.page_id):
        return
    now_ms = round(time.time() * 1000)
    for days_ago, names in BLOOM_EARLIER_SUBSCRIBERS:
        remote.create_people(
            page.page_id,
            len(names),
            title=BLOOM_IMPORTED_TOPIC,
            timezone=SECOND_CLIENT["timezone"],
            at_ms=now_ms - days_ago * 24 * 3600 * 1000,
            names=names,
        )


def _connect_ad_account(remote, page: MessengerPage) -> None:
    """The US Page's ad account, and the business token its owner's Facebook Login for Business
    would give (the paid channel sends with it), stored on the Page as "Connect the ad account"
    does."""
    remote.create_ad_account(
        account_id=page.ad_account_id, name=f"{page.name} ads", currency="USD", business_country_code="US"
    )
    issued = remote.create_business_token(
        flow="business", app_id=page.app.app_id, page_ids=[page.page_id], ad_account_ids=[page.ad_account_id]
    )
    MessengerPage.objects.filter(pk=page.pk).update(
        paid_access_token=issued["token"], paid_token_flow=PaidLoginFlow.BUSINESS
    )


def _subscribe_people(
    remote, page: MessengerPage, subscribed: Sequence[str], others: Sequence[str] = ()
) -> None:
    """Simulated people of ``page`` (unless it has some already): ``subscribed`` go through the
    opt-in flow, ``others`` are left unsubscribed, for trying the flows by hand."""
    from onesend_simulator.remote import wait_for

    from onesend_plugin.subscribe import refs

    if remote.people(page.page_id):
        return
    for name in subscribed:
        psid = remote.create_person(page.page_id, name)["psid"]
        remote.open_link(psid, ref=refs.encode("demo-seed", ("early-bird",)))
        wait_for(
            lambda psid=psid: any(item["type"] == "optin" for item in remote.person(psid)["thread"]),
            timeout=30,
            what=f"the opt-in request to {name}",
        )
        remote.accept_optin(psid)
    for name in others:
        remote.create_person(page.page_id, name)


def ping() -> str:
    """A no-op task: rundemo enqueues it to see that the qcluster worker is running."""
    return "pong"
