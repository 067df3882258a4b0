"""A Page added by hand ("Add" with its token) is connected as "Connect a Facebook Page" connects
one: the app is subscribed to its webhook fields once it is saved; the health panel subscribes it
again in one click when Meta sends its webhooks nowhere."""

import pytest
import requests
from django.contrib.messages import get_messages

from onesend_plugin.accounts import onboarding
from onesend_plugin.models import MessengerPage

from .factories import AccountFactory, MessengerPageFactory, MetaAppFactory, page_form_data

pytestmark = pytest.mark.django_db

PAGE_ID = "2000000000000009"
ADD, INSPECT = "/admin/messenger/pages/new/", "/admin/messenger/pages/inspect/{}/"


@pytest.fixture
def app(simulator, settings):
    settings.ONESEND = {**settings.ONESEND, "GRAPH_API_BASE_URL": simulator.base_url}
    app = MetaAppFactory()
    simulator.configure(app_secret=app.app_secret)
    simulator.create_page(  # as on Meta: no app gets the new Page's webhooks yet
        page_id=PAGE_ID, name="Corner Shop", access_token="EAA-shop", app_id=app.app_id, subscribed_fields=[]
    )
    return app


def page_form(app, **fields):
    return page_form_data(
        **{
            "account": AccountFactory().pk,
            "app": app.pk,
            "page_id": PAGE_ID,
            "name": "Corner Shop",
            "username": "cornershop",
            "access_token": "EAA-shop",
            **fields,
        }
    )


def subscribed_fields(simulator, app):
    """The webhook fields Meta sends the app for the Page (None: not subscribed)."""
    answer = requests.get(
        simulator.graph_url(f"{PAGE_ID}/subscribed_apps"), params={"access_token": "EAA-shop"}
    )
    apps = {entry["id"]: entry for entry in answer.json()["data"]}
    return sorted(apps[app.app_id]["subscribed_fields"]) if app.app_id in apps else None


def notes(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_a_page_added_with_its_token_is_subscribed_once_saved(
    admin_client, simulator, app, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD, page_form(app))
        assert subscribed_fields(simulator, app) is None  # not before the commit
    assert response.status_code == 302, response.content.decode()[:2000]
    assert subscribed_fields(simulator, app) == sorted(onboarding.WEBHOOK_FIELDS)
    page = MessengerPage.objects.get(page_id=PAGE_ID)
    assert onboarding.is_healthy(page.health)  # checked too: it has its Get Started button
    assert ("success", "Corner Shop: the app is subscribed to its webhooks.") in notes(response)


def test_a_token_meta_refuses_is_shown_and_the_page_stays_saved(
    admin_client, simulator, app, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD, page_form(app, access_token="EAA-not-a-token"))
    assert response.status_code == 302
    page = MessengerPage.objects.get(page_id=PAGE_ID)
    assert page.health["token_valid"] is False
    [(level, text)] = [note for note in notes(response) if "connection has a problem" in note[1]]
    assert level == "warning" and text.startswith(
        "Corner Shop is saved, but its connection has a problem (Token valid:"
    )


def test_editing_a_page_without_a_new_token_asks_meta_nothing(
    admin_client, simulator, app, django_capture_on_commit_callbacks
):
    page = MessengerPageFactory(app=app, page_id=PAGE_ID, access_token="EAA-shop")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/messenger/pages/edit/{page.pk}/",
            page_form(app, account=page.account_id, access_token=""),
        )
    assert response.status_code == 302
    assert subscribed_fields(simulator, app) is None
    assert MessengerPage.objects.get(pk=page.pk).health_checked_at is None


def test_the_health_panel_subscribes_an_unsubscribed_app_in_one_click(admin_client, simulator, app):
    page = MessengerPageFactory(app=app, page_id=PAGE_ID, access_token="EAA-shop")
    onboarding.check_health(page)  # Meta sends this Page's webhooks to no app yet
    panel = admin_client.get(INSPECT.format(page.pk)).content.decode()
    assert 'data-testid="subscribe-app"' in panel
    response = admin_client.post(f"/admin/messenger/pages/subscribe-app/{page.pk}/")
    assert response.status_code == 302
    assert ("success", "The app is subscribed to the Page's webhooks.") in notes(response)
    assert subscribed_fields(simulator, app) == sorted(onboarding.WEBHOOK_FIELDS)
    panel = admin_client.get(INSPECT.format(page.pk)).content.decode()
    assert 'data-testid="subscribe-app"' not in panel and 'data-healthy="true"' in panel
