"""Subscribe buttons (block and template tags), the click-tracking link and the links admin."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.template import Context, Template

from onesend_plugin import conf
from onesend_plugin.blocks import SubscribeBlock, messenger_page_choices
from onesend_plugin.hooks import hookimpl
from onesend_plugin.models import SubscriptionLink
from onesend_plugin.subscribe import links, refs

from .factories import MessengerPageFactory, SubscriberFactory, SubscriptionLinkFactory

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
BUTTON_HREF = re.compile(r'href="([^"]+)"[^>]*data-testid="onesend-subscribe"')


class Shop:
    @hookimpl
    def customer_ref_for_request(self, request):
        return request.GET.get("customer")


def button_href(html):
    return BUTTON_HREF.search(html).group(1)


def token_of(url):
    return url.split("/")[-2]


def render_block(page, request=None, **values):
    block = SubscribeBlock()
    value = block.to_python(
        {
            "page": str(page.pk),
            "ref": "footer",
            "tags": "vip, footer",
            "style": "dark",
            "align": "left",
            **values,
        }
    )
    return block.render(value, context={"request": request} if request else None)


def follow(client, url, **headers):
    """Click ``url`` and return where it redirected to, decoded."""
    response = client.get(url, headers={"User-Agent": BROWSER, **headers})
    assert response.status_code == 302
    location = response["Location"]
    ref = parse_qs(urlsplit(location).query)["ref"][0]
    return location, refs.decode(ref)


# -- The block and the template tags ---------------------------------------------------------------


def test_block_renders_a_button_with_a_signed_click_link(page, rf, register_plugin):
    register_plugin(Shop())
    intro = "<p>Only deals, <b>no</b> spam.</p>"
    html = render_block(page, rf.get("/", {"customer": "cust-42"}), label="Deals!", intro=intro)
    assert intro in html
    assert (
        "Deals!" in html and "onesend-subscribe__button--dark" in html and "onesend-subscribe--left" in html
    )
    assert "onesend_plugin/css/subscribe.css" in html
    href = button_href(html)
    assert href.startswith("/onesend/s/")
    assert links.read(token_of(href)) == links.Target(page.pk, "footer", ("vip", "footer"), "cust-42")


def test_block_defaults_and_rendering_without_a_request(page):
    block = SubscribeBlock()
    assert block.child_blocks["label"].get_default() == "Get our deals on Messenger"
    html = render_block(page)
    assert "Get our deals on Messenger" in html
    assert links.read(token_of(button_href(html))).customer_ref == ""


def test_block_reads_no_database_until_its_form_is_shown(django_assert_num_queries, page):
    with django_assert_num_queries(0):
        block = SubscribeBlock()
        choices = block.child_blocks["page"].deconstruct()[2]["choices"]
    assert choices is messenger_page_choices  # migrations reference the callable, not the rows
    assert (str(page.pk), page.name) in messenger_page_choices()


def test_block_for_a_deleted_page_renders_nothing(page):
    pk = page.pk
    page.delete()
    page.pk = pk
    assert render_block(page).strip() == ""


@pytest.mark.parametrize("which", ["username", "page_id"])
def test_template_tags_render_the_same_button(page, rf, register_plugin, which):
    register_plugin(Shop())
    template = Template(
        "{% load onesend_tags %}"
        '{% messenger_subscribe_button page=name label="Join us" ref="footer" tags="vip,footer" %}'
        '|{% messenger_subscribe_url page=name ref="header" %}'
    )
    html = template.render(
        Context({"request": rf.get("/", {"customer": "c-7"}), "name": getattr(page, which)})
    )
    button, url = html.split("|")
    assert "Join us" in button and "onesend-subscribe__button--blue" in button
    assert links.read(token_of(button_href(button))) == links.Target(
        page.pk, "footer", ("vip", "footer"), "c-7"
    )
    assert links.read(token_of(url)) == links.Target(page.pk, "header", (), "c-7")


def test_template_tag_for_an_unknown_page_renders_nothing(page):
    html = Template('{% load onesend_tags %}{% messenger_subscribe_button page="nope" %}').render(Context())
    assert html.strip() == ""


# -- The click-tracking endpoint -------------------------------------------------------------------


def test_click_counts_once_and_redirects_to_mme_with_the_buttons_ref(client, page, rf, register_plugin):
    register_plugin(Shop())
    href = button_href(render_block(page, rf.get("/", {"customer": "cust-42"})))
    location, ref = follow(client, href)
    assert location.startswith(f"{conf.get('MME_BASE_URL').rstrip('/')}/{page.username}?ref=")
    assert (ref.source, ref.tags, ref.customer_ref, ref.verified) == (
        "footer",
        ("vip", "footer"),
        "cust-42",
        True,
    )
    link = SubscriptionLink.objects.get(page=page, ref="footer")
    assert (link.name, link.tags, link.clicks) == ("footer", "vip, footer", 1)
    follow(client, href)
    link.refresh_from_db()
    assert link.clicks == 2


def test_click_on_an_existing_link_keeps_its_settings(client, page):
    link = SubscriptionLinkFactory(page=page, name="Poster, store 1", ref="poster-1", tags="store-1")
    follow(client, links.click_url(page, "poster-1", ("store-1",)))
    link.refresh_from_db()
    assert (link.name, link.tags, link.clicks) == ("Poster, store 1", "store-1", 1)


def test_page_without_username_is_linked_by_id(client):
    page = MessengerPageFactory(username="")
    location, _ = follow(client, links.click_url(page, "footer"))
    assert urlsplit(location).path.endswith(f"/{page.page_id}")


@pytest.mark.parametrize(
    "user_agent",
    [
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Twitterbot/1.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "SomeCrawler/2.0",
        "Link Preview Fetcher",
    ],
)
def test_bots_and_link_previews_are_redirected_but_not_counted(client, page, user_agent):
    response = client.get(links.click_url(page, "footer"), headers={"User-Agent": user_agent})
    assert response.status_code == 302
    assert not SubscriptionLink.objects.exists()


def test_head_requests_are_not_clicks(client, page):
    assert client.head(links.click_url(page, "footer")).status_code == 302
    assert not SubscriptionLink.objects.exists()
    assert client.post(links.click_url(page, "footer")).status_code == 405


def test_tampered_or_foreign_tokens_are_refused_without_redirect(client, page):
    token = token_of(links.click_url(page, "footer"))
    payload, _, signature = token.rpartition(":")
    forged = token_of(links.click_url(page, "admin-list", ("free-money",))).rpartition(":")[0]
    for bad in (
        f"{forged}:{signature}",
        f"{payload}:{signature[:-2]}xx",
        payload,
        signing.dumps({"p": page.pk, "s": "footer"}, salt="something.else", compress=True),
        "https:evil.example",
    ):
        response = client.get(f"/onesend/s/{bad}/?next=https://evil.example/")
        assert response.status_code == 404, bad
        assert "Location" not in response
        assert b"invalid" in response.content
    assert not SubscriptionLink.objects.exists()


def test_redirect_target_is_always_mme_whatever_the_query(client, page):
    location, _ = follow(
        client, links.click_url(page, "footer") + "?next=https://evil.example/&url=//evil.example"
    )
    assert location.startswith(conf.get("MME_BASE_URL"))
    assert "evil" not in location


def test_link_for_a_deleted_page_is_gone(client, page):
    url = links.click_url(page, "footer")
    page.delete()
    response = client.get(url)
    assert response.status_code == 404
    assert "Location" not in response


def test_click_urls_are_stable(page):
    """Printed QR codes and the admin's copyable link must not change between page loads."""
    assert links.click_url(page, "footer", ("vip",)) == links.click_url(page, "footer", ("vip",))


# -- The subscription links admin ------------------------------------------------------------------


def test_links_listing_counts_clicks_and_subscribers(admin_client, page):
    link = SubscriptionLinkFactory(page=page, name="Store poster", ref="poster-1")
    SubscriptionLink.objects.filter(pk=link.pk).update(clicks=17)
    SubscriberFactory.create_batch(3, page=page, source_ref="poster-1")
    SubscriberFactory(page=page, source_ref="footer")
    SubscriberFactory(source_ref="poster-1")  # same ref, another Page
    response = admin_client.get("/admin/messenger/links/")
    assert response.status_code == 200
    row = next(row for row in response.context["table"].rows if row.instance == link)
    assert (row.instance.clicks, row.instance.subscriber_count) == (17, 3)
    assert admin_client.get("/admin/messenger/links/?ordering=-subscriber_count").status_code == 200


def test_links_can_be_created_in_the_admin(admin_client, page):
    response = admin_client.post(
        "/admin/messenger/links/new/",
        {"page": page.pk, "name": "Flyer", "ref": "flyer-2026", "tags": "flyer"},
    )
    assert response.status_code == 302
    assert SubscriptionLink.objects.get(ref="flyer-2026").tag_list == ["flyer"]


def test_link_inspect_shows_the_copyable_link_and_qr_code(admin_client, page):
    link = SubscriptionLinkFactory(page=page, ref="poster-1", tags="store-1")
    response = admin_client.get(f"/admin/messenger/links/inspect/{link.pk}/")
    assert response.status_code == 200
    url = response.context["public_url"]
    assert url.startswith("http://testserver/onesend/s/")
    assert links.read(token_of(url)) == links.Target(page.pk, "poster-1", ("store-1",), "")
    html = response.content.decode()
    assert f'value="{url}"' in html and "data-onesend-copy" in html and "copy-link.js" in html
    assert "<svg" in html
    assert f"/admin/messenger/links/qr/{link.pk}/png/" in html


@pytest.mark.parametrize(
    "kind, content_type, magic", [("png", "image/png", b"\x89PNG"), ("svg", "image/svg+xml", b"<")]
)
def test_qr_code_downloads(admin_client, page, kind, content_type, magic):
    link = SubscriptionLinkFactory(page=page, ref="poster-1")
    response = admin_client.get(f"/admin/messenger/links/qr/{link.pk}/{kind}/")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="poster-1-qr.{kind}"'
    assert response.content.startswith(magic)
    if kind == "svg":
        assert b"<svg" in response.content
    assert admin_client.get(f"/admin/messenger/links/qr/{link.pk}/gif/").status_code == 404


def test_qr_codes_need_admin_access(client, page):
    link = SubscriptionLinkFactory(page=page)
    assert client.get(f"/admin/messenger/links/qr/{link.pk}/png/").status_code == 302  # to the login
