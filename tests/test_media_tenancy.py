"""Client media: a client's images and documents are in its account's collection, and another
client's are out of reach everywhere Wagtail shows media — listings, choosers, edit views, the
admin API — and refused by id in a campaign's form. Agency staff see every client's; Wagtail
users who are not client users keep Wagtail's rules."""

from __future__ import annotations

import copy
import importlib
from types import SimpleNamespace

import pytest
from bs4 import BeautifulSoup
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from wagtail.documents.models import Document
from wagtail.images.models import Image
from wagtail.images.tests.utils import get_test_image_file
from wagtail.models import Collection, GroupCollectionPermission
from wagtail.permissions import policy_registry

from onesend_plugin.accounts.groups import ensure_client_group
from onesend_plugin.models import Account, Membership

from .campaign_admin_helpers import form_data
from .factories import AccountFactory, CampaignFactory, MessengerPageFactory

pytestmark = pytest.mark.django_db


def client_media(label: str) -> SimpleNamespace:
    account = AccountFactory(name=f"{label} Holdings", slug=f"{label.lower()}-holdings")
    campaign = CampaignFactory(page=MessengerPageFactory(account=account), name=f"{label} Campaign")
    image = Image.objects.create(
        title=f"{label}-image-title", file=get_test_image_file(), collection=account.collection
    )
    document = Document.objects.create(
        title=f"{label}-document-title",
        file=ContentFile(b"%PDF-1.4", name=f"{label.lower()}.pdf"),
        collection=account.collection,
    )
    return SimpleNamespace(account=account, campaign=campaign, image=image, document=document)


@pytest.fixture(scope="module")
def shared_media(module_transaction, django_db_blocker) -> tuple[SimpleNamespace, SimpleNamespace]:
    """Alpha's and Bravo's media, made once for the module (see ``module_transaction``)."""
    with django_db_blocker.unblock():
        return client_media("Alpha"), client_media("Bravo")


@pytest.fixture
def alpha(db, shared_media):
    return copy.deepcopy(shared_media[0])


@pytest.fixture
def bravo(db, shared_media):
    return copy.deepcopy(shared_media[1])


def logged_in(client, django_user_model, accounts=(), role=Membership.Role.EDITOR, username="alpha-user"):
    user = django_user_model.objects.create_user(username, password="pw")
    user.groups.add(ensure_client_group())
    for account in accounts:
        Membership.objects.create(user=user, account=account, role=role)
    client.force_login(user)
    return user


@pytest.fixture
def user_a(client, django_user_model, alpha, bravo):
    return logged_in(client, django_user_model, [alpha.account])


@pytest.fixture
def client_a(client, user_a):
    return client


@pytest.fixture
def agency(client, django_user_model, alpha, bravo):
    user = logged_in(client, django_user_model, username="agency")
    user.user_permissions.add(Permission.objects.get(codename="access_all_accounts"))
    return client


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def denied(response) -> bool:
    return response.status_code in (403, 404) or (
        response.status_code == 302 and response["Location"] == "/admin/"
    )


LISTINGS = ["/admin/images/", "/admin/documents/", "/admin/images/chooser/", "/admin/documents/chooser/"]
API = ["/admin/api/main/images/", "/admin/api/main/documents/"]


def test_each_account_has_its_own_collection(alpha, bravo):
    root = Collection.get_first_root_node()
    assert alpha.account.collection.get_parent() == root == bravo.account.collection.get_parent()
    assert alpha.account.collection != bravo.account.collection
    assert alpha.account.collection.name == "Alpha Holdings"
    alpha.account.name = "Alpha Group"
    alpha.account.save()
    assert Collection.objects.get(pk=alpha.account.collection_id).name == "Alpha Group"


def test_the_migration_builds_a_valid_tree_for_existing_accounts(alpha, bravo):
    migration = importlib.import_module("onesend_plugin.migrations.0013_account_collection")
    Account.objects.filter(pk__in=[alpha.account.pk, bravo.account.pk]).update(collection=None)
    migration.create_collections(apps, None)
    root = Collection.get_first_root_node()
    children = list(root.get_children())
    assert root.numchild == len(children) == 4  # the factories' two, the migration's two
    assert {c.name for c in children} == {"Alpha Holdings", "Bravo Holdings"}
    assert root.add_child(name="Later").get_parent() == root  # treebeard still agrees
    assert Account.objects.get(pk=alpha.account.pk).collection.depth == 2


@pytest.mark.parametrize("url", LISTINGS + API)
def test_a_client_sees_only_its_own_media(client_a, alpha, bravo, url):
    html = text(client_a.get(url))
    assert "Alpha-" in html
    assert "Bravo-" not in html


@pytest.mark.parametrize(
    "url",
    [
        "/admin/api/main/images/{image}/",
        "/admin/api/main/documents/{document}/",
        "/admin/images/{image}/",
        "/admin/documents/edit/{document}/",
        "/admin/images/chooser/chosen/{image}/",
        "/admin/images/chooser/{image}/select_format/",
        "/admin/documents/chooser/chosen/{document}/",
        "/admin/images/usage/{image}/",
    ],
)
def test_another_clients_media_is_out_of_reach(client_a, alpha, bravo, url):
    response = client_a.get(url.format(image=bravo.image.pk, document=bravo.document.pk))
    assert denied(response), response.status_code
    assert "Bravo-" not in response.content.decode()
    assert client_a.get(url.format(image=alpha.image.pk, document=alpha.document.pk)).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/admin/bulk/wagtailimages/image/delete/?id={image}",
        "/admin/bulk/wagtaildocs/document/delete/?id={document}",
        "/admin/bulk/wagtailimages/image/add_tags/?id={image}",
    ],
)
def test_bulk_actions_neither_show_nor_touch_another_clients_media(client_a, alpha, bravo, url):
    url = url.format(image=bravo.image.pk, document=bravo.document.pk)
    assert "Bravo-" not in client_a.get(url).content.decode()
    client_a.post(url, {"tags": "stolen"})
    assert Image.objects.filter(pk=bravo.image.pk, tags__isnull=True).exists()
    assert Document.objects.filter(pk=bravo.document.pk).exists()


def test_a_client_uploads_into_its_own_collection_only(client_a, user_a, alpha, bravo):
    for model in (Image, Document):
        policy = policy_registry.get_by_type(model)
        assert list(policy.collections_user_has_permission_for(user_a, "add")) == [alpha.account.collection]
    response = client_a.post(
        "/admin/documents/add/",
        {
            "title": "Alpha price list",
            "file": ContentFile(b"%PDF-1.4", name="prices.pdf"),
            "collection": alpha.account.collection.pk,
        },
    )
    assert response.status_code == 302
    assert Document.objects.get(title="Alpha price list").collection == alpha.account.collection
    client_a.post(
        "/admin/documents/add/",
        {
            "title": "Into Bravo",
            "file": ContentFile(b"%PDF-1.4", name="b.pdf"),
            "collection": bravo.account.collection.pk,
        },
    )
    assert Document.objects.get(title="Into Bravo").collection == alpha.account.collection


def test_an_analyst_may_choose_but_not_upload(client, django_user_model, alpha, bravo):
    user = logged_in(client, django_user_model, [alpha.account], role=Membership.Role.ANALYST)
    policy = policy_registry.get_by_type(Image)
    assert list(policy.instances_user_has_any_permission_for(user, ["choose"])) == [alpha.image]
    assert not policy.user_has_permission(user, "add")


def campaign_edit(client, campaign, **fields):
    url = f"/admin/messenger/campaigns/edit/{campaign.pk}/"
    return client.post(url, form_data(campaign, **fields))


@pytest.mark.parametrize(
    "field,content",
    [
        ("image", {"media": "image", "text": "Summer sale", "subtitle": "30% off"}),
        ("document", {"media": "file", "text": ""}),  # a file goes on its own
    ],
)
def test_a_campaign_refuses_another_clients_media_by_id(client_a, alpha, bravo, field, content):
    response = campaign_edit(client_a, alpha.campaign, **content, **{field: getattr(bravo, field).pk})
    assert response.status_code == 200
    assert response.context["form"].errors[field] == ["Choose one from the collection of Alpha Holdings."]
    response = campaign_edit(client_a, alpha.campaign, **content, **{field: getattr(alpha, field).pk})
    assert response.status_code == 302, response.context["form"].errors
    alpha.campaign.refresh_from_db()
    assert getattr(alpha.campaign.latest_revision.as_object(), field) == getattr(alpha, field)


def test_agency_staff_cannot_mix_clients_media_either(admin_client, alpha, bravo):
    response = campaign_edit(admin_client, alpha.campaign, media="image", image=bravo.image.pk, text="Sale")
    assert "image" in response.context["form"].errors


@pytest.mark.parametrize("url", LISTINGS + API)
def test_agency_staff_see_every_clients_media(agency, url):
    html = text(agency.get(url))
    assert "Alpha-" in html and "Bravo-" in html


def test_a_former_member_sees_no_clients_media(client, django_user_model, alpha, bravo):
    logged_in(client, django_user_model)  # in the client group, member of nothing
    for url in LISTINGS + API:
        response = client.get(url)
        assert "Alpha-" not in response.content.decode() and "Bravo-" not in response.content.decode()


def test_other_wagtail_editors_keep_wagtails_rules(client, django_user_model, alpha, bravo):
    """An editor given images on the root collection (not a client user) sees them all."""
    user = django_user_model.objects.create_user("editor", password="pw")
    group = Group.objects.create(name="Site editors")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    for codename in ("add_image", "choose_image"):
        GroupCollectionPermission.objects.create(
            group=group,
            collection=Collection.get_first_root_node(),
            permission=Permission.objects.get(codename=codename),
        )
    user.groups.add(group)
    client.force_login(user)
    for url in ("/admin/images/chooser/", "/admin/api/main/images/"):
        html = text(client.get(url))
        assert "Alpha-" in html and "Bravo-" in html, url


# -- Popular tags ---------------------------------------------------------------------------------

#: The media listings and choosers, with the partials they refresh → the kind of media they list.
TAG_PAGES = {
    "/admin/images/": "image",
    "/admin/images/results/": "image",
    "/admin/documents/": "document",
    "/admin/documents/results/": "document",
    "/admin/images/chooser/": "image",
    "/admin/images/chooser/results/": "image",
    "/admin/documents/chooser/": "document",
    "/admin/documents/chooser/results/": "document",
}
#: Those offering popular tags: the listings' tag filter, the image chooser's "Popular tags".
OFFERING_TAGS = ("/admin/images/", "/admin/documents/", "/admin/images/chooser/")
LISTINGS_WITH_TAG_FILTER = ["/admin/images/", "/admin/documents/"]


@pytest.fixture
def tagged(alpha, bravo):
    """Each client's media tagged with its own word; bravo's tags the most used, as Wagtail counts."""
    for owner, word in ((alpha, "alphaword"), (bravo, "bravoword")):
        owner.image.tags.add(f"{word}-image")
        owner.document.tags.add(f"{word}-document")
    extra = Image.objects.create(
        title="Bravo-extra", file=get_test_image_file(), collection=bravo.account.collection
    )
    extra.tags.add("bravoword-image")


def tag_choices(response) -> list[str]:
    """The names the listing's tag filter offers (none: no such filter)."""
    tag_filter = response.context["filters"].filters.get("tag")
    return [name for name, _label in tag_filter.field.choices] if tag_filter else []


@pytest.mark.parametrize("url", TAG_PAGES)
def test_a_client_is_offered_only_its_own_media_tags(client_a, tagged, url):
    html = text(client_a.get(url))
    assert "bravoword" not in html
    if url in OFFERING_TAGS:
        assert f"alphaword-{TAG_PAGES[url]}" in html


@pytest.mark.parametrize("url", LISTINGS_WITH_TAG_FILTER)
def test_the_listing_tag_filter_offers_only_the_clients_tags(client_a, tagged, url):
    assert tag_choices(client_a.get(url)) == [f"alphaword-{TAG_PAGES[url]}"]


@pytest.mark.parametrize("url", OFFERING_TAGS)
def test_agency_staff_are_offered_every_clients_media_tags(agency, tagged, url):
    response = agency.get(url)
    html = text(response)
    kind = TAG_PAGES[url]
    assert f"alphaword-{kind}" in html and f"bravoword-{kind}" in html
    if url in LISTINGS_WITH_TAG_FILTER:
        assert set(tag_choices(response)) == {f"alphaword-{kind}", f"bravoword-{kind}"}


def test_a_clients_popular_tags_are_counted_over_its_own_media(client_a, alpha, bravo):
    """Ten tags more used on another client's images do not push the client's own out."""
    extra = Image.objects.create(
        title="Bravo-extra", file=get_test_image_file(), collection=bravo.account.collection
    )
    for image in (bravo.image, extra):
        image.tags.add(*[f"busy-{i}" for i in range(10)])
    alpha.image.tags.add("quiet")
    assert tag_choices(client_a.get("/admin/images/")) == ["quiet"]
    html = text(client_a.get("/admin/images/chooser/"))
    assert "quiet" in html and "busy-" not in html


def test_a_former_member_is_offered_no_clients_tags(client, django_user_model, tagged):
    logged_in(client, django_user_model)  # in the client group, member of nothing
    for url in TAG_PAGES:
        html = client.get(url).content.decode()
        assert "alphaword" not in html and "bravoword" not in html, url


def test_editors_of_every_collection_keep_wagtails_popular_tags(client, django_user_model, tagged):
    editor = django_user_model.objects.create_user("editor", password="pw")
    editor.groups.add(Group.objects.get(name="Editors"))  # Wagtail's: media of every collection
    client.force_login(editor)
    for url in OFFERING_TAGS:
        html = text(client.get(url))
        assert f"alphaword-{TAG_PAGES[url]}" in html and f"bravoword-{TAG_PAGES[url]}" in html, url


# -- Uploading from the campaign's choosers -------------------------------------------------------


def selected_collection(html: str) -> str | None:
    """The Upload tab's collection chosen beforehand (None: the first, Root, shows)."""
    select = BeautifulSoup(html, "html.parser").select_one("select[name$=collection]")
    selected = select.select_one("option[selected]")
    return selected.get_text(strip=True) if selected else None


@pytest.mark.parametrize("chooser", ["/admin/images/chooser/", "/admin/documents/chooser/"])
def test_a_choosers_upload_starts_in_the_campaign_accounts_collection(admin_client, alpha, bravo, chooser):
    for owner in (alpha, bravo):
        html = admin_client.get(chooser, {"onesend_page": owner.campaign.page_id}).json()["html"]
        assert selected_collection(html) == owner.account.collection.name
    assert selected_collection(admin_client.get(chooser).json()["html"]) is None  # no campaign: Wagtail's


def test_the_campaign_form_links_its_choosers_to_the_chosen_page(admin_client, alpha):
    html = text(admin_client.get(f"/admin/messenger/campaigns/edit/{alpha.campaign.pk}/"))
    for chooser in ('ImageChooser("id_image", ', 'DocumentChooser("id_document", '):
        options = html.split(f"new {chooser}")[1].split(");")[0]
        assert options.endswith('"linkedFields": {"onesend_page": "#id_page"}}')


def test_a_client_uploads_from_the_chooser_into_its_collection(client_a, alpha, bravo):
    response = client_a.post(
        f"/admin/documents/chooser/create/?onesend_page={bravo.campaign.page_id}",
        {
            "document-chooser-upload-title": "Alpha menu",
            "document-chooser-upload-file": ContentFile(b"%PDF-1.4", name="menu.pdf"),
        },
    )
    assert response.json()["step"] == "chosen"
    assert Document.objects.get(title="Alpha menu").collection == alpha.account.collection
