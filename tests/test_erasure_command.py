"""``onesend_erase <page_id> <psid>``: the admin's erasure, from the command line."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from onesend_plugin.models import ConsentRecord, Subscriber

from .factories import SubscriberFactory

pytestmark = pytest.mark.django_db


def test_the_command_erases_the_person_and_says_so():
    person = SubscriberFactory(psid="5550001")
    other = SubscriberFactory(page=person.page, psid="5550002")
    out = StringIO()
    call_command("onesend_erase", person.page.page_id, "5550001", stdout=out)
    assert list(Subscriber.objects.all()) == [other]
    record = ConsentRecord.objects.get(action=ConsentRecord.Action.ERASED)
    assert (record.page, record.detail) == (person.page, "erased by command onesend_erase")
    assert f"Erased subscriber {person.pk} of Page {person.page.page_id}" in out.getvalue()


def test_an_unknown_page_or_psid_is_an_error_that_erases_nothing():
    person = SubscriberFactory(psid="5550001")
    with pytest.raises(CommandError, match="No Messenger Page has the Facebook Page id '404'"):
        call_command("onesend_erase", "404", "5550001")
    with pytest.raises(CommandError, match="has no subscriber with PSID '5550009'"):
        call_command("onesend_erase", person.page.page_id, "5550009")
    assert Subscriber.objects.get() == person
    assert not ConsentRecord.objects.exists()
