"""The shop's customers uploaded, hashed, to the Page's Marketing Messages Custom Audience at
Meta, the people Meta matches imported as subscribers, and removal, unsubscribe and erasure
reaching Meta (reference ``meta-paid-marketing-api.md`` §7.1, §5.2, §7.3), against the simulator
over HTTP."""

from __future__ import annotations

import json
import re

import pytest
from onesend_simulator.remote import wait_for

from onesend_plugin import broadcast
from onesend_plugin.hooks import StoreCustomer, hookimpl
from onesend_plugin.messenger import audiences
from onesend_plugin.models import AudienceMember, AudienceUpload, ConsentRecord, Subscriber, WebhookDelivery
from onesend_plugin.subscribe import erasure, meta_import, store_audience, subscriptions

from .conftest import connect_paid
from .factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)

HEX = re.compile(r"[0-9a-f]{64}")
STATUS_FIELD = "marketing_messages_subscriber_upload_status"


class Shop:
    """A store integration: its customers, as the ``store_customers`` hook gives them."""

    def __init__(self, customers: list[StoreCustomer]) -> None:
        self.customers = customers

    @hookimpl
    def store_customers(self, account):
        return self.customers


def customer(n: int, **fields) -> StoreCustomer:
    return StoreCustomer(
        **{"customer_ref": f"c-{n}", "accepts_marketing": True, "email": f"buyer{n}@shop.example", **fields}
    )


@pytest.fixture
def upload(django_capture_on_commit_callbacks):
    """``upload(page)``: ask for an upload and let the (synchronous) worker make it."""

    def make(page) -> AudienceUpload:
        with django_capture_on_commit_callbacks(execute=True):
            run = store_audience.request(page, by="tester")
        assert run is not None
        run.refresh_from_db()
        return run

    return make


def test_ten_thousand_customers_go_hashed_in_batches_and_invalid_rows_are_reported(
    paid_page, simulator, register_plugin, upload
):
    good = [customer(n, first_name="Ann", phone=f"+44 20 7946 {n % 10_000:04d}") for n in range(10_050)]
    bad = [
        customer(20_001, email="", phone=""),  # neither
        customer(20_002, email="", phone=""),
        customer(20_003, email="not-an-email"),
        customer(20_004, email="", phone="020 7946 0000"),  # no country code
    ]
    refused = [customer(30_000 + n, accepts_marketing=False) for n in range(3)]
    register_plugin(Shop([*good, *bad, *refused, good[0]]))  # a customer given twice counts once

    run = upload(paid_page)
    assert run.state == AudienceUpload.State.MATCHING, run.error
    assert (run.customers, run.no_consent, run.uploaded, run.batches) == (10_057, 3, 10_050, 2)
    assert run.invalid == {"no_contact": 2, "bad_email": 1, "bad_phone": 1}
    assert run.meta_invalid == 0 and run.session_id
    assert store_audience.invalid_reasons(run)[0] == ("no e-mail and no phone", 2)

    [audience] = simulator.audiences()
    assert (audience["page_id"], audience["rows_received"], audience["invalid_rows"]) == (
        paid_page.page_id, 10_050, 0,
    )  # fmt: skip
    received = simulator.audience(audience["audience_id"])["received"]
    assert all(HEX.fullmatch(value) for row in received for value in row if value)
    assert all(row[0] and row[1] and row[2] and not row[3] for row in received)  # no last names given
    sent = json.dumps(received, separators=(",", ":"))
    assert not any(raw in sent for raw in ("buyer", "shop.example", "Ann", "+44", " "))
    assert AudienceMember.objects.filter(page=paid_page).count() == 10_050
    stored = AudienceMember.objects.filter(page=paid_page).values_list("customer_key", flat=True)
    assert not any(key.startswith("c-") for key in stored)  # the shop's references are not kept


def test_no_ad_account_no_upload(sim_page):
    assert "ad account" in store_audience.refusal(sim_page)


def test_meta_matches_and_its_tokens_become_subscribers_without_psid(
    connected_page, simulator, live_server, register_plugin, upload
):
    page = connect_paid(simulator, connected_page)
    [shown] = [p for p in simulator.pages() if p["page_id"] == page.page_id]
    simulator.create_page(page_id=page.page_id, subscribed_fields=[*shown["subscribed_fields"], STATUS_FIELD])
    simulator.configure(audience_match_seconds=0.2)
    contacts = [{"email": "buyer1@shop.example"}, {"phone": "+44 20 7946 0002"}]
    people = simulator.create_people(page.page_id, 2, subscribed=False, contacts=contacts)
    register_plugin(Shop([customer(1), customer(2, email="", phone="+44 20 7946-0002"), customer(3)]))

    run = upload(page)
    assert run.state == AudienceUpload.State.MATCHING
    wait_for(lambda: AudienceUpload.objects.get(pk=run.pk).state == "done", what="Meta's upload status")
    run.refresh_from_db()
    assert (run.statuses, run.matched_low, run.matched_high) == (1, 2, 2)
    matched = wait_for(
        lambda: list(Subscriber.objects.filter(page=page, source_ref="store-audience")), what="the import"
    )
    assert len(matched) == 2 and {s.psid for s in matched} == {""}
    assert all(s.status == "subscribed" and s.tokens.get().status == "active" for s in matched)
    consent = ConsentRecord.objects.filter(subscriber__in=matched)
    assert set(consent.values_list("entry_point", flat=True)) == {"matched from the shop's customers"}
    simulator.wait_webhooks_drained()

    # One of them unsubscribed here: Meta is told by their token, as it gave no PSID.
    subscriptions.unsubscribe(matched[0], source="admin")
    token = matched[0].tokens.get().token
    holder = next(p for p in people if token in [t["notification_messages_token"] for t in
                                                 simulator.person(p["psid"])["tokens"]])  # fmt: skip
    wait_for(lambda: simulator.person(holder["psid"])["tokens"][0]["stopped"], what="Meta's unsubscribe")


def test_customers_who_leave_are_removed_and_those_who_withdrew_unsubscribed(
    paid_page, simulator, register_plugin, upload
):
    simulator.configure(audience_match_seconds=0)
    contacts = [{"email": f"buyer{n}@shop.example"} for n in range(3)]
    people = simulator.create_people(paid_page.page_id, 3, subscribed=False, contacts=contacts)
    shop = register_plugin(Shop([customer(0), customer(1), customer(2)]))
    upload(paid_page)
    [audience] = simulator.audiences()
    assert audience["matched"] == 3

    shop.customers = [customer(0), customer(2, accepts_marketing=False)]  # 1 gone, 2 withdrew
    run = upload(paid_page)
    assert (run.uploaded, run.removed, run.no_consent) == (1, 2, 1)
    [audience] = simulator.audiences()
    assert (audience["matched"], audience["removed"]) == (1, 2)
    stopped = [simulator.person(p["psid"])["tokens"][0]["stopped"] for p in people]
    assert stopped == [False, False, True]  # removal keeps the opt-in; withdrawal unsubscribes
    assert AudienceMember.objects.filter(page=paid_page).count() == 1


def test_an_erased_customer_leaves_meta_and_is_never_uploaded_again(
    paid_page, simulator, register_plugin, upload, django_capture_on_commit_callbacks
):
    simulator.configure(audience_match_seconds=0)
    [ann] = simulator.create_people(
        paid_page.page_id, 1, subscribed=False, contacts=[{"email": "buyer7@shop.example"}]
    )
    register_plugin(Shop([customer(7)]))
    upload(paid_page)
    person = Subscriber.objects.create(page=paid_page, psid="123", status="subscribed", customer_ref="c-7")

    with django_capture_on_commit_callbacks(execute=True):
        erasure.erase(person, by="tester")
    [audience] = simulator.audiences()
    assert audience["removed"] == 1
    assert [t["stopped"] for t in simulator.person(ann["psid"])["tokens"]] == [True]
    member = AudienceMember.objects.get(page=paid_page)
    assert (member.erased, member.email_hash, member.phone_hash) == (True, "", "")

    again = upload(paid_page)
    assert (again.uploaded, again.invalid) == (0, {"erased": 1})


def test_the_row_builder_is_the_only_way_out(paid_page, simulator, register_plugin, upload):
    """A shop that gives odd values still sends hashes only: every value is a SHA-256 digest."""
    register_plugin(
        Shop([customer(1, email="  Mixed.Case@Shop.Example  ", first_name="Zoë", last_name="d'Arc")])
    )
    upload(paid_page)
    [audience] = simulator.audiences()
    [row] = simulator.audience(audience["audience_id"])["received"]
    assert row == [
        audiences.sha256("mixed.case@shop.example"),
        "",
        audiences.sha256("zoë"),
        audiences.sha256("darc"),
    ]


def test_the_admin_action_uploads_and_shows_what_was_not_sent(
    admin_client, paid_page, simulator, register_plugin, django_capture_on_commit_callbacks
):
    register_plugin(
        Shop([customer(1), customer(2, email="", phone=""), customer(3, accepts_marketing=False)])
    )
    page_url = f"/admin/messenger/pages/inspect/{paid_page.pk}/"
    assert 'data-testid="upload-customers"' in admin_client.get(page_url).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/messenger/pages/upload-customers/{paid_page.pk}/")
    assert response.status_code == 302 and response["Location"] == page_url
    html = admin_client.get(page_url).content.decode()
    assert 'data-state="matching"' in html
    assert "3 customers given by the shop: 1 uploaded, hashed, in 1 batches; 1 without marketing" in html
    assert "1: no e-mail and no phone" in html


def test_a_page_without_ad_account_is_not_offered_the_upload(admin_client, sim_page):
    html = admin_client.get(f"/admin/messenger/pages/inspect/{sim_page.pk}/").content.decode()
    assert 'data-testid="store-audience"' in html and 'data-testid="upload-customers"' not in html
    admin_client.post(f"/admin/messenger/pages/upload-customers/{sim_page.pk}/")
    assert not AudienceUpload.objects.exists()


def test_a_paid_campaign_reaches_the_people_meta_matched(
    paid_page, simulator, register_plugin, upload, django_capture_on_commit_callbacks
):
    simulator.configure(audience_match_seconds=0)
    contacts = [{"email": f"buyer{n}@shop.example"} for n in range(2)]
    people = simulator.create_people(paid_page.page_id, 2, subscribed=False, contacts=contacts)
    register_plugin(Shop([customer(0), customer(1)]))
    upload(paid_page)
    with django_capture_on_commit_callbacks(execute=True):  # the status webhook's work, by hand here
        meta_import.request(paid_page, by="tester")
    assert Subscriber.objects.filter(page=paid_page, psid="").count() == 2

    campaign = CampaignFactory(page=paid_page)
    broadcast.start(campaign)
    assert set(campaign.deliveries.values_list("state", flat=True)) == {"sent"}, campaign.last_error
    paid = [m for m in simulator.messages(paid_page.page_id) if m.get("via") == "marketing"]
    assert sorted(m["psid"] for m in paid) == sorted(p["psid"] for p in people)


def test_an_erased_matched_subscriber_is_not_imported_again_and_other_webhooks_stay(
    paid_page, simulator, register_plugin, upload, django_capture_on_commit_callbacks
):
    simulator.configure(audience_match_seconds=0)
    simulator.create_people(
        paid_page.page_id, 1, subscribed=False, contacts=[{"email": "buyer0@shop.example"}]
    )
    register_plugin(Shop([customer(0)]))
    upload(paid_page)
    with django_capture_on_commit_callbacks(execute=True):
        meta_import.request(paid_page, by="tester")
    matched = Subscriber.objects.get(page=paid_page, psid="")
    other = WebhookDelivery.objects.create(app=paid_page.app, body=b'{"object":"page"}')

    with django_capture_on_commit_callbacks(execute=True):
        erasure.erase(matched, by="tester")
    assert bytes(WebhookDelivery.objects.get(pk=other.pk).body) == b'{"object":"page"}'
    with django_capture_on_commit_callbacks(execute=True):
        run = meta_import.request(paid_page, by="tester")
    run.refresh_from_db()
    assert (run.imported, run.skipped) == (0, {"erased": 1})
    assert not Subscriber.objects.filter(page=paid_page).exists()


class BrokenShop:
    @hookimpl
    def store_customers(self, account):
        raise RuntimeError("the shop's database is down")


def test_a_failing_shop_fails_the_upload_with_why(paid_page, simulator, register_plugin, upload):
    register_plugin(BrokenShop())
    run = upload(paid_page)
    assert run.state == "failed" and "the shop's database is down" in run.error
    assert not simulator.audiences()


def test_an_upload_meta_refuses_fails_with_why(paid_page, simulator, register_plugin, upload):
    paid_page.ad_account_id = "act_999"  # one the business's token does not hold
    paid_page.save(update_fields=["ad_account_id"])
    register_plugin(Shop([customer(1)]))
    run = upload(paid_page)
    assert run.state == "failed" and run.error.startswith("Meta refused the upload")


def test_a_shop_returning_something_else_fails_the_upload(paid_page, register_plugin, upload):
    class Sloppy:
        @hookimpl
        def store_customers(self, account):
            return [{"customer_ref": "c-1", "email": "a@b.example"}]

    register_plugin(Sloppy())
    run = upload(paid_page)
    assert run.state == "failed" and "must return a list of onesend_plugin.hooks.StoreCustomer" in run.error
