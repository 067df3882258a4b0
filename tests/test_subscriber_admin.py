"""The subscribers admin: listing, filters, export, consent history, tags, and data-subject actions."""

import json
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from wagtail import hooks
from wagtail.models import ModelLogEntry

from onesend_plugin.models import ConsentRecord, MarketingToken, Membership, Subscriber
from onesend_plugin.subscribe import history

from .factories import ConsentRecordFactory, MarketingTokenFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

URL = "/admin/messenger/subscribers/"


@pytest.fixture
def subscriber(page):
    subscriber = SubscriberFactory(page=page, source_ref="footer", customer_ref="cust-42")
    subscriber.tags.add("vip", "footer")
    MarketingTokenFactory(subscriber=subscriber, token="SECRET-TOKEN-123")
    ConsentRecordFactory(subscriber=subscriber, entry_point="SHORTLINK", ref="footer")
    return subscriber


def erase_permission():
    """``onesend.erase_subscriber``, as the model's Meta.permissions migration creates it."""
    permission, _ = Permission.objects.get_or_create(
        codename="erase_subscriber",
        content_type=ContentType.objects.get_for_model(Subscriber),
        defaults={"name": "Can erase subscriber"},
    )
    return permission


@pytest.fixture
def editor(django_user_model, client, page):
    """A non-superuser who may view and edit subscribers (but not erase them)."""
    user = django_user_model.objects.create_user("editor", password="pw")
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["access_admin", "view_subscriber", "change_subscriber"])
    )
    # A client admin of the Page's account: what they may do there is up to their permissions.
    Membership.objects.create(user=user, account=page.account, role=Membership.Role.ADMIN)
    client.force_login(user)
    return user


def listed(response):
    return {row.instance.psid for row in response.context["table"].rows}


# -- Listing, filters, search, export --------------------------------------------------------------


def test_listing_shows_subscribers_and_a_summary_by_status(admin_client, subscriber):
    SubscriberFactory(page=subscriber.page, status=Subscriber.Status.UNSUBSCRIBED)
    response = admin_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert subscriber.label in html and "footer, vip" in html
    assert "Subscribed: 1" in html and "Unsubscribed: 1" in html
    assert "SECRET-TOKEN-123" not in html


def test_no_one_adds_or_plainly_deletes_subscribers(admin_client, subscriber):
    assert admin_client.get(f"{URL}new/").status_code in (302, 403)
    assert admin_client.post(f"{URL}delete/{subscriber.pk}/").status_code in (302, 403)
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()
    assert "Add subscriber" not in admin_client.get(URL).content.decode()


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"status": "unsubscribed"}, {"gone"}),
        ({"tag": "vip"}, {"tagged"}),
        ({"source_ref": "poster-1"}, {"gone"}),
        ({"opted_in_at_from": "2025-01-01", "opted_in_at_to": "2025-01-31"}, {"january"}),
        ({"q": "cust-7"}, {"tagged"}),
        ({"q": "poster"}, {"gone"}),
        ({"q": "jan"}, {"january"}),
    ],
)
def test_filters_and_search(admin_client, page, query, expected):
    SubscriberFactory(page=page, psid="tagged", customer_ref="cust-7").tags.add("vip")
    SubscriberFactory(page=page, psid="gone", status=Subscriber.Status.UNSUBSCRIBED, source_ref="poster-1")
    january = timezone.make_aware(timezone.datetime(2025, 1, 15, 12))
    SubscriberFactory(page=page, psid="january", opted_in_at=january)
    SubscriberFactory(psid="elsewhere")  # another Page
    response = admin_client.get(URL, query)
    assert response.status_code == 200
    assert listed(response) == expected
    assert "There is 1 match" in response.content.decode()  # the result count


def test_filter_by_page(admin_client, subscriber):
    SubscriberFactory(psid="elsewhere")
    assert listed(admin_client.get(URL, {"page": subscriber.page.pk})) == {subscriber.psid}


def test_csv_export_has_the_rows_and_never_tokens(admin_client, subscriber):
    SubscriberFactory(page=subscriber.page, psid="second")
    response = admin_client.get(URL, {"export": "csv"})
    assert response.status_code == 200
    csv = b"".join(response.streaming_content).decode()
    header, *rows = csv.strip().splitlines()
    assert header.startswith("First name,Last name,PSID,Page,Status,Tags,Source ref,Customer ref")
    assert len(rows) == 2
    assert any(
        row.startswith(f',,{subscriber.psid},{subscriber.page.name},subscribed,"footer, vip",footer,cust-42')
        for row in rows
    )
    assert "SECRET-TOKEN-123" not in csv


def test_xlsx_export_follows_the_filters(admin_client, subscriber):
    SubscriberFactory(page=subscriber.page, psid="gone", status=Subscriber.Status.UNSUBSCRIBED)
    response = admin_client.get(URL, {"export": "xlsx", "status": "subscribed"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert b"SECRET-TOKEN-123" not in b"".join(response.streaming_content)


# -- Inspect and tag editing -----------------------------------------------------------------------


def test_inspect_shows_topics_and_consent_history_in_words_never_tokens(admin_client, subscriber):
    ConsentRecordFactory(
        subscriber=subscriber,
        action=ConsentRecord.Action.OPTIN_REQUESTED,
        entry_point="GET_STARTED",
        ref="",
        shown={"title": "Weekly deals", "cta": "GET_UPDATES", "image_url": None, "message_id": "m_1"},
    )
    ConsentRecordFactory(
        subscriber=subscriber, action=ConsentRecord.Action.UNSUBSCRIBED, entry_point="quick_reply", ref=""
    )
    response = admin_client.get(f"{URL}inspect/{subscriber.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert subscriber.psid in html and "cust-42" in html  # the details
    history = [
        [cell.get_text(" ", strip=True) for cell in row.select("td")]
        for row in BeautifulSoup(html, "html.parser").select("#onesend-consent-heading ~ table tbody tr")
    ]
    assert [row[1:] for row in history] == [
        ["Unsubscribed", "The Unsubscribe quick reply", f"Topic “{subscriber.page.optin_title}”"],
        ["Opt-in request shown", "The Get Started button", "Topic “Weekly deals”; button “Get updates”"],
        ["Opted in", "An m.me link, link “footer”", f"Topic “{subscriber.page.optin_title}”"],
    ]
    assert "{" not in "".join(map(str, history)), "no raw JSON"
    assert "SECRET-TOKEN-123" not in html
    assert f"{URL}unsubscribe/{subscriber.pk}/" in html and f"{URL}erase/{subscriber.pk}/" in html


def test_a_topic_imported_from_meta_is_dated_when_the_person_opted_in_there(admin_client, subscriber):
    opted_in = timezone.now() - timedelta(days=270)
    subscriber.tokens.update(meta_created_at=opted_in)
    html = BeautifulSoup(admin_client.get(f"{URL}inspect/{subscriber.pk}/").content, "html.parser")
    topics = html.find("h2", string="Topics").find_next("table")
    assert "9\xa0months ago" in topics.get_text() or "8\xa0months ago" in topics.get_text()
    assert "Just now" not in topics.get_text()


def test_an_opt_in_reads_where_it_happened():
    """An opt-in's entry point is its link's source: it happened on the opt-in request, which the
    history says once, not as the source beside the same link."""
    optin = ConsentRecord(entry_point="updates-page", ref="updates-page", shown={"tags": ["vip"]})
    assert (history.where(optin), history.shown(optin)) == (
        "The opt-in request, link “updates-page”",
        "Tags vip",
    )
    assert history.where(ConsentRecord(entry_point="direct", ref="")) == "The opt-in request"


def test_tags_are_the_only_editable_field(admin_client, subscriber):
    url = f"{URL}edit/{subscriber.pk}/"
    assert list(admin_client.get(url).context["form"].fields) == ["tags"]
    response = admin_client.post(
        url, {"tags": "vip, black-friday", "psid": "hijacked", "status": "subscribed"}
    )
    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert sorted(subscriber.tags.names()) == ["black-friday", "vip"]
    assert subscriber.psid != "hijacked"


def test_the_tags_are_edited_beside_the_consent_history(admin_client, subscriber):
    html = admin_client.get(f"{URL}inspect/{subscriber.pk}/").content.decode()
    form = BeautifulSoup(html, "html.parser").select_one("[data-testid=tags-form]")
    assert form["action"] == f"{URL}edit/{subscriber.pk}/" and form.select_one("input[name=tags]")
    response = admin_client.post(form["action"], {"tags": "vip, roses"})
    assert response["Location"] == f"{URL}inspect/{subscriber.pk}/"
    assert sorted(subscriber.tags.names()) == ["roses", "vip"]


def test_people_are_listed_by_name_and_picture_or_by_where_and_when_they_came(admin_client, page):
    named = SubscriberFactory(
        page=page, first_name="Ann", last_name="Lee", profile_pic="https://pics.example/ann.jpg"
    )
    unnamed = SubscriberFactory(page=page, source_ref="poster", opted_in_at=timezone.now())
    soup = BeautifulSoup(admin_client.get(URL).content, "html.parser")
    cells = {cell.get_text(" ", strip=True): cell for cell in soup.select("table.listing tbody td.title")}
    assert set(cells) == {"Ann Lee", f"Subscriber via poster, {timezone.localtime():%d %b %Y}"}
    assert cells["Ann Lee"].select_one("img")["src"] == "https://pics.example/ann.jpg"
    assert cells["Ann Lee"].select_one("a")["href"] == f"{URL}inspect/{named.pk}/"
    assert named.psid not in soup.select_one("table.listing").get_text()
    assert unnamed.psid not in soup.select_one("table.listing").get_text()
    assert listed(admin_client.get(URL, {"q": "Ann"})) == {named.psid}


# -- Unsubscribe, export, erase --------------------------------------------------------------------


def test_unsubscribe_action(admin_client, admin_user, subscriber):
    url = f"{URL}unsubscribe/{subscriber.pk}/"
    assert admin_client.get(url).status_code == 405
    response = admin_client.post(url)
    assert response.status_code == 302 and response["Location"] == f"{URL}inspect/{subscriber.pk}/"
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert subscriber.tokens.get().status == MarketingToken.Status.STOPPED
    assert subscriber.consent_records.filter(action="unsubscribed", entry_point="admin").exists()
    entry = ModelLogEntry.objects.get(action="onesend.unsubscribe")
    assert (entry.object_id, entry.user) == (str(subscriber.pk), admin_user)
    assert (
        url not in admin_client.get(f"{URL}inspect/{subscriber.pk}/").content.decode()
    )  # nothing left to stop


def test_export_data_as_json(admin_client, subscriber):
    response = admin_client.get(f"{URL}export/{subscriber.pk}/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="subscriber-{subscriber.pk}.json"'
    data = json.loads(response.content)
    assert (data["psid"], data["tags"], data["customer_ref"]) == (
        subscriber.psid,
        ["footer", "vip"],
        "cust-42",
    )
    assert data["consent"][0]["entry_point"] == "SHORTLINK"
    assert data["topics"][0]["status"] == "active"
    assert b"SECRET-TOKEN-123" not in response.content


def test_erase_needs_the_erase_permission(client, editor, subscriber):
    url = f"{URL}erase/{subscriber.pk}/"
    inspect = client.get(f"{URL}inspect/{subscriber.pk}/")
    assert inspect.status_code == 200 and url not in inspect.content.decode()
    # Wagtail answers a denied page view with a redirect to the dashboard and an error message,
    # and a denied XHR with a bare 403.
    assert client.get(url)["Location"] == "/admin/"
    assert client.post(url)["Location"] == "/admin/"
    assert client.post(url, headers={"X-Requested-With": "XMLHttpRequest"}).status_code == 403
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()
    assert not ModelLogEntry.objects.filter(action="onesend.erase").exists()


def test_erase_with_the_permission_keeps_an_anonymous_consent_trail(client, editor, subscriber):
    editor.user_permissions.add(erase_permission())
    page, pk = subscriber.page, subscriber.pk
    client.post(f"{URL}unsubscribe/{pk}/")  # an earlier audit entry, titled with the PSID
    url = f"{URL}erase/{pk}/"
    confirmation = client.get(url)
    assert confirmation.status_code == 200 and "Yes, erase" in confirmation.content.decode()
    assert Subscriber.objects.filter(pk=pk).exists()  # nothing happens before confirming

    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == URL
    assert not Subscriber.objects.filter(pk=pk).exists()
    assert not MarketingToken.objects.exists()
    assert ConsentRecord.objects.filter(page=page, action="erased", subscriber=None).exists()
    assert ConsentRecord.objects.filter(page=page, action="opted_in", subscriber=None).exists()
    entry = ModelLogEntry.objects.get(action="onesend.erase")
    assert (entry.object_id, entry.user, entry.data) == (str(page.pk), editor, {"subscriber": pk})
    assert not ModelLogEntry.objects.filter(label__contains=subscriber.psid).exists()


def test_erase_permission_is_offered_in_group_settings(db):
    permission = erase_permission()
    registered = set()
    for fn in hooks.get_hooks("register_permissions"):
        registered.update(fn())
    assert permission in registered


def test_editor_sees_the_listing_but_cannot_export_tokens(client, editor, subscriber):
    response = client.get(URL, {"export": "csv"})
    assert response.status_code == 200
    assert "SECRET-TOKEN-123" not in b"".join(response.streaming_content).decode()


def test_opted_in_ranges_use_whole_days(admin_client, page):
    now = timezone.now()
    SubscriberFactory(page=page, psid="today", opted_in_at=now)
    SubscriberFactory(page=page, psid="last-week", opted_in_at=now - timedelta(days=7))
    today = timezone.localdate().isoformat()
    assert listed(admin_client.get(URL, {"opted_in_at_from": today, "opted_in_at_to": today})) == {"today"}


def test_inspect_reads_unset_fields_as_a_dash_never_none(admin_client, subscriber):
    """A person never unsubscribed and never sent a marketing message: those fields read "—"."""
    Subscriber.objects.filter(pk=subscriber.pk).update(unsubscribed_at=None, last_marketing_at=None)
    response = admin_client.get(f"{URL}inspect/{subscriber.pk}/")
    details = BeautifulSoup(response.content, "html.parser").select_one("dl, .w-dl, main").get_text(" ")
    assert "None" not in details
    assert "—" in details
