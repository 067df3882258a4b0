""" "Send this page to Messenger": the draft a Wagtail page makes (text, image, "Read more" with
UTM tags), the Messenger Page it goes to, who is offered it, and the offer after publishing a
page type that asks for it (never a send)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from wagtail.actions.create import CreatePermissionError
from wagtail.images.models import Image
from wagtail.images.tests.utils import get_test_image_file
from wagtail.models import Collection, GroupPagePermission, ModelLogEntry, Page, Site
from wagtail.test.utils.form_data import inline_formset, nested_form_data, rich_text, streamfield

from example_site.home.models import ContentPage, HomePage
from onesend_plugin import messages
from onesend_plugin.accounts.groups import ensure_client_group
from onesend_plugin.admin import from_page as admin_from_page
from onesend_plugin.broadcast import from_page
from onesend_plugin.models import Campaign, Membership

from .factories import AccountFactory, MessengerPageFactory, default_site_root

pytestmark = pytest.mark.django_db

BASE = "https://shop.example"
UTM = "utm_source=messenger&utm_medium=onesend&utm_campaign="


@pytest.fixture(autouse=True)
def _public_base_url(settings):
    settings.ONESEND = {**settings.ONESEND, "PUBLIC_BASE_URL": BASE}


def site_root() -> Page:
    return default_site_root()


def add_article(parent: Page | None = None, **fields) -> ContentPage:
    fields = {"title": "Spring tulips", "slug": "spring-tulips", **fields}
    return (parent or site_root()).add_child(instance=ContentPage(**fields))


def image_in(collection: Collection, title: str = "Tulips") -> Image:
    return Image.objects.create(title=title, file=get_test_image_file(), collection=collection)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("editor", "editor@example.com", "pw")


def client_user(django_user_model, account, role: str):
    user = django_user_model.objects.create_user(f"{role}-user", password="pw")
    user.groups.add(ensure_client_group())
    Membership.objects.create(user=user, account=account, role=role)
    return user


def editors_group() -> Group:
    """Like Wagtail's "Editors" group (gone when a transactional test flushed the database):
    admin access, and editing the default Site's pages."""
    group, _ = Group.objects.get_or_create(name="Page editors")
    group.permissions.add(
        Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin")
    )
    change = Permission.objects.get(content_type__app_label="wagtailcore", codename="change_page")
    GroupPagePermission.objects.get_or_create(group=group, page=site_root(), permission=change)
    return group


def wagtail_editor(django_user_model):
    """A page editor without any onesend permission."""
    user = django_user_model.objects.create_user("page-editor", password="pw")
    user.groups.add(editors_group())
    return user


# -- The draft ------------------------------------------------------------------------------------


def test_the_draft_says_the_title_and_intro_and_links_to_the_page_with_utm_tags(page):
    article = add_article(intro="<p>Fresh <b>tulips</b> &amp; more,\n every day.</p>")
    draft = from_page.build(article, page)
    assert draft.name == "Spring tulips"
    assert draft.page == page
    assert draft.text == "Spring tulips\n\nFresh tulips & more, every day."
    assert draft.media == "" and draft.image is None
    [button] = draft.buttons.all()
    assert button.title == "Read more"
    assert button.url == f"{BASE}/spring-tulips/?{UTM}spring-tulips"
    assert messages.validate(draft, [(button.title, button.url)]) == {}


def test_a_title_without_a_slug_names_the_campaign_by_the_pages_slug_in_the_utm_tags(page):
    article = add_article(title="🌷🌷🌷", slug="tulips")
    [button] = from_page.build(article, page).buttons.all()
    assert button.url == f"{BASE}/tulips/?{UTM}tulips"


def test_without_an_intro_the_search_description_is_the_text(page):
    article = add_article(search_description="Tulips, by the armful.")
    assert from_page.build(article, page).text == "Spring tulips\n\nTulips, by the armful."
    assert from_page.build(add_article(slug="bare"), page).text == "Spring tulips"


def test_a_long_intro_is_cut_to_what_a_message_with_a_button_may_carry(page):
    article = add_article(intro="<p>" + "Tulips and daffodils. " * 100 + "</p>")
    draft = from_page.build(article, page)
    assert len(draft.text) == 640 and draft.text.endswith("…")
    [button] = draft.buttons.all()
    assert messages.validate(draft, [(button.title, button.url)]) == {}


def test_a_page_of_another_site_is_linked_on_that_sites_address(page):
    home = site_root().get_parent().add_child(instance=HomePage(title="Bloom", slug="bloom"))
    Site.objects.create(hostname="bloom.example", port=443, root_page=home)
    article = add_article(home, slug="roses", title="Roses")
    [button] = from_page.build(article, page).buttons.all()
    assert button.url == f"https://bloom.example/roses/?{UTM}roses"


def test_the_pages_image_makes_a_card_with_the_title_and_intro_under_it(page):
    image = image_in(page.account.collection)
    article = add_article(intro="<p>" + "Long intro. " * 20 + "</p>", image=image)
    draft = from_page.build(article, page)
    assert draft.media == Campaign.Media.IMAGE and draft.image == image
    assert draft.text == "Spring tulips"
    assert len(draft.subtitle) == 80 and draft.subtitle.startswith("Long intro. Long intro.")
    [button] = draft.buttons.all()
    assert messages.validate(draft, [(button.title, button.url)]) == {}


def test_an_image_from_elsewhere_is_copied_once_into_the_accounts_collection(page, superuser):
    image = image_in(Collection.get_first_root_node())
    article = add_article(image=image)
    first = from_page.create_draft(article, page, superuser)
    second = from_page.create_draft(article, page, superuser)
    assert first.image != image and first.image.collection == page.account.collection
    assert first.image.get_file_hash() == image.get_file_hash()
    assert second.image == first.image
    assert page.account.owns_media(first.image)


def test_the_draft_is_saved_unpublished_with_a_revision_and_logged(page, superuser):
    campaign = from_page.create_draft(add_article(), page, superuser)
    campaign.refresh_from_db()
    assert not campaign.live and campaign.status == Campaign.Status.DRAFT
    assert campaign.latest_revision is not None and campaign.deliveries.count() == 0
    assert [b.title for b in campaign.buttons.all()] == ["Read more"]
    assert ModelLogEntry.objects.filter(action="wagtail.create", object_id=str(campaign.pk)).exists()


def test_someone_who_may_not_add_campaigns_gets_no_draft_and_no_copied_image(page, django_user_model):
    analyst = client_user(django_user_model, page.account, Membership.Role.ANALYST)
    article = add_article(image=image_in(Collection.get_first_root_node()))
    with pytest.raises(CreatePermissionError):
        from_page.create_draft(article, page, analyst)
    assert not Campaign.objects.exists()
    assert Image.objects.count() == 1


# -- Which Messenger Page -------------------------------------------------------------------------


def test_a_site_owned_by_a_client_offers_only_that_clients_pages(page, superuser):
    other = MessengerPageFactory()
    article = add_article()
    assert admin_from_page.messenger_pages(superuser, article) == sorted(
        [page, other], key=lambda p: (p.account.name, p.name)
    )
    site_root().get_site().onesend_accounts.add(page.account)
    del superuser.__dict__["_onesend_send_page_choices"]
    assert admin_from_page.messenger_pages(superuser, article) == [page]


def test_a_client_user_is_offered_only_the_pages_they_may_add_campaigns_to(page, django_user_model):
    MessengerPageFactory()  # another client's
    editor = client_user(django_user_model, page.account, Membership.Role.EDITOR)
    assert admin_from_page.messenger_pages(editor, add_article()) == [page]
    analyst = client_user(django_user_model, page.account, Membership.Role.ANALYST)
    assert not admin_from_page.may_send(analyst, add_article(slug="for-analyst"))


def test_nobody_is_offered_another_clients_pages_for_a_clients_site(page, django_user_model):
    other = MessengerPageFactory()
    site_root().get_site().onesend_accounts.add(other.account)
    editor = client_user(django_user_model, page.account, Membership.Role.EDITOR)
    editor.groups.add(editors_group())  # may edit the site's pages
    article = add_article()
    assert article.permissions_for_user(editor).can_edit()
    assert admin_from_page.messenger_pages(editor, article) == []
    assert not admin_from_page.may_send(editor, article)


def test_only_live_pages_can_be_sent(page, superuser):
    article = add_article()
    assert admin_from_page.may_send(superuser, article)
    article.live = False
    assert not admin_from_page.may_send(superuser, article)


# -- The admin ------------------------------------------------------------------------------------


def send_url(article: Page) -> str:
    return reverse("onesend_send_page", args=[article.pk])


def test_the_page_editor_offers_it_to_those_who_may_add_campaigns(client, page, superuser, django_user_model):
    article = add_article()
    edit_url = reverse("wagtailadmin_pages:edit", args=[article.pk])
    client.force_login(superuser)
    html = client.get(edit_url).content.decode()
    assert html.count(f'href="{send_url(article)}"') >= 2  # the action menu and the header's menu
    listing = client.get(reverse("wagtailadmin_explore", args=[site_root().pk])).content.decode()
    assert f'href="{send_url(article)}"' in listing  # the row's "More" menu
    client.force_login(wagtail_editor(django_user_model))
    html = client.get(edit_url).content.decode()
    assert "Spring tulips" in html and send_url(article) not in html
    analyst = client_user(django_user_model, page.account, Membership.Role.ANALYST)
    client.force_login(analyst)
    for method in (client.get, client.post):
        response = method(send_url(article))
        assert response.status_code == 302 and response.url == reverse("wagtailadmin_home")
    assert not Campaign.objects.exists()


def test_the_view_shows_the_draft_then_makes_it_and_opens_the_campaign_editor(client, page, superuser):
    article = add_article(intro="<p>Fresh tulips.</p>")
    client.force_login(superuser)
    html = client.get(send_url(article)).content.decode()
    assert "Fresh tulips." in html and f"{BASE}/spring-tulips/?" in html and page.name in html
    assert not Campaign.objects.exists()  # showing the draft makes nothing
    response = client.post(send_url(article))
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response.url == reverse(Campaign.snippet_viewset.get_url_name("edit"), args=[campaign.pk])
    assert campaign.page == page and campaign.text == "Spring tulips\n\nFresh tulips."
    edit = client.get(response.url).content.decode()
    assert "Fresh tulips." in edit and "nothing goes out before you confirm" in edit


def test_with_several_messenger_pages_the_user_chooses_one(client, page, superuser):
    other = MessengerPageFactory(account=AccountFactory(name="Zinnia Ltd"))
    article = add_article()
    client.force_login(superuser)
    html = client.get(send_url(article)).content.decode()
    assert f'value="{page.pk}"' in html and f'value="{other.pk}"' in html
    client.post(send_url(article))
    assert not Campaign.objects.exists()
    client.post(send_url(article), {"messenger_page": other.pk})
    assert Campaign.objects.get().page == other


def test_publishing_a_page_type_that_asks_offers_a_campaign_and_sends_nothing(client, page, superuser):
    article = add_article()
    client.force_login(superuser)
    edit_url = reverse("wagtailadmin_pages:edit", args=[article.pk])
    form = nested_form_data(
        {
            "title": "Spring tulips",
            "slug": "spring-tulips",
            "intro": rich_text("<p>Fresh tulips.</p>"),
            "body": streamfield([]),
            "comments": inline_formset([]),
            "action-publish": "publish",
        }
    )
    response = client.post(edit_url, form, follow=True)
    html = response.content.decode()
    assert "Send it to Messenger subscribers" in html and send_url(article) in html
    assert not Campaign.objects.exists()


def offers(user, article, monkeypatch) -> list[str]:
    """The messages ``offer_after_publish`` gives ``user`` after publishing ``article``."""
    given = []
    monkeypatch.setattr(admin_from_page.messages, "info", lambda request, text, **kwargs: given.append(text))
    request = RequestFactory().post("/")
    request.user = user
    admin_from_page.offer_after_publish(request, article)
    return given


def test_only_page_types_that_ask_are_offered_a_campaign(superuser, page, monkeypatch):
    home = site_root().add_child(instance=HomePage(title="Home", slug="home-2"))
    assert not from_page.offers_campaign(home) and offers(superuser, home, monkeypatch) == []
    article = add_article()
    assert from_page.offers_campaign(article)
    assert offers(superuser, article, monkeypatch) == [
        "'Spring tulips' is published. Tell your Messenger subscribers about it?"
    ]


def test_a_publication_scheduled_for_later_is_not_offered_yet(superuser, page, monkeypatch):
    article = add_article()
    article.save_revision(approved_go_live_at=timezone.now() + timedelta(days=1))
    assert offers(superuser, article, monkeypatch) == []


def test_the_offer_needs_a_user_who_may_add_campaigns(page, django_user_model, monkeypatch):
    article = add_article()
    page_editor = wagtail_editor(django_user_model)
    assert article.permissions_for_user(page_editor).can_edit()
    assert offers(page_editor, article, monkeypatch) == []
