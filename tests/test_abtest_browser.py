"""An A/B test in a real browser, as a client's content editor does it: variant B written in the
campaign editor's A/B test tab, the split read on the confirm step, "Testing" while the test
runs, then both variants and why one won in the report, without a PSID anywhere."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from onesend_simulator.remote import wait_for
from playwright.sync_api import Page, expect

from onesend_plugin import analytics, broadcast
from onesend_plugin.accounts.groups import ensure_client_group
from onesend_plugin.models import Campaign, Membership

from .fixtures.browser import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ADD_URL = "/admin/messenger/campaigns/add/"
A_TEXT, B_TEXT = "Spring bouquets are in", "Last day for spring bouquets"


@pytest.fixture
def editor(signed_in, sim_page) -> Page:
    """The Page's client admin (in the clients' group), signed in on a new campaign's form."""
    user = get_user_model().objects.create_user("florist", "florist@example.com", PASSWORD)
    user.groups.add(ensure_client_group())
    Membership.objects.create(user=user, account=sim_page.account, role=Membership.Role.ADMIN)
    return signed_in(user, ADD_URL)


def write_the_test(editor: Page, sim_page) -> None:
    """Variant A on the Content tab, variant B and the test's settings on the A/B test tab."""
    editor.locator("input[name=name]").fill("Spring bouquets")
    editor.locator("select[name=page]").select_option(str(sim_page.pk))
    editor.locator("textarea[name=text]").fill(A_TEXT)
    editor.locator("#id_buttons-ADD").click()
    editor.locator("input[name=buttons-0-title]").fill("Shop")
    editor.locator("input[name=buttons-0-url]").fill("https://shop.example/spring")
    editor.get_by_role("tab", name="A/B test").click()
    expect(editor.locator("textarea[name=variant_b_text]")).to_be_hidden()  # until the test is on
    editor.locator("input[name=ab_test]").check()
    editor.locator("textarea[name=variant_b_text]").fill(B_TEXT)
    expect(editor.locator("[data-onesend-counter=variant_b_text]")).to_have_text("28 / 1,999")
    for name in ("variant_b_image", "variant_b_document", "variant_b_video_url"):  # as "Attach" says
        expect(editor.locator(f"label[for=id_{name}]")).to_be_hidden()
    editor.locator("#id_variant_b_buttons-ADD").click()
    editor.locator("input[name=variant_b_buttons-0-title]").fill("See them")
    editor.locator("input[name=variant_b_buttons-0-url]").fill("https://shop.example/spring-last")
    expect(editor.locator("[data-onesend-counter=variant_b_text]")).to_have_text("28 / 640")
    editor.locator("input[name=ab_test_share]").fill("20")
    editor.locator("select[name=ab_metric]").select_option("clicks")
    editor.locator("input[name=ab_hours]").fill("4")


def test_an_editor_runs_an_a_b_test_and_reads_both_variants_in_the_report(
    editor, sim_page, make_subscribers, simulator, live_server, shot
):
    people = make_subscribers(sim_page, 10)
    write_the_test(editor, sim_page)
    shot(editor, "01-variant-b")
    editor.locator("[data-w-dropdown-target=toggle]").last.click()
    editor.get_by_role("button", name="Publish").click()
    campaign = wait_for(
        lambda: Campaign.objects.filter(name="Spring bouquets", live=True).first(),
        what="the campaign published",
    )
    assert campaign.ab_test and [b.title for b in campaign.variant_b_buttons.all()] == ["See them"]

    editor.goto(f"{live_server.url}/admin/messenger/campaigns/inspect/{campaign.pk}/")
    editor.get_by_role("link", name="Send now").click()
    expect(editor.get_by_test_id("ab-split")).to_contain_text("1 get variant A and 1 get variant B")
    expect(editor.get_by_test_id("ab-split")).to_contain_text("the other 8 get it then")
    shot(editor, "02-confirm")
    editor.get_by_role("button", name="Yes, send it now").click()
    expect(editor.locator(".onesend-state")).to_contain_text("Testing — winner picked at")
    shot(editor, "03-testing")
    editor.goto(f"{live_server.url}/admin/messenger/campaigns/")
    expect(editor.get_by_text("Testing — winner picked at")).to_be_visible()

    # Variant B's person clicks; the worker's tick picks the winner once the 4 hours are over.
    campaign.refresh_from_db()
    analytics.record_click(campaign.deliveries.get(variant="b"), 0)
    with time_machine.travel(campaign.ab_decide_at + timedelta(minutes=1), tick=True):
        broadcast.tick()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED and campaign.ab_winner == "b"
    got = {m["psid"] for m in simulator.messages(sim_page.page_id) if m.get("type") != "optin"}
    assert got == {person.psid for person in people}

    editor.goto(f"{live_server.url}/admin/messenger/campaigns/inspect/{campaign.pk}/")
    expect(editor.get_by_test_id("ab-decision")).to_contain_text("B won: click rate 100.0% (1 of 1)")
    editor.get_by_test_id("report-link").click()
    expect(editor.get_by_test_id("ab-decision")).to_contain_text(
        "B won: click rate 100.0% (1 of 1) against 0.0% (0 of 1) for A after 4 h."
    )
    variants = editor.get_by_test_id("ab-variants")
    expect(variants.locator("tr[data-row=words] td")).to_have_text(
        [re.compile(f"{A_TEXT}\\s*Buttons: Shop"), re.compile(f"{B_TEXT}\\s*Buttons: See them")]
    )
    expect(variants.locator("tr[data-row=click_rate] td")).to_have_text(["0.0%", "100.0%"])
    expect(variants.locator("th[data-variant=b]")).to_contain_text("Winner")
    shot(editor, "04-report")
    text = editor.locator("main").inner_text()
    assert not any(person.psid in text for person in people), "no PSID on the report"
