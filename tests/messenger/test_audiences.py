"""Customers' contacts as Meta's Custom Audience upload wants them (reference
``meta-paid-marketing-api.md`` §7.1): normalised, SHA-256 hashed, every row with an e-mail or a
phone; the bodies and the client calls against the simulator; the upload-status webhook (§5.2)."""

from __future__ import annotations

import hashlib

import pytest
from onesend_simulator.remote import wait_for

from onesend_plugin.messenger import audiences
from onesend_plugin.messenger.audience_events import UploadStatusEvent
from onesend_plugin.messenger.client import GraphClient
from onesend_plugin.messenger.events import parse_payload


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  Ann@Example.COM ", "ann@example.com"),
        ("ann", None),
        ("ann@example", None),
        ("a b@example.com", None),
    ],
)
def test_an_email_is_trimmed_and_lowercased(raw, normal):
    assert audiences.normal_email(raw) == normal


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("+84 912-345678", "84912345678"),
        ("(+84) 912 345 678", "84912345678"),
        ("0044 20 7946 0000", "442079460000"),
        ("020 7946 0000", None),  # no country code: Meta would not know the country
        ("+1 555", None),
        ("+1234567890123456", None),  # more digits than E.164 allows
    ],
)
def test_a_phone_keeps_its_digits_with_the_country_code(raw, normal):
    assert audiences.normal_phone(raw) == normal


def test_a_row_is_hashed_or_says_why_not():
    row = audiences.hashed_row(email="Ann@example.com ", first_name="Anne-Marie", last_name="O'Neil")
    assert row == [sha("ann@example.com"), "", sha("annemarie"), sha("oneil")]
    assert audiences.hashed_row(phone="+44 20 7946 0000")[1] == sha("442079460000")
    assert audiences.hashed_row(first_name="Ann") == audiences.NO_CONTACT
    assert audiences.hashed_row(email="nope", phone="+44 20 7946 0000") == audiences.BAD_EMAIL
    assert audiences.hashed_row(email="ann@example.com", phone="12") == audiences.BAD_PHONE


def test_the_kept_hashes_make_a_row_that_names_the_person_again():
    row = audiences.hashed_row("ann@example.com", "+44 20 7946 0000", "Ann", "Lee")
    email, phone = audiences.kept_hashes(row)
    assert (email, phone) == (sha("ann@example.com"), sha("442079460000"))
    assert audiences.row_from_hashes(email, phone) == [email, phone, "", ""]


def test_rows_are_cut_into_requests_of_at_most_ten_thousand():
    rows = list(range(20_001))
    assert [len(batch) for batch in audiences.batches(rows)] == [10_000, 10_000, 1]
    assert audiences.batches([]) == []


def test_an_upload_takes_one_to_ten_thousand_rows():
    with pytest.raises(ValueError):
        audiences.users_body([])
    with pytest.raises(ValueError):
        audiences.users_body([["", "", "", ""]] * 10_001)
    session = audiences.Session.new(12_000).of_batch(2, last=True)
    body = audiences.users_body([["a", "", "", ""]], session)
    assert body["payload"]["schema"] == ["EMAIL", "PHONE", "FN", "LN"]
    assert body["session"] == {
        **session,
        "batch_seq": 2,
        "last_batch_flag": True,
        "estimated_num_total": 12_000,
    }


def test_the_calls_make_an_audience_upload_remove_and_unsubscribe(simulator, simulator_page):
    page_id = simulator_page["page_id"]
    [ann] = simulator.create_people(page_id, 1, subscribed=False, contacts=[{"email": "ann@example.com"}])
    client = GraphClient(simulator_page["access_token"], base_url=simulator.base_url)
    audience_id = client.create_custom_audience(
        ad_account_id="act_42", page_id=page_id, name="Shop", description="Customers"
    )
    rows = [audiences.hashed_row(email="ann@example.com"), audiences.hashed_row(email="bob@example.com")]
    session = audiences.Session.new(2).of_batch(1, last=True)
    result = client.add_audience_users(audience_id=audience_id, rows=rows, session=session)
    assert (result.received, result.invalid, result.session_id) == (2, 0, str(session["session_id"]))
    wait_for(lambda: simulator.person(ann["psid"])["tokens"], what="Meta's match")
    assert client.remove_audience_users(audience_id=audience_id, rows=rows[:1]).received == 1
    assert client.unsubscribe_contacts(page_id=page_id, rows=rows[:1]) == 0
    assert [t["stopped"] for t in simulator.person(ann["psid"])["tokens"]] == [True]


@pytest.mark.parametrize("envelope", ["changes", "messaging"])
def test_the_upload_status_webhook_is_read_in_either_envelope(envelope):
    body = {
        "app_id": 1, "page_id": 77, "custom_audience_id": 2380000000000001, "ad_account_id": 42,
        "timestamp": 1_700_000_000_000, "num_rows": 1000, "business_id": 2,
        "approximate_count_lower_bound": 105, "approximate_count_upper_bound": 120,
        "batch_uploading_status": "SUCCESS",
    }  # fmt: skip
    field = audiences_field = "marketing_messages_subscriber_upload_status"
    item = {"field": field, "value": body} if envelope == "changes" else {"field": audiences_field, **body}
    [event] = parse_payload({"object": "page", "entry": [{"id": "77", "time": 1, envelope: [item]}]})
    assert isinstance(event, UploadStatusEvent)
    assert (event.kind, event.page_id, event.audience_id, event.rows) == (
        "audience_upload", "77", "2380000000000001", 1000
    )  # fmt: skip
    assert (event.matched_low, event.matched_high, event.status) == (105, 120, "SUCCESS")
