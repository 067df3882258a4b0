"""Tags and bulk actions: a client sees neither another client's tag names nor, on a bulk action's
confirmation page, the names of objects they cannot see; agency staff still see everything."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from taggit.models import Tag
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


# -- Tags ------------------------------------------------------------------------------------------

AUTOCOMPLETE_URLS = ["/admin/tag-autocomplete/", "/admin/tag-autocomplete/taggit/tag/"]


def suggested(client, url, term=None) -> list[str]:
    response = client.get(url, {} if term is None else {"term": term})
    assert response.status_code == 200, url
    return response.json()


@pytest.mark.parametrize("url", AUTOCOMPLETE_URLS)
def test_autocomplete_suggests_only_the_clients_own_tags(client_a, alpha, bravo, url):
    Tag.objects.create(name="bravo-orphan")  # left behind: nothing tells whose it was
    assert suggested(client_a, url, "alpha") == ["alpha-tag"]
    for term in (None, "", "b", "bravo", "-", "a"):
        names = suggested(client_a, url, term)
        assert not [name for name in names if "bravo" in name], (term, names)


@pytest.mark.parametrize("url", AUTOCOMPLETE_URLS)
def test_a_user_without_membership_gets_no_onesend_tags(client, django_user_model, client_group, alpha, url):
    user = django_user_model.objects.create_user("nobody", password="pw")
    user.groups.add(client_group)
    client.force_login(user)
    assert suggested(client, url, "alpha") == []


def test_ordinary_editors_keep_tags_of_what_they_may_use(client, django_user_model, alpha, bravo):
    """Image tags stay suggested to an editor who may use the image; subscriber tags do not."""
    image = Image.objects.create(title="Sale poster", file=get_test_image_file())
    image.tags.add("poster-sale")
    editor = django_user_model.objects.create_user("editor", password="pw")
    editor.groups.add(Group.objects.get(name="Editors"))  # Wagtail's: images of every collection
    client.force_login(editor)
    assert suggested(client, AUTOCOMPLETE_URLS[0], "poster") == ["poster-sale"]
    assert suggested(client, AUTOCOMPLETE_URLS[0], "alpha") == []


def test_clients_get_no_tags_of_images_they_cannot_use(client_a, alpha):
    image = Image.objects.create(title="Sale poster", file=get_test_image_file())
    image.tags.add("poster-sale")
    assert suggested(client_a, AUTOCOMPLETE_URLS[0], "poster") == []


def test_agency_staff_get_every_tag(agency, alpha, bravo):
    Tag.objects.create(name="bravo-orphan")
    assert suggested(agency, AUTOCOMPLETE_URLS[0], "alpha") == ["alpha-tag"]
    assert suggested(agency, AUTOCOMPLETE_URLS[0], "bravo") == ["bravo-orphan", "bravo-tag"]


def test_subscriber_tag_filter_and_field_offer_only_own_tags(client_a, alpha, bravo):
    listing = client_a.get("/admin/messenger/subscribers/")
    assert "alpha-tag" in body(listing)
    assert_no_leak(listing, bravo, "subscriber listing")
    edit = client_a.get(reverse("onesend_subscribers:edit", args=(alpha.subscriber.pk,)))
    assert "alpha-tag" in body(edit)
    assert_no_leak(edit, bravo, "subscriber form")


def test_autocomplete_still_needs_the_admin_login(client, alpha):
    response = client.get(AUTOCOMPLETE_URLS[0], {"term": "alpha"})
    assert response.status_code == 302 and "alpha-tag" not in body(response)
