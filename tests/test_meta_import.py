"""Importing the subscribers Meta already holds for a Page, and reconciling their tokens with
Meta's list, against the simulator's ``notification_message_tokens`` over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from onesend_plugin import tasks
from onesend_plugin.accounts.groups import ensure_client_group
from onesend_plugin.messenger import client as graph_client
from onesend_plugin.messenger import responses
from onesend_plugin.models import ConsentRecord, MarketingToken, Membership, Subscriber, TokenImport
from onesend_plugin.subscribe import erasure, meta_import, profiles, subscriptions

#: When the seeded people opted in at Meta, through the tool the business is leaving.
OPTED_IN = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
OPTED_IN_MS = int(OPTED_IN.timestamp() * 1000)


@pytest.fixture
def sync(django_capture_on_commit_callbacks, monkeypatch):
    """``sync(page, kind)``: ask for a pass and let the (synchronous) worker make it. The profiles
    asked after an import are left out (the synchronous worker would ask 10,000 of them inline):
    the admin action's test sees the imported people named."""
    monkeypatch.setattr(tasks, "ask_profiles", lambda page_pk: 0)

    def make(page, kind=TokenImport.Kind.IMPORT):
        with django_capture_on_commit_callbacks(execute=True):
            run = meta_import.request(page, kind, by="tester")
        assert run is not None
        run.refresh_from_db()
        return run

    return make


@pytest.fixture
def pages_read(monkeypatch):
    """How many pages of Meta's token list were read."""
    read = []
    real = graph_client.token_page
    monkeypatch.setattr(graph_client, "token_page", lambda body: read.append(1) or real(body))
    return read


@pytest.mark.slow
def test_ten_thousand_tokens_are_imported_page_by_page_and_a_rerun_changes_nothing(
    sim_page, simulator, sync, pages_read
):
    people = simulator.create_people(sim_page.page_id, 10_000, title="Deals", at_ms=OPTED_IN_MS)
    run = sync(sim_page)
    assert (run.state, run.listed, run.imported, run.updated, run.skipped) == ("done", 10_000, 10_000, 0, {})
    assert len(pages_read) == 10  # Meta's largest page is 1000 tokens

    assert Subscriber.objects.filter(page=sim_page, status=Subscriber.Status.SUBSCRIBED).count() == 10_000
    person = Subscriber.objects.get(page=sim_page, psid=people[0]["psid"])
    assert (person.source_ref, person.opted_in_at, person.timezone) == ("meta-import", OPTED_IN, "UTC")
    token = person.tokens.get()
    assert (token.token, token.topic, token.status) == (people[0]["token"], "Deals", "active")
    assert (token.meta_created_at, token.meta_status) == (OPTED_IN, "NOT_REFRESHED")
    consent = person.consent_records.get()
    assert (consent.action, consent.entry_point, consent.at) == ("opted_in", "imported from Meta", OPTED_IN)
    assert consent.shown["token_created_at"] == OPTED_IN.isoformat()
    assert consent.shown["page_id"] == sim_page.page_id and "tester" in consent.detail

    again = sync(sim_page)
    assert (again.listed, again.imported, again.updated, again.unchanged) == (10_000, 0, 0, 10_000)
    assert MarketingToken.objects.filter(subscriber__page=sim_page).count() == 10_000
    assert ConsentRecord.objects.filter(page=sim_page).count() == 10_000


def test_a_known_token_is_updated_never_duplicated(sim_page, simulator, sync):
    (person,) = simulator.create_people(sim_page.page_id, 1, title="Deals", at_ms=OPTED_IN_MS)
    subscriber = Subscriber.objects.create(page=sim_page, psid=person["psid"], status="subscribed")
    MarketingToken.objects.create(subscriber=subscriber, token=person["token"], topic="Deals")

    run = sync(sim_page)
    assert (run.imported, run.updated) == (0, 1)
    token = subscriber.tokens.get()
    assert (token.meta_created_at, token.meta_status) == (OPTED_IN, "NOT_REFRESHED")
    assert not subscriber.consent_records.exists()  # their consent was recorded when they gave it


def test_consent_withdrawn_here_stays_withdrawn(sim_page, simulator, sync, sent):
    left, stopped, kept = simulator.create_people(sim_page.page_id, 3, title="Deals")
    sync(sim_page)
    gone = Subscriber.objects.get(psid=left["psid"])
    subscriptions.unsubscribe(gone, source="keyword")
    topic = Subscriber.objects.get(psid=stopped["psid"])
    MarketingToken.objects.filter(subscriber=topic).update(status=MarketingToken.Status.STOPPED)
    # a person we only know as unsubscribed, whose token Meta lists: not brought back either
    (known,) = simulator.create_people(sim_page.page_id, 1, title="Deals")
    Subscriber.objects.create(page=sim_page, psid=known["psid"], status=Subscriber.Status.UNSUBSCRIBED)

    run = sync(sim_page)
    assert run.skipped == {"unsubscribed": 2, "stopped": 1} and run.unchanged == 1
    gone.refresh_from_db()
    assert gone.status == Subscriber.Status.UNSUBSCRIBED
    assert gone.tokens.get().status == MarketingToken.Status.STOPPED
    assert not Subscriber.objects.get(psid=known["psid"]).tokens.exists()
    assert Subscriber.objects.get(psid=kept["psid"]).status == Subscriber.Status.SUBSCRIBED


def test_a_person_erased_here_is_not_imported_again(sim_page, simulator, sync):
    erased, kept = simulator.create_people(sim_page.page_id, 2)
    sync(sim_page)
    erasure.erase(Subscriber.objects.get(psid=erased["psid"]), by="the person")

    run = sync(sim_page)
    assert run.skipped == {"erased": 1} and run.unchanged == 1
    assert not Subscriber.objects.filter(psid=erased["psid"]).exists()
    erased_record = ConsentRecord.objects.get(action=ConsentRecord.Action.ERASED)
    assert erased["psid"] not in erased_record.person_key


def test_custom_audience_tokens_without_a_psid_are_skipped_with_why(page):
    # Meta lists a Custom Audience's tokens without recipient_id (Get subscription tokens)
    (info,) = responses.token_page({"data": [{"notification_messages_token": "CA1", "topic_title": "T"}]})
    counts = meta_import._store(page, [info], timezone.now(), TokenImport.objects.create(page=page))
    assert counts == {"listed": 1, "no_psid": 1}
    assert not MarketingToken.objects.exists() and not Subscriber.objects.exists()


@pytest.mark.parametrize(
    "item, problem",
    [
        ("T1", "is not an object"),
        ({"recipient_id": "1"}, "has no notification_messages_token"),
        ({"notification_messages_token": ""}, "has no notification_messages_token"),
        ({"notification_messages_token": "T", "recipient_id": {}}, "recipient_id that is not an id"),
        ({"notification_messages_token": "T", "topic_title": 5}, "topic_title that is not a string"),
        ({"notification_messages_token": "T", "creation_timestamp": "soon"}, "creation_timestamp that is"),
    ],
)
def test_a_page_not_as_meta_documents_it_is_refused_whole(item, problem):
    good = {"notification_messages_token": "T0", "recipient_id": "1"}
    with pytest.raises(responses.MalformedAnswer) as caught:
        responses.token_page({"data": [good, item]})
    assert "item 2 of the page" in caught.value.message and problem in caught.value.message
    with pytest.raises(responses.MalformedAnswer, match="no 'data' list"):
        responses.token_page({"paging": {}})


def test_a_malformed_page_stops_the_pass_clearly_and_a_rerun_finishes_it(sim_page, simulator, sync):
    simulator.create_people(sim_page.page_id, 2500)
    simulator.configure(malformed_token_page=2)
    failed = sync(sim_page)
    assert failed.state == TokenImport.State.FAILED
    assert "item 1 of the page has no notification_messages_token" in failed.error
    assert "running it again is safe" in failed.error
    assert (failed.listed, failed.imported, failed.expired) == (1000, 1000, 0)
    assert MarketingToken.objects.filter(subscriber__page=sim_page).count() == 1000

    simulator.configure(malformed_token_page=0)
    done = sync(sim_page)
    assert (done.state, done.imported, done.unchanged) == ("done", 1500, 1000)
    assert MarketingToken.objects.filter(subscriber__page=sim_page).count() == 2500


def test_reconciliation_expires_the_tokens_meta_no_longer_lists(sim_page, simulator, sync, settings):
    settings.ONESEND = {**settings.ONESEND, "TOKEN_RECONCILE_HOURS": 24}
    simulator.create_people(sim_page.page_id, 50)
    sync(sim_page)
    dropped = simulator.drop_tokens(sim_page.page_id, count=5)
    simulator.create_people(sim_page.page_id, 2)  # new at Meta: a reconciliation imports nobody

    assert meta_import.queue_reconciliations() == 0  # imported less than a day ago
    TokenImport.objects.update(created_at=timezone.now() - timedelta(hours=25))
    before = timezone.now()
    assert meta_import.queue_reconciliations() == 1
    run = TokenImport.objects.latest()
    meta_import.run(run.pk)  # the worker (queued on commit by the tick)
    run.refresh_from_db()
    assert (run.kind, run.state, run.expired, run.unchanged) == ("reconcile", "done", 5, 45)
    assert run.skipped == {"new": 2}

    expired = MarketingToken.objects.filter(status=MarketingToken.Status.EXPIRED)
    assert sorted(expired.values_list("token", flat=True)) == sorted(dropped)
    assert all(before <= token.unlisted_at <= timezone.now() for token in expired)
    assert MarketingToken.objects.filter(status="active").count() == 45
    assert meta_import.queue_reconciliations() == 0  # not again for a day


def test_a_client_who_may_not_import_is_told_who_can(client, django_user_model, sim_page):
    user = django_user_model.objects.create_user("florist", password="pw")
    user.groups.add(ensure_client_group())
    Membership.objects.create(user=user, account=sim_page.account, role=Membership.Role.ADMIN)
    client.force_login(user)
    html = client.get(f"/admin/messenger/pages/inspect/{sim_page.pk}/").content.decode()
    assert 'data-testid="import-tokens"' not in html
    assert 'data-testid="import-tokens-who"' in html and "your agency" in html


def test_pages_never_imported_are_not_reconciled(sim_page, simulator):
    simulator.create_people(sim_page.page_id, 3)
    assert meta_import.queue_reconciliations() == 0
    assert not TokenImport.objects.exists()


def test_the_admin_action_imports_and_shows_the_result(
    admin_client, sim_page, simulator, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(profiles, "PER_TASK", 1)  # a task per profile: the next one is queued
    simulator.create_people(sim_page.page_id, 3, names=["Ada Lovelace", "Grace Hopper", "Alan Turing"])
    page_url = f"/admin/messenger/pages/inspect/{sim_page.pk}/"
    assert 'data-testid="import-tokens"' in admin_client.get(page_url).content.decode()
    Subscriber.objects.create(
        page=sim_page, psid=simulator.people(sim_page.page_id)[0]["psid"], status="unsubscribed"
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/messenger/pages/import-tokens/{sim_page.pk}/")
    assert response.status_code == 302 and response["Location"] == page_url
    html = admin_client.get(page_url).content.decode()
    assert 'data-state="done"' in html
    assert "3 listed by Meta: 2 imported, 0 updated, 0 already up to date, 1 skipped" in html
    assert "1: unsubscribed here: consent they withdrew stays withdrawn" in html
    # The people imported are listed by the names Meta's profiles give them, never by PSID.
    listing = admin_client.get("/admin/messenger/subscribers/").content.decode()
    assert "Grace Hopper" in listing and "Alan Turing" in listing and "via meta-import" not in listing
