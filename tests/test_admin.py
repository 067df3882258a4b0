"""The Messenger admin: inbox visible and read-only, secrets never shown."""

import json

import pytest

from onesend_plugin.models import MessengerPage, WebhookEvent

from . import payloads
from .factories import page_form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_event(post_webhook, page):
    post_webhook(
        page.app, payloads.body(payloads.entry(page.page_id, payloads.message(page.page_id, "42", "hi")))
    )
    return WebhookEvent.objects.get()


def test_inbox_lists_and_inspects_stored_events(admin_client, stored_event):
    listing = admin_client.get("/admin/messenger/inbox/")
    assert listing.status_code == 200
    assert b"42" in listing.content
    inspect = admin_client.get(f"/admin/messenger/inbox/inspect/{stored_event.pk}/")
    assert inspect.status_code == 200
    assert b"&quot;text&quot;: &quot;hi&quot;" in inspect.content or b'"text": "hi"' in inspect.content


def test_inbox_is_read_only_even_for_superusers(admin_client, stored_event):
    assert admin_client.get("/admin/messenger/inbox/new/").status_code in (302, 403)
    assert admin_client.get(f"/admin/messenger/inbox/edit/{stored_event.pk}/").status_code in (302, 403)
    response = admin_client.post(f"/admin/messenger/inbox/delete/{stored_event.pk}/")
    assert response.status_code in (302, 403)
    assert WebhookEvent.objects.filter(pk=stored_event.pk).exists()


def test_page_token_never_shown_and_kept_when_left_blank(admin_client, page):
    listing = admin_client.get("/admin/messenger/pages/")
    assert listing.status_code == 200
    assert page.access_token.encode() not in listing.content
    edit_url = f"/admin/messenger/pages/edit/{page.pk}/"
    form = admin_client.get(edit_url)
    assert form.status_code == 200
    assert page.access_token.encode() not in form.content
    data = page_form_data(
        account=page.account_id,
        app=page.app_id,
        page_id=page.page_id,
        name="Renamed",
        username=page.username,
        access_token="",
        offer_optin_without_ref="on",
    )
    response = admin_client.post(edit_url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = MessengerPage.objects.get(pk=page.pk)
    assert (saved.name, saved.access_token, saved.frequency_cap_hours) == ("Renamed", page.access_token, 48)
    assert json.dumps(saved.cooldown.total_seconds()) == "172800.0"
