"""factory-boy factories for onesend's models."""

import factory
from django.utils import timezone

from onesend_plugin import models


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Account
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Client {n}")
    slug = factory.Sequence(lambda n: f"client-{n}")


class MetaAppFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.MetaApp

    name = "Test app"
    app_id = factory.Sequence(lambda n: f"{900000000000 + n}")
    app_secret = factory.Sequence(lambda n: f"secret-{n}")
    verify_token = "verify-me"


class MessengerPageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.MessengerPage

    account = factory.SubFactory(AccountFactory)
    app = factory.SubFactory(MetaAppFactory)
    page_id = factory.Sequence(lambda n: f"{1000000000000100 + n}")
    name = factory.Sequence(lambda n: f"Page {n}")
    username = factory.Sequence(lambda n: f"page{n}")
    access_token = factory.Sequence(lambda n: f"page-token-{n}")


def page_form_data(**fields) -> dict:
    """The admin's Page form ("Add" or "Edit"), filled in with ``fields`` over plain defaults."""
    return {
        "status": "active",
        "status_reason": "",
        "channel": "token",
        "ad_account_id": "",
        "frequency_cap_hours": "48",
        "optin_title": "Deals",
        "optin_cta": "GET_UPDATES",
        "optin_image_url": "",
        "welcome_message": "Welcome!",
        "unsubscribe_keywords": "STOP",
        **fields,
    }


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Subscriber

    page = factory.SubFactory(MessengerPageFactory)
    psid = factory.Sequence(lambda n: f"{2000000000000000 + n}")
    status = models.Subscriber.Status.SUBSCRIBED
    opted_in_at = factory.LazyFunction(timezone.now)


class MarketingTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.MarketingToken

    subscriber = factory.SubFactory(SubscriberFactory)
    token = factory.Sequence(lambda n: f"{900000000000000000 + n}")
    topic = factory.SelfAttribute("subscriber.page.optin_title")


class SubscriptionLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.SubscriptionLink

    page = factory.SubFactory(MessengerPageFactory)
    name = factory.Sequence(lambda n: f"Link {n}")
    ref = factory.Sequence(lambda n: f"link-{n}")


class ConsentRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ConsentRecord

    subscriber = factory.SubFactory(SubscriberFactory)
    page = factory.SelfAttribute("subscriber.page")
    action = models.ConsentRecord.Action.OPTED_IN
    entry_point = "footer"
    ref = "footer"
    shown = factory.LazyAttribute(lambda record: {"title": record.page.optin_title})


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    page = factory.SubFactory(MessengerPageFactory)
    text = "Summer sale: 30% off today only"
    live = True


def default_site_root():
    """The root page of Wagtail's default Site, made if missing: transactional tests flush what
    Wagtail's migrations created (the locale, the root page, the default Site). Wagtail's cache
    of the Sites' root paths is emptied first: it may still name a Site of an earlier test that
    was rolled back or flushed, and page URLs would be looked up on it."""
    from django.conf import settings
    from django.utils.translation import get_supported_language_variant
    from wagtail.models import Locale, Page, Site

    Site.clear_site_root_paths_cache()
    if (site := Site.objects.filter(is_default_site=True).first()) is not None:
        return site.root_page
    locale, _ = Locale.objects.get_or_create(
        language_code=get_supported_language_variant(settings.LANGUAGE_CODE)
    )
    root = Page.get_first_root_node() or Page.add_root(
        instance=Page(title="Root", slug="root", locale=locale)
    )
    home = root.add_child(instance=Page(title="Home", slug="home"))
    Site.objects.create(hostname="localhost", root_page=home, is_default_site=True, site_name="Home")
    return home
