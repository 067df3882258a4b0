"""Agencies: through any onesend admin URL, a client never reaches another client's objects, and
listings, reports, exports and JSON show only its own rows.

The matrix is generated from the registered admin URL patterns (every onesend admin URL, the
snippet and chooser namespaces included), not from a hand-written list: a new view is covered
as soon as it is registered, and one with an object argument the matrix cannot fill fails here.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from wagtail.models import Page, Site

from onesend_plugin.models import (
    Account,
    Campaign,
    MessengerPage,
    MetaApp,
    StoreEvent,
    Subscriber,
    SubscriptionLink,
    WebhookDelivery,
    WebhookEvent,
)

from ..factories import default_site_root
from ..fixtures.tenants import Client_, assert_no_leak, body, denied

pytestmark = pytest.mark.django_db


# -- The URL patterns ------------------------------------------------------------------------------------


def onesend_admin_patterns():
    """(full URL name, pattern) of every onesend admin URL, walked from the root URLconf."""

    def walk(resolver, route, namespaces):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(
                    pattern,
                    route + str(pattern.pattern),
                    namespaces + ([pattern.namespace] if pattern.namespace else []),
                )
            elif isinstance(pattern, URLPattern) and pattern.name:
                yield route + str(pattern.pattern), ":".join([*namespaces, pattern.name]), pattern

    seen = {}
    for route, name, pattern in walk(get_resolver(), "", []):
        if route.startswith("admin/") and "onesend" in name:
            seen.setdefault((name, tuple(sorted(pattern.pattern.regex.groupindex))), pattern)
    return [(name, pattern) for (name, _), pattern in seen.items()]


PATTERNS = onesend_admin_patterns()


def kwarg_names(pattern) -> list[str]:
    return sorted(pattern.pattern.regex.groupindex)


def model_of(pattern):
    view_class = getattr(pattern.callback, "view_class", None)
    initkwargs = getattr(pattern.callback, "view_initkwargs", {}) or {}
    for candidate in (
        initkwargs.get("model"),
        getattr(view_class, "model", None),
        initkwargs.get("model_class"),
    ):
        if isinstance(candidate, type):
            return candidate
    return getattr(view_class, "model_class", None)


def fill(name, pattern, owner: Client_) -> dict:
    """The pattern's kwargs, filled with ``owner``'s objects."""
    model = model_of(pattern)
    objects = {
        Account: owner.account,
        MetaApp: owner.app,
        MessengerPage: owner.page,
        Subscriber: owner.subscriber,
        SubscriptionLink: owner.link,
        Campaign: owner.campaign,
        WebhookEvent: owner.event,
        WebhookDelivery: owner.event.delivery,
        StoreEvent: owner.store_event,
    }
    kwargs = {}
    for kwarg in kwarg_names(pattern):
        if kwarg == "pk":
            assert model in objects, f"{name}: no object of {model} to fill its pk with"
            kwargs[kwarg] = objects[model].pk
        elif kwarg.startswith("revision_id"):
            assert model is Campaign, name
            kwargs[kwarg] = owner.revision.pk
        elif kwarg == "kind":
            kwargs[kwarg] = "png"
        elif kwarg == "page_pk":  # a Wagtail page of a Site the owner's account owns
            kwargs[kwarg] = site_page(owner).pk
        else:  # a new kind of argument: teach the matrix how to fill it
            pytest.fail(f"{name}: don't know how to fill the URL argument {kwarg!r}")
    return kwargs


def site_page(owner: Client_) -> Page:
    """A live Wagtail page, the root of a Site of ``owner``'s account."""
    label = owner.label.lower()
    home = (
        default_site_root()
        .get_parent()
        .add_child(instance=Page(title=f"{owner.label} home", slug=f"{label}-home"))
    )
    Site.objects.create(hostname=f"{label}.example", root_page=home).onesend_accounts.add(owner.account)
    return home


#: Rows without an account (a Meta app, a delivery that may carry several clients' events).
AGENCY_ONLY = (MetaApp, WebhookDelivery)
#: Pages about the whole site, not one client's rows: agency staff only.
AGENCY_PAGES = {"onesend_agency", "onesend_plugins"}

OBJECT_PATTERNS = [(name, p) for name, p in PATTERNS if kwarg_names(p)]
LISTING_PATTERNS = [(name, p) for name, p in PATTERNS if not kwarg_names(p)]


def ids(patterns):
    return [name for name, _ in patterns]


def test_the_matrix_covers_every_onesend_admin_url():
    names = ids(PATTERNS)
    assert len(PATTERNS) >= 90, names
    for expected in (
        "wagtailsnippets_onesend_campaign:edit",
        "wagtailsnippets_onesend_campaign:send",
        "wagtailsnippets_onesend_campaign:revisions_compare",
        "wagtailsnippetchoosers_onesend_campaign:chosen",
        "onesend_subscribers:erase",
        "onesend_links:qr",
        "onesend_inbox:inspect",
        "onesend_apps:edit",
        "onesend_accounts:index",
        "onesend_reports:campaign_csv",
        "onesend_reports:campaigns",
        "onesend_account_switch",
        "onesend_members",
        "onesend_agency",
        "onesend_plugins",
    ):
        assert expected in names


# -- Client A on client B's objects: nothing -----------------------------------------------------------


@pytest.mark.parametrize("name, pattern", OBJECT_PATTERNS, ids=ids(OBJECT_PATTERNS))
def test_other_clients_objects_are_out_of_reach(client_a, alpha, bravo, name, pattern):
    url = reverse(name, kwargs=fill(name, pattern, bravo))
    before = bravo.fingerprint()
    for method in ("get", "post"):
        response = getattr(client_a, method)(url)
        assert denied(response, method.upper()), f"{method.upper()} {url}: {response.status_code}"
        assert_no_leak(response, bravo, f"{method.upper()} {url}")
        assert bravo.fingerprint() == before, f"{method.upper()} {url} changed client B's data"


#: Object views a client admin opens on their own objects (200): the rest are actions (POST
#: only), forbidden to everyone (inbox edits, plain subscriber deletion) or agency only.
OPENS = {
    "wagtailsnippets_onesend_campaign": {
        "edit",
        "usage",
        "history",
        "history_results",
        "inspect",
        "revisions_view",
        "revisions_compare",
        "send",
        "cancel",
        "retry_unknown",
        "send_test",
        "progress",
        "copy",
    },
    "wagtailsnippetchoosers_onesend_campaign": {"chosen"},
    "onesend_subscribers": {"edit", "history", "history_results", "usage", "inspect", "export", "erase"},
    "onesend_links": {"edit", "history", "history_results", "usage", "inspect", "copy", "qr"},
    "onesend_inbox": {"inspect"},
    "onesend_store_events": {"inspect"},
    "onesend_reports": {"campaign", "campaign_csv", "campaign_not_sent"},
    "": {"onesend_members"},  # the account's members: a client admin manages them
}


@pytest.mark.parametrize("name, pattern", OBJECT_PATTERNS, ids=ids(OBJECT_PATTERNS))
def test_own_objects_are_reachable(client_a, alpha, bravo, name, pattern):
    url = reverse(name, kwargs=fill(name, pattern, alpha))
    response = client_a.get(url)
    namespace, _, view = name.rpartition(":")
    if model_of(pattern) in AGENCY_ONLY:  # out of every client's reach
        assert denied(response), url
    elif view in OPENS.get(namespace, ()):
        assert response.status_code == 200, f"{url}: {response.status_code}"
        assert_no_leak(response, bravo, url)
    else:
        assert response.status_code != 404, f"{url}: its own object must be found"


# -- Listings, reports, exports, JSON: A's rows, never B's ------------------------------------------------


#: What each listing must show of client A when it opens (its model's marker).
def marker(model, owner: Client_) -> str | None:
    return {
        Campaign: owner.campaign.name,
        MessengerPage: owner.page.name,
        Subscriber: owner.subscriber.source_ref,  # in their label, where people are listed by it
        SubscriptionLink: owner.link.name,
        Account: owner.account.name,
        WebhookEvent: owner.subscriber.psid,
        StoreEvent: owner.store_event.customer_ref,
    }.get(model)


def listing_urls(name):
    url = reverse(name)
    return [url, f"{url}?export=csv"]


@pytest.mark.parametrize("name, pattern", LISTING_PATTERNS, ids=ids(LISTING_PATTERNS))
def test_listings_show_own_rows_only(client_a, alpha, bravo, name, pattern):
    before = bravo.fingerprint()
    for url in listing_urls(name):
        response = client_a.get(url)
        assert response.status_code in (200, 302, 400, 403, 404), url
        assert_no_leak(response, bravo, url)
        view = name.rpartition(":")[2]
        listing = view in ("list", "list_results", "index", "index_results", "choose", "choose_results")
        if listing and model_of(pattern) in AGENCY_ONLY:
            assert denied(response), f"{url}: {model_of(pattern).__name__} rows are the agency's"
        elif name in AGENCY_PAGES:
            assert denied(response), f"{url}: the agency's only"
        elif listing or view in ("campaigns", "campaigns_results"):
            assert response.status_code == 200, url
            exports_nothing = "export=" in url and not body(response).strip()  # no list_export
            if (expected := marker(model_of(pattern), alpha)) and not exports_nothing:
                assert expected in body(response), f"{url}: client A's own rows are missing"
        response = client_a.post(url, {"page": bravo.page.pk, "account": bravo.account.pk})
        assert_no_leak(response, bravo, f"POST {url}")
    assert bravo.fingerprint() == before
