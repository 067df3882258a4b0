"""The per-person routing decision (``broadcast.routing``): which channel reaches each person,
in Meta's order of cost, or why none does."""

import pytest

from onesend_plugin.broadcast.routing import Options, Person, Route, excluded_region, legacy_allowed, route
from onesend_plugin.models import Channel

LEGACY = Options(legacy=True, paid=True)
PAID = Options(legacy=False, paid=True)
NEITHER = Options(legacy=False, paid=False)


@pytest.mark.parametrize("options", [LEGACY, PAID, NEITHER])
def test_a_person_in_their_window_gets_a_free_standard_message_whatever_else(options):
    assert route(Person(in_window=True, has_token=False), options) == Route(Channel.STANDARD)
    assert route(Person(in_window=True, has_token=True, region_refused=True), options) == Route(
        Channel.STANDARD
    )


@pytest.mark.parametrize("options", [LEGACY, PAID, NEITHER])
def test_outside_the_window_without_a_token_nobody_reaches_them(options):
    assert route(Person(in_window=False, has_token=False), options) == Route(reason="no_token")


def test_the_legacy_token_comes_before_paid_where_the_business_region_allows_it():
    person = Person(in_window=False, has_token=True, timezone="America/New_York")
    assert route(person, LEGACY) == Route(Channel.MARKETING_TOKEN)
    assert route(person, PAID) == Route(Channel.MARKETING_API)
    assert route(person, NEITHER) == Route(reason="no_channel")


@pytest.mark.parametrize(
    "zone", ["Europe/Paris", "Europe/London", "Asia/Tokyo", "Asia/Seoul", "Australia/Perth"]
)
def test_a_person_in_an_excluded_region_is_skipped_without_a_paid_call(zone):
    assert route(Person(in_window=False, has_token=True, timezone=zone), PAID) == Route(
        reason="recipient_region"
    )


@pytest.mark.parametrize("zone", ["", "UTC", "America/Sao_Paulo", "Europe/Zurich", "Europe/Oslo"])
def test_an_unknown_or_served_region_is_tried_on_the_paid_api(zone):
    assert route(Person(in_window=False, has_token=True, timezone=zone), PAID) == Route(Channel.MARKETING_API)


def test_a_person_meta_refused_for_their_region_is_skipped_next_time():
    person = Person(in_window=False, has_token=True, timezone="UTC", region_refused=True)
    assert route(person, PAID) == Route(reason="recipient_region")
    assert route(person, LEGACY) == Route(Channel.MARKETING_TOKEN)  # a free channel still takes them


def test_regions_are_meta_s_five_geos():
    assert [
        excluded_region(z) for z in ("Europe/Berlin", "Atlantic/Canary", "Asia/Nicosia", "Europe/Kyiv")
    ] == [
        "DE",
        "ES",
        "CY",
        "",
    ]
    assert [legacy_allowed(c) for c in ("gb", "FR", "AU", "JP", "KR", "US", "CH", "")] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
