"""What the campaign admin's tests share: its URL, the edit form's POST data, users with chosen
permissions and subscribers a campaign can reach. The fixtures built on them are in
``tests/fixtures/campaign_admin.py``."""

from django.contrib.auth.models import Permission
from wagtail.test.utils.form_data import inline_formset, nested_form_data

from onesend_plugin.models import Membership

from .factories import MarketingTokenFactory, SubscriberFactory

URL = "/admin/messenger/campaigns/"


def subscribed(page, n=1, **fields):
    """Subscribers the Page's marketing-token channel can reach (each holds an active token)."""
    people = SubscriberFactory.create_batch(n, page=page, **fields)
    for person in people:
        MarketingTokenFactory(subscriber=person)
    return people


def editor_with(django_user_model, client, page, *codenames):
    user = django_user_model.objects.create_user("editor", password="pw")
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["access_admin", "add_campaign", "change_campaign", "publish_campaign", *codenames]
        )
    )
    # A client admin of the Page's account: what they may do there is up to their permissions.
    Membership.objects.create(user=user, account=page.account, role=Membership.Role.ADMIN)
    client.force_login(user)
    return user


def form_data(campaign=None, buttons=(), b_buttons=(), **fields):
    """The edit form's POST data; ``fields`` override the content (``b_buttons``: an A/B test's
    variant B's)."""
    data = {
        "name": "Summer sale",
        "page": campaign.page_id if campaign else "",
        "text": "Summer sale: 30% off today only",
        "media": "",
        "image": "",
        "subtitle": "",
        "document": "",
        "video_url": "",
        "unsubscribe_quick_reply": "on",
        "include_tags": "",
        "exclude_tags": "",
        "include_refs": "",
        "exclude_refs": "",
        "opted_in_after": "",
        "opted_in_before": "",
        "schedule": "now",
        "send_at": "",
        "quiet_hours_start": "",
        "quiet_hours_end": "",
        "expires_at": "",
        "ab_test_share": 20,
        "ab_metric": "clicks",
        "ab_hours": 4,
        **fields,
    }
    data["buttons"] = inline_formset([{"title": title, "url": url} for title, url in buttons])
    data["variant_b_buttons"] = inline_formset([{"title": title, "url": url} for title, url in b_buttons])
    return nested_form_data(data)


def messages_of(response):
    return [str(message) for message in response.context["messages"]]
