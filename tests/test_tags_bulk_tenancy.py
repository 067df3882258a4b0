"""Tags and bulk actions: a client sees neither another client's tag names nor, on a bulk action's
confirmation page, the names of objects they cannot see; agency staff still see everything."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from wagtail.documents.models import Document
from wagtail.images.models import Image
from wagtail.images.tests.utils import get_test_image_file
from wagtail.models import Page

from onesend_plugin.models import Campaign

from .fixtures.tenants import assert_no_leak, body

pytestmark = pytest.mark.django_db


@pytest.fixture
def agency(client, django_user_model, alpha, bravo):
    staff = django_user_model.objects.create_user("agency", password="pw")
    staff.user_permissions.add(
        Permission.objects.get(codename="access_all_accounts"),
        Permission.objects.get(codename="access_admin"),
        Permission.objects.get(codename="view_campaign"),
    )
    client.force_login(staff)
    return client


def bulk_url(model, action: str, *objects) -> str:
    """The action's confirmation page for these objects ("all": every object in the listing)."""
    url = reverse("wagtail_bulk_action", args=(model._meta.app_label, model._meta.model_name, action))
    return url + "?" + "&".join(f"id={getattr(obj, 'pk', obj)}" for obj in objects)


# -- Bulk actions ---------------------------------------------------------------------------------


def test_bulk_delete_names_only_the_clients_own_campaigns(client_a, alpha, bravo):
    before = bravo.fingerprint()
    url = bulk_url(Campaign, "delete", alpha.campaign, bravo.campaign)
    response = client_a.get(url)
    assert response.status_code == 200
    assert alpha.campaign.name in body(response)
    assert_no_leak(response, bravo, url)

    response = client_a.post(url)
    assert_no_leak(response, bravo, f"POST {url}")
    assert bravo.fingerprint() == before
    assert Campaign.objects.filter(pk=alpha.campaign.pk).exists()  # clients may not delete campaigns


def test_bulk_delete_of_other_clients_campaigns_only_is_not_found(client_a, alpha, bravo):
    assert client_a.get(bulk_url(Campaign, "delete", bravo.campaign)).status_code == 404
    response = client_a.get(bulk_url(Campaign, "delete", "all"))
    assert alpha.campaign.name in body(response)
    assert_no_leak(response, bravo, "select all")


def test_agency_staff_bulk_pages_name_every_clients_campaigns(agency, alpha, bravo):
    html = body(agency.get(bulk_url(Campaign, "delete", alpha.campaign, bravo.campaign)))
    assert alpha.campaign.name in html and bravo.campaign.name in html


@pytest.fixture
def bravo_media(bravo):
    """An image, a document and a page of client B's, with B's name in their titles."""
    image = Image.objects.create(title="Bravo poster", file=get_test_image_file())
    document = Document.objects.create(title="Bravo brochure")
    page = Page.get_first_root_node().add_child(title="Bravo landing", slug="bravo-landing")
    return image, document, page


@pytest.mark.parametrize(
    "kind, actions",
    [
        (0, ["delete", "add_tags", "add_to_collection"]),
        (1, ["delete", "add_tags", "add_to_collection"]),
        (2, ["delete", "move", "publish", "unpublish"]),
    ],
    ids=["image", "document", "page"],
)
def test_media_and_page_bulk_pages_name_nothing_the_client_cannot_see(
    client_a, bravo, bravo_media, kind, actions
):
    obj = bravo_media[kind]
    for action in actions:
        url = bulk_url(type(obj), action, obj)
        response = client_a.get(url)
        assert response.status_code in (200, 302, 404), url
        assert obj.title not in body(response), url
        client_a.post(url)
        assert type(obj).objects.filter(pk=obj.pk, title=obj.title).exists(), url


def test_superusers_still_see_media_and_pages_named(client, admin_user, bravo_media):
    client.force_login(admin_user)
    image, document, page = bravo_media
    for obj in (image, document, page):
        response = client.get(bulk_url(type(obj), "delete", obj))
        assert obj.title in body(response)
