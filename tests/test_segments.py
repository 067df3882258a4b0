"""Segments plugins offer (``audience_segments``): a campaign that picks one is sent to exactly its
members among the Page's own subscribers; a segment that fails, has gone or is offered twice never
starts a campaign, and the editor is told why."""

from collections import Counter
from html import unescape

import pytest

from onesend_plugin import analytics, broadcast, checks
from onesend_plugin.broadcast import segments
from onesend_plugin.hooks import Segment, hookimpl
from onesend_plugin.models import Campaign, Subscriber

from .campaign_admin_helpers import form_data
from .factories import CampaignFactory, MessengerPageFactory, SubscriberFactory
from .test_plugins_entrypoints import load_example

URL = "/admin/messenger/campaigns/"

pytestmark = pytest.mark.django_db(transaction=True)


def sends_per_person(simulator, page):
    return Counter(m["psid"] for m in simulator.messages(page.page_id) if m.get("type") != "optin")


class VipPlugin:
    """Offers "vip": subscribers whose shop customer reference starts with ``vip``."""

    def __init__(self, name="vip", label="VIP customers"):
        self.segment = Segment(name, label, self.select)
        self.seen = []

    def select(self, queryset):
        self.seen.append(queryset)
        return queryset.filter(customer_ref__startswith="vip")

    @hookimpl
    def audience_segments(self):
        return [self.segment]


@pytest.fixture
def vips(sim_page, make_subscribers):
    """Two VIPs subscribed to the simulator's Page."""
    return make_subscribers(sim_page, 1, customer_ref="vip-1") + make_subscribers(
        sim_page, 1, customer_ref="vip-2"
    )


# -- The engine ---------------------------------------------------------------------------------


def test_a_campaign_with_a_segment_is_sent_to_exactly_its_members(
    simulator, sim_page, make_subscribers, vips, register_plugin
):
    others = make_subscribers(sim_page, 2)
    register_plugin(VipPlugin(), name="shop")
    campaign = CampaignFactory(page=sim_page, segment="vip")
    assert broadcast.count(campaign) == (2, "")
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED
    assert campaign.audience_size == 2
    assert sends_per_person(simulator, sim_page) == {person.psid: 1 for person in vips}
    assert not {person.psid for person in others} & set(sends_per_person(simulator, sim_page))


def test_the_segment_narrows_after_tags_and_before_audience_filter(sim_page, vips, register_plugin):
    plugin = register_plugin(VipPlugin(), name="shop")
    seen_by_filter = []

    class Filter:
        @hookimpl
        def audience_filter(self, queryset):
            seen_by_filter.append(set(queryset.values_list("customer_ref", flat=True)))

    register_plugin(Filter(), name="filter")
    campaign = CampaignFactory(page=sim_page, segment="vip", exclude_refs="footer")
    Subscriber.objects.filter(customer_ref="vip-2").update(source_ref="footer")
    assert broadcast.count(campaign) == (1, "")
    [given] = plugin.seen
    assert set(given.values_list("customer_ref", flat=True)) == {"vip-1"}  # already narrowed
    assert seen_by_filter == [{"vip-1"}]


def test_a_segment_only_ever_narrows_the_pages_own_subscribers(sim_page, vips, register_plugin):
    SubscriberFactory(page=MessengerPageFactory(), customer_ref="vip-elsewhere")
    plugin = register_plugin(VipPlugin(), name="shop")
    campaign = CampaignFactory(page=sim_page, segment="vip")
    assert set(broadcast.audience(campaign)) == set(vips)
    assert set(plugin.seen[0].values_list("page", flat=True)) == {sim_page.pk}  # given the Page's own
    plugin.segment = Segment("vip", "VIP", lambda queryset: Subscriber.objects.all())  # ignores it
    assert set(broadcast.audience(campaign)) == set(vips)  # the other Page's VIP is never added


def test_a_segment_whose_select_raises_refuses_to_start(simulator, sim_page, vips, register_plugin):
    def broken(queryset):
        raise LookupError("orders table missing")

    plugin = register_plugin(VipPlugin(), name="shop")
    plugin.segment = Segment("vip", "VIP customers", broken)
    campaign = CampaignFactory(page=sim_page, segment="vip")
    count, error = broadcast.count(campaign)
    assert count is None and "'shop'" in error and "orders table missing" in error
    with pytest.raises(broadcast.CampaignError, match="'shop'.*orders table missing.*not started"):
        broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not campaign.deliveries.exists()
    assert sends_per_person(simulator, sim_page) == {}


def test_a_segment_failing_once_started_puts_the_campaign_back_to_draft(
    simulator, sim_page, vips, register_plugin
):
    plugin = register_plugin(VipPlugin(), name="shop")
    campaign = CampaignFactory(page=sim_page, segment="vip")
    calls = []

    def fails_second_time(queryset):
        calls.append(1)
        if len(calls) > 1:
            raise LookupError("orders table missing")
        return queryset

    plugin.segment = Segment("vip", "VIP customers", fails_second_time)
    broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert "'shop'" in campaign.last_error and "not started" in campaign.last_error
    assert sends_per_person(simulator, sim_page) == {}


def test_a_campaign_whose_segment_is_gone_does_not_start(simulator, sim_page, vips, register_plugin):
    campaign = CampaignFactory(page=sim_page, segment="vip")  # its plugin uninstalled since
    count, error = broadcast.count(campaign)
    assert count is None and "'vip'" in error and "no longer offered" in error
    with pytest.raises(broadcast.CampaignError, match="'vip' is no longer offered.*not started"):
        broadcast.start(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert sends_per_person(simulator, sim_page) == {}


def test_a_plugin_raising_in_audience_segments_leaves_the_others_offered(register_plugin):
    class Broken:
        @hookimpl
        def audience_segments(self):
            raise RuntimeError("CRM is down")

    class NotSegments:
        @hookimpl
        def audience_segments(self):
            return [("vip", "VIP")]

    register_plugin(VipPlugin(), name="shop")
    register_plugin(Broken(), name="crm")
    register_plugin(NotSegments(), name="tuples")
    offered = segments.offered()
    assert offered.choices() == [("vip", "VIP customers")]
    crm, tuples = sorted(offered.errors)
    assert "'crm'" in crm and "CRM is down" in crm
    assert "'tuples'" in tuples and "not a list of Segment" in tuples


def test_a_name_offered_twice_is_offered_by_neither_and_refuses_to_start(
    simulator, sim_page, vips, register_plugin
):
    register_plugin(VipPlugin(label="VIP (shop)"), name="shop")
    register_plugin(VipPlugin(label="VIP (crm)"), name="crm")
    register_plugin(VipPlugin(name="regulars", label="Regulars"), name="loyalty")
    offered = segments.offered()
    assert offered.choices() == [("regulars", "Regulars")]
    [error] = offered.errors
    assert "'vip'" in error and "'crm'" in error and "'shop'" in error
    [warning] = checks.check_segments()
    assert warning.id == "onesend.W002" and error in warning.msg
    campaign = CampaignFactory(page=sim_page, segment="vip")
    with pytest.raises(broadcast.CampaignError, match="'vip' is offered by more than one plugin"):
        broadcast.start(campaign)
    assert sends_per_person(simulator, sim_page) == {}


# -- The campaign editor ------------------------------------------------------------------------


def html_of(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return unescape(response.content.decode())


def publish(client, campaign, **fields):
    data = {**form_data(campaign, **fields), "action-publish": "action-publish"}
    return client.post(f"{URL}edit/{campaign.pk}/", data)


def test_a_segment_chosen_in_the_editor_is_sent_to_exactly_its_members(
    admin_client, simulator, sim_page, make_subscribers, vips, register_plugin
):
    others = make_subscribers(sim_page, 2)
    register_plugin(VipPlugin(), name="shop")
    campaign = CampaignFactory(page=sim_page)
    form = html_of(admin_client, f"{URL}edit/{campaign.pk}/")
    assert '<option value="" selected>Everyone</option>' in form
    assert '<option value="vip">VIP customers</option>' in form
    assert "<strong data-onesend-audience-count>4</strong>" in form

    assert publish(admin_client, campaign, segment="vip").status_code == 302
    campaign.refresh_from_db()
    assert campaign.segment == "vip"
    assert '<option value="vip" selected>VIP customers</option>' in html_of(
        admin_client, f"{URL}edit/{campaign.pk}/"
    )
    live_count = admin_client.get(f"{URL}audience/{campaign.pk}/", {"page": sim_page.pk, "segment": "vip"})
    assert live_count.json() == {"count": 2, "error": ""}
    confirm = html_of(admin_client, f"{URL}send/{campaign.pk}/")
    assert "2 subscribers of" in confirm and "VIP customers" in confirm

    admin_client.post(f"{URL}send/{campaign.pk}/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED
    assert sends_per_person(simulator, sim_page) == {person.psid: 1 for person in vips}
    assert not {person.psid for person in others} & set(sends_per_person(simulator, sim_page))


def test_without_segments_the_editor_offers_none(admin_client, sim_page):
    campaign = CampaignFactory(page=sim_page)
    assert 'name="segment"' not in html_of(admin_client, f"{URL}edit/{campaign.pk}/")
    assert publish(admin_client, campaign, text="Still sent to everyone").status_code == 302
    campaign.refresh_from_db()
    assert campaign.segment == ""


def test_a_flow_cannot_pick_a_segment(admin_client, sim_page, register_plugin):
    register_plugin(VipPlugin(), name="shop")
    campaign = CampaignFactory(page=sim_page)
    response = publish(admin_client, campaign, segment="vip", trigger_event="order_placed")
    assert response.status_code == 200
    assert "A flow sends to the person its event is about" in str(response.context["form"].errors["segment"])


def test_the_editor_and_the_send_step_show_a_failing_segment(
    admin_client, simulator, sim_page, vips, register_plugin
):
    def broken(queryset):
        raise LookupError("orders table missing")

    plugin = register_plugin(VipPlugin(), name="shop")
    plugin.segment = Segment("vip", "VIP customers", broken)
    campaign = CampaignFactory(page=sim_page, segment="vip")
    for url in (f"{URL}edit/{campaign.pk}/", f"{URL}send/{campaign.pk}/"):
        html = html_of(admin_client, url)
        assert "The plugin 'shop' failed in the segment 'vip': LookupError('orders table missing')" in html
    response = admin_client.post(f"{URL}send/{campaign.pk}/", follow=True)
    [message] = [str(m) for m in response.context["messages"]]
    assert "orders table missing" in message and "not started" in message
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert sends_per_person(simulator, sim_page) == {}


def test_a_segment_no_longer_offered_stays_chosen_and_is_named(admin_client, sim_page, vips, register_plugin):
    register_plugin(VipPlugin(name="regulars", label="Regulars"), name="shop")
    campaign = CampaignFactory(page=sim_page, segment="vip")
    form = html_of(admin_client, f"{URL}edit/{campaign.pk}/")
    assert '<option value="vip" selected>vip (not offered now)</option>' in form
    assert "The segment 'vip' is no longer offered" in form
    assert publish(admin_client, campaign, segment="vip").status_code == 302  # saving never widens it
    campaign.refresh_from_db()
    assert campaign.segment == "vip"
    assert "The segment 'vip' is no longer offered" in html_of(admin_client, f"{URL}send/{campaign.pk}/")
    assert publish(admin_client, campaign, segment="gold").status_code == 200  # a name nobody offers


def test_the_editor_names_a_plugin_failing_to_list_its_segments(admin_client, sim_page, register_plugin):
    class Broken:
        @hookimpl
        def audience_segments(self):
            raise RuntimeError("CRM is down")

    register_plugin(VipPlugin(), name="shop")
    register_plugin(Broken(), name="crm")
    form = html_of(admin_client, f"{URL}edit/{CampaignFactory(page=sim_page).pk}/")
    assert '<option value="vip">VIP customers</option>' in form
    assert "The plugin 'crm' failed in audience_segments: RuntimeError('CRM is down')" in form


# -- The report ---------------------------------------------------------------------------------


def test_the_report_names_the_segment_the_campaign_was_sent_to(
    admin_client, simulator, sim_page, vips, register_plugin
):
    register_plugin(VipPlugin(), name="shop")
    campaign = CampaignFactory(page=sim_page, segment="vip")
    broadcast.start(campaign)
    report = f"/admin/messenger/reports/campaign/{campaign.pk}/"
    assert '<dd data-testid="segment">VIP customers</dd>' in html_of(admin_client, report)
    everyone = CampaignFactory(page=sim_page)
    assert 'data-testid="segment"' not in html_of(
        admin_client, f"/admin/messenger/reports/campaign/{everyone.pk}/"
    )


def test_the_report_falls_back_to_the_segments_name_once_its_plugin_is_gone(admin_client, sim_page):
    campaign = CampaignFactory(page=sim_page, segment="vip", status=Campaign.Status.FINISHED)
    report = html_of(admin_client, f"/admin/messenger/reports/campaign/{campaign.pk}/")
    assert '<dd data-testid="segment">vip</dd>' in report


# -- The example of docs/plugins.md -------------------------------------------------------------


def test_the_docs_big_spenders_segment_picked_in_the_editor_reaches_big_spenders_only(
    admin_client, simulator, sim_page, make_subscribers, register_plugin
):
    register_plugin(load_example("segment_plugin"), name="big_spenders")
    [ann], [ben], [chloe] = (
        make_subscribers(sim_page, 1, customer_ref=ref) for ref in ("ann", "ben", "chloe")
    )
    orders = [("ann", "300", "EUR"), ("ann", "250", "EUR"), ("ben", "450", "EUR"), ("ben", "900", "USD")]
    for number, (customer, value, currency) in enumerate(orders):
        analytics.record_conversion(
            account=sim_page.account,
            order_id=str(number),
            value=value,
            currency=currency,
            customer_ref=customer,
        )
    campaign = CampaignFactory(page=sim_page)
    assert '<option value="big_spenders">Big spenders (€500+)</option>' in html_of(
        admin_client, f"{URL}edit/{campaign.pk}/"
    )
    assert publish(admin_client, campaign, segment="big_spenders").status_code == 302
    assert "1 subscriber of" in html_of(admin_client, f"{URL}send/{campaign.pk}/")
    admin_client.post(f"{URL}send/{campaign.pk}/")
    assert sends_per_person(simulator, sim_page) == {ann.psid: 1}
