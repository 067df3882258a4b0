"""Sending a campaign from the admin: the send actions (guarded by ``send_campaign``), the
confirmations, test sends, the progress page and its live endpoint, and what they register
with Wagtail. Editing is in ``tests/test_campaign_editing.py``."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Permission
from django.utils import timezone
from wagtail import hooks
from wagtail.models import ModelLogEntry

from onesend_plugin import broadcast
from onesend_plugin.messenger.errors import GraphError
from onesend_plugin.models import Campaign, Subscriber

from .campaign_admin_helpers import URL, editor_with, messages_of, subscribed
from .factories import SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender(django_user_model, client, page):
    return editor_with(django_user_model, client, page, "send_campaign")


# -- Sending and progress page ------------------------------------------------------------------------------


@pytest.fixture
def engine(monkeypatch):
    """Records the engine actions the admin calls, with the user who asked."""
    calls = []

    def record(name, result=None, status=None):
        def action(campaign, *args, user=None, **kwargs):
            calls.append((name, campaign.pk, *args, user.username))
            if status:
                campaign.status = status
            return result

        monkeypatch.setattr(broadcast, name, action)

    record("start", status=Campaign.Status.RUNNING)
    for name in ("pause", "resume", "cancel"):
        record(name)
    record("retry_unknown", result=2)
    record("send_test", result="m_1")
    return calls


def test_progress_page_shows_actions_to_a_sender(client, sender, campaign):
    response = client.get(f"{URL}inspect/{campaign.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{URL}send/{campaign.pk}/"' in html and "Send now" in html
    assert f'action="{URL}send_test/{campaign.pk}/"' in html
    assert f'data-onesend-progress="{URL}progress/{campaign.pk}/"' in html
    assert 'id="onesend-progress-data"' in html and "campaign-progress.js" in html


def test_a_drafts_progress_page_counts_its_audience_as_the_confirmation_does(client, sender, campaign):
    subscribed(campaign.page, 6)
    soup = BeautifulSoup(client.get(f"{URL}inspect/{campaign.pk}/").content, "html.parser")
    assert soup.select_one("[data-testid=audience-now]").get_text(strip=True) == "6 would receive it now"
    assert not soup.select("[data-testid=report-link]"), "nothing to report before it is sent"
    settings = [dt.get_text(strip=True) for dt in soup.select("main dl:not(.onesend-counts) dt")]
    assert "Page" in settings and "Send at" not in settings and "Expires at" not in settings
    assert not soup.select(".help-critical:not([hidden])"), "nothing for 'Go to the first error' to find"


def test_a_sent_campaigns_page_links_to_its_report_and_shows_no_rate_once_finished(client, sender, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.FINISHED, started_at=timezone.now(), finished_at=timezone.now()
    )
    soup = BeautifulSoup(client.get(f"{URL}inspect/{campaign.pk}/").content, "html.parser")
    link = soup.select_one("[data-testid=report-link]")
    assert link["href"] == f"/admin/messenger/reports/campaign/{campaign.pk}/"
    assert "Campaign performance" in link.get_text()
    assert soup.select_one("[data-shown-if=rate_per_second]").has_attr("hidden")


def test_editor_without_send_permission_sees_no_actions_and_cannot_send(client, editor, campaign, engine):
    html = client.get(f"{URL}inspect/{campaign.pk}/").content.decode()
    assert f"{URL}send/" not in html and f"{URL}send_test/" not in html
    assert f'data-onesend-progress="{URL}progress/{campaign.pk}/"' in html  # progress is not a secret
    for name in ("send", "pause", "resume", "cancel", "retry_unknown", "send_test"):
        response = client.post(f"{URL}{name}/{campaign.pk}/")
        assert response["Location"] == "/admin/", name  # Wagtail's answer to PermissionDenied
    assert client.get(f"{URL}send/{campaign.pk}/")["Location"] == "/admin/"
    assert engine == []


def test_send_now_confirms_with_the_audience_then_starts(client, sender, campaign, engine):
    subscribed(campaign.page, 3)
    confirmation = client.get(f"{URL}send/{campaign.pk}/")
    html = confirmation.content.decode()
    assert f"3 subscribers of {campaign.page.name} would receive it now." in html
    assert "Now." in html and "Yes, send it now" in html
    assert engine == []  # nothing happens before confirming

    response = client.post(f"{URL}send/{campaign.pk}/", follow=True)
    assert response.redirect_chain[0][0] == f"{URL}inspect/{campaign.pk}/"
    assert engine == [("start", campaign.pk, "editor")]
    assert "Sending started." in messages_of(response)


def test_send_now_says_who_the_frequency_cap_skips_as_the_report_will(client, sender, campaign):
    """Someone messaged an hour ago is in the audience but is skipped when it goes out: the
    confirm step says so, in the report's words, rather than counting them as reached."""
    [recent, *_] = subscribed(campaign.page, 3)
    Subscriber.objects.filter(pk=recent.pk).update(last_marketing_at=timezone.now() - timedelta(hours=1))
    hours = round(campaign.page.cooldown.total_seconds() / 3600)
    html = BeautifulSoup(client.get(f"{URL}send/{campaign.pk}/").content, "html.parser")
    audience = html.find("dt", string="Audience").find_next("dd")
    assert " ".join(audience.text.split()) == (
        f"3 subscribers of {campaign.page.name} are in its audience: 1 of them — Skipped: Got a marketing "
        f"message too recently (one marketing message per person per {hours} h); 2 would receive it now."
    )
    Subscriber.objects.filter(pk=recent.pk).update(
        last_marketing_at=timezone.now() - timedelta(hours=hours + 1)
    )
    assert b'data-testid="in-cooldown"' not in client.get(f"{URL}send/{campaign.pk}/").content


def test_schedule_confirmation_states_the_time(client, sender, campaign):
    campaign.schedule, campaign.send_at = Campaign.Schedule.LOCAL, timezone.now() + timedelta(days=2)
    campaign.save()
    html = client.get(f"{URL}send/{campaign.pk}/").content.decode()
    assert "in each subscriber's own timezone." in html and "Yes, schedule it" in html


def test_a_time_already_past_confirms_as_send_now(client, sender, campaign, engine):
    subscribed(campaign.page)
    campaign.schedule, campaign.send_at = Campaign.Schedule.AT, timezone.now() - timedelta(hours=1)
    campaign.save()
    html = client.get(f"{URL}send/{campaign.pk}/").content.decode()
    assert "Yes, send it now" in html and "Yes, schedule it" not in html
    assert "has passed: it is sent now." in html and "<title>Send now" in html


def test_an_audience_all_in_its_frequency_cap_is_not_offered_the_send_button(client, sender, campaign):
    """'0 would receive it now' must not be followed by 'Yes, send it now': everyone is skipped."""
    subscribed(campaign.page, 3, last_marketing_at=timezone.now())
    html = client.get(f"{URL}send/{campaign.pk}/").content.decode()
    assert "Yes, send it now" not in html
    assert "Nobody would receive it now: each of them got a marketing message in the last 48 h." in html


def test_an_empty_audience_cannot_start_and_the_confirmation_says_why(client, sender, campaign, engine):
    html = client.get(f"{URL}send/{campaign.pk}/").content.decode()
    assert "Nobody would receive it" in html and "Yes, send it now" not in html
    campaign.schedule, campaign.send_at = Campaign.Schedule.AT, timezone.now() + timedelta(days=1)
    campaign.save()
    html = client.get(f"{URL}send/{campaign.pk}/").content.decode()
    assert "Yes, schedule it" in html, "a scheduled campaign's audience is counted when it starts"


def test_engine_refusals_are_shown_as_errors(client, sender, campaign, monkeypatch):
    def refuse(campaign, *, user=None):
        raise broadcast.CampaignError("Publish the campaign before sending it.")

    monkeypatch.setattr(broadcast, "start", refuse)
    response = client.post(f"{URL}send/{campaign.pk}/", follow=True)
    assert messages_of(response) == ["Publish the campaign before sending it."]


@pytest.mark.parametrize(
    "name, status, message",
    [
        ("pause", Campaign.Status.RUNNING, "Paused."),
        ("resume", Campaign.Status.PAUSED, "Resumed."),
        ("cancel", Campaign.Status.RUNNING, "Cancelled."),
        ("retry_unknown", Campaign.Status.FINISHED, "2 messages queued again."),
    ],
)
def test_actions_call_the_engine(client, sender, campaign, engine, name, status, message):
    campaign.status = status
    campaign.save()
    response = client.post(f"{URL}{name}/{campaign.pk}/", follow=True)
    assert engine == [(name, campaign.pk, "editor")]
    assert messages_of(response)[0].startswith(message)


def test_only_cancel_and_retry_have_confirmation_pages(client, sender, campaign):
    assert "Yes, cancel it" in client.get(f"{URL}cancel/{campaign.pk}/").content.decode()
    assert "Yes, retry them" in client.get(f"{URL}retry_unknown/{campaign.pk}/").content.decode()
    assert client.get(f"{URL}pause/{campaign.pk}/").status_code == 405


def test_buttons_follow_the_status(client, sender, campaign, progress):
    def actions():
        return [name for name, _url in client.get(f"{URL}inspect/{campaign.pk}/").context["actions"]]

    campaign.status = Campaign.Status.RUNNING
    campaign.save()
    assert actions() == ["pause", "cancel"]
    progress[campaign.pk] = {"unknown": 1}
    campaign.status = Campaign.Status.FINISHED
    campaign.save()
    assert actions() == ["retry_unknown"]
    progress[campaign.pk] = {}
    campaign.status, campaign.live = Campaign.Status.DRAFT, False
    campaign.save()
    assert actions() == []  # publish first


def test_real_engine_pause_and_cancel_are_in_the_history(client, sender, campaign):
    campaign.status = Campaign.Status.RUNNING
    campaign.save()
    client.post(f"{URL}pause/{campaign.pk}/")
    client.post(f"{URL}cancel/{campaign.pk}/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert list(ModelLogEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "onesend.campaign.pause",
        "onesend.campaign.cancel",
    ]
    history = client.get(f"{URL}history/{campaign.pk}/").content.decode()
    assert "Paused" in history and "Cancelled" in history


def test_send_test_to_a_subscriber_of_the_page(client, sender, campaign, engine):
    person = subscribed(campaign.page, 1, first_name="Ann", last_name="Lee")[0]
    unnamed = subscribed(campaign.page, 1, source_ref="poster")[0]
    soup = BeautifulSoup(client.get(f"{URL}send_test/{campaign.pk}/").content, "html.parser")
    offered = [option.get_text() for option in soup.select("select[name=subscriber] option")]
    assert sorted(offered[1:]) == sorted(["Ann Lee", unnamed.label]) and unnamed.label.startswith(
        "Subscriber via poster, "
    )
    assert person.psid not in soup.get_text(), "a PSID is a detail of the subscriber's own page"

    response = client.post(f"{URL}send_test/{campaign.pk}/", {"subscriber": person.psid}, follow=True)
    assert engine == [("send_test", campaign.pk, person, "editor")]
    assert messages_of(response) == ["Test sent to Ann Lee."]


def test_send_test_offers_no_subscriber_without_a_psid(client, sender, campaign):
    """People Meta matched from the shop's audience have no PSID: as a choice, their empty value
    would read as no choice at all."""
    subscribed(campaign.page, 1, psid="", source_ref="store-audience")
    soup = BeautifulSoup(client.get(f"{URL}send_test/{campaign.pk}/").content, "html.parser")
    assert [option["value"] for option in soup.select("select[name=subscriber] option")] == [""]


def test_send_test_rejects_strangers_and_shows_meta_errors(client, sender, campaign, monkeypatch):
    elsewhere = SubscriberFactory()  # another Page's subscriber
    response = client.post(f"{URL}send_test/{campaign.pk}/", {"subscriber": elsewhere.psid})
    assert response.status_code == 200
    assert "Choose a subscriber of this Page." in response.content.decode()

    def fail(campaign, subscriber, *, user=None, variant="a"):
        raise GraphError(code=10, message="This message is sent outside of allowed window.")

    monkeypatch.setattr(broadcast, "send_test", fail)
    person = subscribed(campaign.page, 1)[0]
    response = client.post(f"{URL}send_test/{campaign.pk}/", {"subscriber": person.psid}, follow=True)
    [message] = messages_of(response)
    assert message.startswith("The test was not sent:") and "outside of allowed window" in message


def test_progress_endpoint_returns_the_engines_progress(client, editor, campaign, progress):
    until = timezone.now() + timedelta(minutes=5)
    progress[campaign.pk] = {
        "sent": 3,
        "skipped": {"frequency_cap": 2},
        "throttled_until": until,
        "eta_seconds": 1.5,
    }
    data = client.get(f"{URL}progress/{campaign.pk}/").json()
    assert data == {
        **broadcast.progress(campaign),
        "throttled_until": until.isoformat().replace("+00:00", "Z")[:23] + "Z",
    }


def test_progress_endpoint_with_the_real_engine(client, editor, campaign):
    data = client.get(f"{URL}progress/{campaign.pk}/").json()
    assert (data["status"], data["sent"], data["percent"]) == ("draft", 0, 0.0)


def test_progress_endpoint_needs_admin_access(client, campaign):
    assert client.get(f"{URL}progress/{campaign.pk}/").status_code == 302  # to the login page


# -- Registrations ---------------------------------------------------------------------------------------------


def test_send_permission_is_offered_in_group_settings(db):
    registered = set()
    for fn in hooks.get_hooks("register_permissions"):
        registered.update(fn())
    assert Permission.objects.get(codename="send_campaign") in registered


def test_engine_log_actions_are_registered(campaign, admin_user):
    from wagtail.log_actions import log

    for action, data, message in [
        ("onesend.campaign.start", {}, "Sending started"),
        ("onesend.campaign.schedule", {}, "Scheduled"),
        ("onesend.campaign.pause", {"reason": "error rate"}, "Paused: error rate"),
        ("onesend.campaign.resume", {}, "Resumed"),
        ("onesend.campaign.cancel", {}, "Cancelled"),
        ("onesend.campaign.retry_unknown", {"count": 3}, "3 messages of unknown fate queued again"),
        ("onesend.campaign.send_test", {"subscriber": 7}, "Test sent to subscriber 7"),
    ]:
        entry = log(campaign, action, user=admin_user, data=data)
        assert entry.message == message
