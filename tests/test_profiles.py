"""People's names and pictures from Meta's User Profile API: asked once after they opt in,
shown instead of their PSID, and erased with them."""

import pytest
from onesend_simulator.remote import wait_for

from onesend_plugin.models import Subscriber
from onesend_plugin.subscribe import erasure, profiles, refs

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_subscriber_gets_the_name_and_picture_meta_gives_once(simulator, connected_page, admin_client):
    psid = simulator.create_person(connected_page.page_id, "Grace Hopper")["psid"]
    simulator.open_link(psid, ref=refs.encode("footer", ()))
    wait_for(
        lambda: any(item["type"] == "optin" for item in simulator.person(psid)["thread"]), what="the opt-in"
    )
    simulator.accept_optin(psid)
    person = wait_for(
        lambda: Subscriber.objects.filter(psid=psid, first_name__gt="").first(), what="the profile"
    )
    assert (person.first_name, person.last_name, person.label) == ("Grace", "Hopper", "Grace Hopper")
    assert person.profile_pic.endswith(f"/_sim/people/{psid}/picture") and person.profile_asked_at
    assert profiles.ask_profile(person.pk) is False, "asked once"
    html = admin_client.get("/admin/messenger/subscribers/").content.decode()
    assert "Grace Hopper" in html and person.profile_pic in html

    erasure.erase(person, by="test")
    assert not Subscriber.objects.filter(first_name="Grace").exists()
    simulator.wait_webhooks_drained()


def test_a_person_meta_gives_no_profile_of_keeps_a_readable_label(simulator, connected_page):
    person = Subscriber.objects.create(page=connected_page, psid="9999999999999999", source_ref="poster")
    assert profiles.ask_profile(person.pk) is False  # Meta: no such person
    person.refresh_from_db()
    assert person.profile_asked_at and not person.first_name
    assert person.label.startswith("Subscriber via poster, ")
